/**
 * `npm run demo`: the demo API on http://localhost:8001 with Swagger UI at /docs.
 *
 * With nothing configured it also starts the local Zitadel emulator on
 * http://localhost:8002 (users alice/alice and bob/bob, a service user whose
 * key file lands in demo/.dev-idp/service-user.json). DEMO_TOKENS=opaque
 * makes the emulator issue opaque tokens, which the API introspects. With
 * demo/.env (see .env.example) it talks to your Zitadel instead and starts
 * no emulator; INTROSPECTION_KEY_FILE there switches on introspection.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { IntrospectionOptions } from '../lib/index.js'
import { startZitadelEmulator } from '../lib/testing/index.js'
import { buildDemoApp } from './app.js'
import { DEMO, seedDemo, writeKeyFile } from './dev-idp.js'

const here = dirname(fileURLToPath(import.meta.url))
const envFile = join(here, '.env')
if (existsSync(envFile)) process.loadEnvFile(envFile)

const apiPort = Number(process.env.API_PORT ?? 8001)
const idpPort = Number(process.env.IDP_PORT ?? 8002)
const api = `http://localhost:${apiPort}`

async function main (): Promise<void> {
  const { ZITADEL_ISSUER, ZITADEL_PROJECT_ID, OAUTH_CLIENT_ID, INTROSPECTION_KEY_FILE, DEMO_TOKENS = 'jwt' } = process.env
  if (DEMO_TOKENS !== 'jwt' && DEMO_TOKENS !== 'opaque') throw new Error('DEMO_TOKENS must be "jwt" or "opaque"')
  let config: { issuer: string, projectId: string, clientId: string, introspection?: IntrospectionOptions }
  let closeIdp = async (): Promise<void> => {}
  let afterListen = async (): Promise<void> => {}
  const lines: string[] = []

  if (ZITADEL_ISSUER !== undefined && ZITADEL_ISSUER !== '') {
    if (ZITADEL_PROJECT_ID === undefined || OAUTH_CLIENT_ID === undefined) {
      throw new Error('demo/.env sets ZITADEL_ISSUER but not ZITADEL_PROJECT_ID and OAUTH_CLIENT_ID (see demo/.env.example)')
    }
    config = { issuer: ZITADEL_ISSUER, projectId: ZITADEL_PROJECT_ID, clientId: OAUTH_CLIENT_ID }
    lines.push(`Zitadel:     ${ZITADEL_ISSUER} (from demo/.env)`)
    if (INTROSPECTION_KEY_FILE !== undefined && INTROSPECTION_KEY_FILE !== '') {
      config.introspection = { keyFile: readFileSync(INTROSPECTION_KEY_FILE, 'utf8') }
      lines.push(`             opaque tokens: introspected with ${INTROSPECTION_KEY_FILE}`)
    }
  } else {
    const idp = await listening('the Zitadel emulator', 'IDP_PORT', idpPort,
      () => startZitadelEmulator({ host: 'localhost', port: idpPort, issuer: `http://localhost:${idpPort}` }))
    const keyFile = join(here, '.dev-idp', 'service-user.json')
    const seed = await seedDemo(idp, { apiOrigins: [api, `http://127.0.0.1:${apiPort}`], tokens: DEMO_TOKENS })
    config = { issuer: idp.issuer, projectId: DEMO.projectId, clientId: DEMO.clientId }
    if (seed.apiKeyFile !== undefined) config.introspection = { keyFile: seed.apiKeyFile }
    closeIdp = () => idp.close()
    // Written once the API listens: a start that fails must not replace the key of a demo already running.
    afterListen = () => writeKeyFile(keyFile, seed.serviceUser.keyFile)
    // demo:token must be told the ports the demo runs on.
    const ports = `${process.env.IDP_PORT === undefined ? '' : `IDP_PORT=${idpPort} `}${process.env.API_PORT === undefined ? '' : `API_PORT=${apiPort} `}`
    lines.push(
      `Zitadel:     ${idp.issuer} (local emulator, for development only)`,
      '             logins: alice / alice (roles user, admin), bob / bob (role user)',
      `             service user key: ${keyFile}`,
      `             access tokens: ${DEMO_TOKENS}${DEMO_TOKENS === 'opaque' ? ' (checked by introspection)' : ' (DEMO_TOKENS=opaque for opaque ones)'}`,
      `             a token for curl: ${ports}npm run -s demo:token -- alice   (or bob, service)`
    )
  }

  const app = await buildDemoApp({ ...config, logger: process.env.LOG === '1' })
  await listening('the demo API', 'API_PORT', apiPort, () => app.listen({ port: apiPort, host: 'localhost' }))
  await afterListen()
  console.log([
    '',
    `Demo API:    ${api}`,
    `Swagger UI:  ${api}/docs   (click Authorize, log in, then "Try it out")`,
    ...lines,
    'Service user: npm run demo:service-user   (in another terminal)',
    'Stop with Ctrl+C.',
    ''
  ].join('\n'))

  const stop = async () => {
    await app.close()
    await closeIdp()
    process.exit(0)
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

/**
 * Runs `listen`; a port already taken (often by another `npm run demo`)
 * becomes one line naming the port and the variable that moves it.
 */
async function listening<T> (what: string, variable: string, port: number, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
    throw new Error(`port ${port} (${what}) is already in use: stop what uses it, or choose another port with ${variable}, e.g. ${variable}=${port + 10} npm run demo`)
  }
}

main().catch((err: Error) => {
  console.error(`demo: ${err.message}`)
  process.exit(1)
})
