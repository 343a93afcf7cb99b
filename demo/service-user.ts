/**
 * `npm run demo:service-user`: a service user calls the demo API.
 *
 * It signs a JWT-profile assertion with the service user's key file
 * (Zitadel's format), exchanges it at the token endpoint
 * (grant_type urn:ietf:params:oauth:grant-type:jwt-bearer), and calls
 * GET /api/protected with the access token. Works against the local emulator
 * out of the box and against your Zitadel with demo/.env and a downloaded key.
 */
import { createPrivateKey, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SignJWT } from 'jose'
import { DEMO } from './dev-idp.js'

export interface ServiceUserKey {
  type: 'serviceaccount'
  keyId: string
  key: string
  userId: string
}

/**
 * The JWT-profile grant as Zitadel documents it: header kid = keyId;
 * iss = sub = userId; aud = the issuer; lifetime at most one hour. The key is
 * PKCS#1, which jose's importPKCS8 refuses, so node:crypto imports it.
 * The audience scope puts the project in the token's `aud`; the roles scope
 * asks for the role claims.
 */
export async function serviceUserToken (key: ServiceUserKey, issuer: string, projectId: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'RS256', kid: key.keyId })
    .setIssuer(key.userId)
    .setSubject(key.userId)
    .setAudience(issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .setJti(randomUUID())
    .sign(createPrivateKey(key.key))
  const res = await fetch(`${issuer}/oauth/v2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion,
      scope: `openid urn:zitadel:iam:org:project:id:${projectId}:aud urn:zitadel:iam:org:projects:roles`
    })
  })
  const body = await res.json() as { access_token?: string, error?: string, error_description?: string }
  if (!res.ok || typeof body.access_token !== 'string') {
    throw new Error(`token endpoint answered ${res.status}: ${body.error ?? 'no access_token'} ${body.error_description ?? ''}`.trim())
  }
  return body.access_token
}

export async function callProtected (api: string, token: string): Promise<{ status: number, body: unknown }> {
  const res = await fetch(`${api}/api/protected`, { headers: { authorization: `Bearer ${token}` } })
  return { status: res.status, body: await res.json() }
}

async function main (): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url))
  const envFile = join(here, '.env')
  if (existsSync(envFile)) process.loadEnvFile(envFile)
  const issuer = process.env.ZITADEL_ISSUER || `http://localhost:${process.env.IDP_PORT ?? 8002}`
  const projectId = process.env.ZITADEL_PROJECT_ID || DEMO.projectId
  const api = process.env.API_URL || `http://localhost:${process.env.API_PORT ?? 8001}`
  const keyPath = process.env.SERVICE_USER_KEY_FILE || join(here, '.dev-idp', 'service-user.json')
  if (!existsSync(keyPath)) throw new Error(`no key file at ${keyPath}: start \`npm run demo\` first, or set SERVICE_USER_KEY_FILE`)

  const key = JSON.parse(await readFile(keyPath, 'utf8')) as ServiceUserKey
  console.log(`Service user ${key.userId}: exchanging a signed assertion at ${issuer}/oauth/v2/token`)
  const token = await serviceUserToken(key, issuer, projectId)
  const { status, body } = await callProtected(api, token)
  console.log(`GET ${api}/api/protected -> ${status}`)
  console.log(JSON.stringify(body, null, 2))
  if (status !== 200) process.exitCode = 1
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: Error) => {
    console.error(`demo:service-user: ${err.message}`)
    process.exit(1)
  })
}
