/**
 * `npm run -s demo:token -- alice`: prints an access token from the running
 * demo's emulator and nothing else, for curl:
 *
 *   curl -H "Authorization: Bearer $(npm run -s demo:token -- alice)" http://localhost:8001/api/protected
 *
 * alice and bob log in as Swagger UI does (code flow with PKCE); `service` is
 * the service user with its key file (JWT-profile grant). IDP_PORT and
 * API_PORT must match the demo's.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEMO } from './dev-idp.js'
import { loginWithPkce } from './login.js'
import { serviceUserToken, type ServiceUserKey } from './service-user.js'

/** Who can get a token: the demo's two logins (password = username) and its service user. */
export const DEMO_CALLERS = ['alice', 'bob', 'service'] as const

export interface DemoTarget {
  /** The demo's emulator, e.g. http://localhost:8002 */
  issuer: string
  /** The demo API's origin: Swagger UI's redirect page under it is the registered redirect URI. */
  api: string
  /** The service user's key file, as the demo writes it. */
  keyFile: string
}

/**
 * An access token for `caller` (one of {@link DEMO_CALLERS}) from the demo's
 * emulator, with the scopes the demo's Swagger UI asks for. Rejects with a
 * message meant for a person: an unknown caller lists the choices, an
 * emulator that does not answer says to start the demo.
 */
export async function demoToken (caller: string, { issuer, api, keyFile }: DemoTarget): Promise<string> {
  if (!(DEMO_CALLERS as readonly string[]).includes(caller)) {
    throw new Error(`unknown user "${caller}": choose one of ${DEMO_CALLERS.join(', ')}`)
  }
  try {
    if (caller === 'service') return await serviceUserToken(await readKey(keyFile), issuer, DEMO.projectId)
    return await loginWithPkce({
      issuer,
      clientId: DEMO.clientId,
      redirectUri: `${api}/docs/static/oauth2-redirect.html`,
      // The plugin's default openapi.scopes, which Swagger UI's initOAuth selects.
      scope: `openid profile email urn:zitadel:iam:org:project:id:${DEMO.projectId}:aud urn:zitadel:iam:org:projects:roles`,
      username: caller,
      password: caller
    })
  } catch (err) {
    // fetch rejects with a TypeError whose cause is the socket error (ECONNREFUSED…).
    const cause = (err as { cause?: { code?: string } }).cause
    if (err instanceof TypeError && cause !== undefined) {
      throw new Error(`the demo is not running: nothing answers at ${issuer} (${cause.code ?? 'no connection'}); start it with npm run demo`)
    }
    throw err
  }
}

async function readKey (path: string): Promise<ServiceUserKey> {
  if (!existsSync(path)) throw new Error(`no service user key file at ${path}: start the demo with npm run demo, which writes it`)
  return JSON.parse(await readFile(path, 'utf8')) as ServiceUserKey
}

async function main (caller: string | undefined): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url))
  const envFile = join(here, '.env')
  if (existsSync(envFile)) process.loadEnvFile(envFile)
  if (process.env.ZITADEL_ISSUER !== undefined && process.env.ZITADEL_ISSUER !== '') {
    throw new Error(`demo/.env points the demo at ${process.env.ZITADEL_ISSUER}; demo:token only talks to the local emulator (log in through Swagger UI, or use npm run demo:service-user)`)
  }
  if (caller === undefined) throw new Error(`name a user: npm run -s demo:token -- ${DEMO_CALLERS.join('|')}`)
  const token = await demoToken(caller, {
    issuer: `http://localhost:${process.env.IDP_PORT ?? 8002}`,
    api: `http://localhost:${process.env.API_PORT ?? 8001}`,
    keyFile: join(here, '.dev-idp', 'service-user.json')
  })
  process.stdout.write(token + '\n')
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv[2]).catch((err: Error) => {
    console.error(`demo:token: ${err.message}`)
    process.exit(1)
  })
}
