import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import t, { type Test } from 'tap'
import { DIAGNOSTICS_CHANNELS, type FetchMessage, type RevocationMessage, type TokenMessage } from '../lib/index.js'
import { appFor, bearer, ES256_ONLY, issuerFor } from './helpers/app.js'
import { SUB } from '../fixtures/issuer.js'
import { startIdp } from './emulator/helpers.js'

/**
 * The diagnostics channels: what a metrics or tracing subscriber sees of
 * each request with a token, each request to Zitadel and each revocation,
 * and that no message holds a token.
 */

function listen<T> (t: Test, name: string): T[] {
  const seen: T[] = []
  const listener = (message: unknown) => { seen.push(message as T) }
  subscribe(name, listener)
  t.teardown(() => { unsubscribe(name, listener) })
  return seen
}

t.test('the channel names are stable', async (t) => {
  t.strictSame(DIAGNOSTICS_CHANNELS, { token: 'fastify-zitadel-auth:token', fetch: 'fastify-zitadel-auth:fetch', revocation: 'fastify-zitadel-auth:revocation' })
  t.ok(Object.isFrozen(DIAGNOSTICS_CHANNELS))
})

t.test('token: a miss, then a hit, then refusals with their codes; requests without a token say nothing', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const tokens = listen<TokenMessage>(t, DIAGNOSTICS_CHANNELS.token)
  const fetches = listen<FetchMessage>(t, DIAGNOSTICS_CHANNELS.fetch)
  const revocations = listen<RevocationMessage>(t, DIAGNOSTICS_CHANNELS.revocation)
  // Subscribed first: the key load starts when the app is ready.
  const { app, me } = await appFor(t, issuer, { ...ES256_ONLY })
  const token = await issuer.token()
  await me(token)
  await me(token)
  await app.inject({ url: '/public' })
  await me('not-a-jwt')
  await app.inject({ url: '/me', headers: { authorization: 'Bearer ' } })
  await app.zitadel.revokeSubject(SUB)
  await app.zitadel.revokeSubject(SUB, { before: new Date(0) })
  await me(token)
  t.strictSame(tokens, [
    { outcome: 'miss', code: undefined, tenant: undefined },
    { outcome: 'hit', code: undefined, tenant: undefined },
    { outcome: 'refused', code: 'ZITADEL_AUTH_TOKEN_MALFORMED', tenant: undefined },
    { outcome: 'refused', code: 'ZITADEL_AUTH_BAD_REQUEST', tenant: undefined },
    { outcome: 'refused', code: 'ZITADEL_AUTH_TOKEN_REVOKED', tenant: undefined }
  ])
  t.strictSame(revocations, [{ kind: 'subject', source: 'api' }], 'a revocation that changes nothing is not reported')
  t.match(fetches, [
    { kind: 'discovery', issuer: issuer.url, outcome: 'ok', reason: undefined, durationMs: Number },
    { kind: 'keys', issuer: issuer.url, outcome: 'ok', reason: undefined, durationMs: Number }
  ])
  t.ok(fetches.every((f) => f.durationMs >= 0))
  t.notMatch(JSON.stringify([tokens, fetches, revocations]), token.split('.')[2] as string, 'no token in any message')
})

t.test('fetch: a failed request says why, in fixed words', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  issuer.fault = 'error'
  const fetches = listen<FetchMessage>(t, DIAGNOSTICS_CHANNELS.fetch)
  const { me } = await appFor(t, issuer, { ...ES256_ONLY })
  t.equal((await me(await issuer.token())).statusCode, 503)
  t.match(fetches.find((f) => f.outcome === 'failed'), { kind: 'discovery', outcome: 'failed', reason: 'answered HTTP 500' })
})

t.test('fetch and token: introspection calls, and the tenant of accepted tokens', async (t) => {
  const idp = await startIdp()
  t.teardown(() => idp.close())
  const org = idp.addOrganization({ name: 'Acme' })
  const project = idp.addProject({ name: 'api', orgId: org.id, roles: ['user'] })
  const app1 = idp.addApp({ projectId: project.id, name: 'web', redirectUris: ['http://localhost/cb'], accessTokenType: 'opaque' })
  const backend = idp.addApiApp({ projectId: project.id, name: 'backend' })
  const other = idp.addProject({ name: 'other', orgId: org.id })
  const user = idp.addUser({ username: 'ann', password: 'pw', orgId: org.id, grants: [{ projectId: project.id, roles: ['user'] }] })
  const issuer = await issuerFor(t, 'ES256')
  const fetches = listen<FetchMessage>(t, DIAGNOSTICS_CHANNELS.fetch)
  const tokens = listen<TokenMessage>(t, DIAGNOSTICS_CHANNELS.token)
  const { default: Fastify } = await import('fastify')
  const { default: zitadelAuth } = await import('../lib/index.js')
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, {
    tenants: [
      { name: 'main', issuer: idp.issuer, projectId: project.id, introspection: { clientId: backend.clientId, clientSecret: backend.clientSecret } },
      { name: 'side', issuer: issuer.url, projectId: other.id, ...ES256_ONLY }
    ]
  })
  app.get('/me', { preHandler: app.zitadel.requireAuth() }, async () => 'ok')
  await app.ready()
  const opaque = await idp.mintAccessToken({ userId: user.id, clientId: app1.clientId })
  t.equal((await app.inject({ url: '/me', headers: bearer(opaque) })).statusCode, 200)
  t.match(fetches.filter((f) => f.kind === 'introspection'), [{ kind: 'introspection', issuer: idp.issuer, outcome: 'ok' }])
  t.match(tokens.at(-1), { outcome: 'miss', tenant: 'main' })
})
