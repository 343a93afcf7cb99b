import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import zitadelAuth, { type ZitadelAuthOptions } from '../../lib/index.js'
import type { ZitadelEmulator } from '../../lib/testing/index.js'
import { addTenant } from '../emulator/helpers.js'
import { FAST, bearer, type LogLine, type Teardown, type TestOptions } from './app.js'

/** The plugin with `introspection`, as the introspection tests drive it. */
export interface IntrospectedApi {
  app: FastifyInstance
  /** GET `url` with the token as Bearer. */
  get: (url: string, token: string) => Promise<LightMyRequestResponse>
  /** GET /me with the token as Bearer. */
  me: (token: string) => Promise<LightMyRequestResponse>
  /** Every log line as written (debug level and up). */
  lines: string[]
  logs: () => LogLine[]
  /** The plugin's own log lines (Fastify's error handler logs each 5xx too). */
  pluginLogs: () => LogLine[]
}

/**
 * An app with the plugin and `introspection`, logging at debug into `lines`,
 * closed when the test ends. Routes: /public, /me (requireAuth, answers
 * request.user), /admin (requireRoles admin), /email and /roles-scope
 * (requireScopes `email` and `rolesScope`).
 */
export async function introspectedApi (
  t: Teardown,
  target: { issuer: string, projectId: string, rolesScope: string },
  introspection: ZitadelAuthOptions['introspection'],
  options: TestOptions = {}
): Promise<IntrospectedApi> {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'debug', stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: target.issuer, projectId: target.projectId, ...FAST, introspection, ...options })
  app.get('/public', async (req) => ({ user: req.user?.sub ?? null }))
  app.get('/me', { preHandler: app.zitadel.requireAuth() }, async (req) => req.user)
  app.get('/admin', { preHandler: app.zitadel.requireRoles(['admin']) }, async () => ({ admin: true }))
  app.get('/email', { preHandler: app.zitadel.requireScopes(['email']) }, async () => ({ email: true }))
  app.get('/roles-scope', { preHandler: app.zitadel.requireScopes([target.rolesScope]) }, async () => ({ roles: true }))
  await app.ready()
  const logs = () => lines.map((line) => JSON.parse(line) as LogLine)
  return {
    app,
    lines,
    logs,
    pluginLogs: () => logs().filter((l) => l.plugin === 'fastify-zitadel-auth'),
    get: (url, token) => app.inject({ method: 'GET', url, headers: bearer(token) }),
    me: (token) => app.inject({ method: 'GET', url: '/me', headers: bearer(token) })
  }
}

/** Characters that Basic must form-encode (RFC 6749 §2.3.1). */
export const SECRET = 'a secret: with+&%/=é chars'

/**
 * One tenant with opaque tokens, and an API application per client
 * authentication (the RSA keys are the slow part): `byKey` and `bySecret` are
 * the matching `introspection` options.
 */
export async function opaqueTenant (idp: ZitadelEmulator) {
  const tenant = addTenant(idp, { accessTokenType: 'opaque' })
  const keyApi = idp.addApiApp({ projectId: tenant.projectId, name: 'backend', authMethod: 'private_key_jwt' })
  const keyFile = await idp.addApiAppKey(keyApi.clientId)
  const basicApi = idp.addApiApp({ projectId: tenant.projectId, name: 'basic backend', clientSecret: SECRET })
  return {
    tenant,
    keyApi,
    keyFile,
    basicApi,
    byKey: { keyFile } as const,
    bySecret: { clientId: basicApi.clientId, clientSecret: SECRET } as const
  }
}
