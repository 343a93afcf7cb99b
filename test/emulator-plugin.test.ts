import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import zitadelAuth from '../lib/index.js'
import type { ZitadelEmulator } from '../lib/testing/index.js'
import { FAST, bearer, type TestOptions } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'
import { ROLES_SCOPE, addTenant, assertion, audScope, codeFlow, jwtProfile, startIdp, type Tenant } from './emulator/helpers.js'

/**
 * End to end: the plugin accepts what the emulator issues, by the code flow
 * (the Swagger UI login) and by the JWT-profile grant (a service user), and
 * decides roles with requireRoles.
 */

const idp = await startIdp()
t.teardown(() => idp.close())

async function apiFor (t: Test, emulator: ZitadelEmulator, tenant: Tenant, options: TestOptions = {}): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(zitadelAuth, { issuer: emulator.issuer, projectId: tenant.projectId, clientId: tenant.clientId, ...FAST, ...options })
  app.get('/api/public', async (req) => ({ user: req.user?.sub ?? null }))
  app.get('/api/protected', { preHandler: app.zitadel.requireRoles(['user']) }, async (req) => ({ sub: req.user?.sub, roles: req.user?.roles, clientId: req.user?.clientId }))
  app.get('/api/protected/admin', { preHandler: app.zitadel.requireRoles(['admin']) }, async () => ({ admin: true }))
  app.get('/api/org', { preHandler: app.zitadel.requireRoles(['user'], { orgId: tenant.orgId }) }, async (req) => ({ orgId: req.user?.orgId ?? null }))
  await app.ready()
  t.teardown(() => app.close())
  return app
}

t.test('a Swagger UI login (code flow with PKCE): bob is a user, alice an admin', async (t) => {
  const tenant = addTenant(idp)
  const api = await apiFor(t, idp, tenant)
  const scope = `openid profile email ${audScope(tenant.projectId)} ${ROLES_SCOPE}`
  const bob = await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', { scope })
  const alice = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw', { scope })

  const ok = await api.inject({ url: '/api/protected', headers: bearer(bob.access_token) })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { sub: tenant.bob.id, roles: { user: { [tenant.orgId]: tenant.orgDomain } }, clientId: tenant.clientId })
  const forbidden = await api.inject({ url: '/api/protected/admin', headers: bearer(bob.access_token) })
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
  t.match(forbidden.headers['www-authenticate'], /error="insufficient_scope"/)
  t.equal((await api.inject({ url: '/api/protected/admin', headers: bearer(alice.access_token) })).statusCode, 200)
  t.equal((await api.inject({ url: '/api/org', headers: bearer(alice.access_token) })).statusCode, 200, 'the role is held in the tenant organisation')

  const idToken = await api.inject({ url: '/api/protected', headers: bearer(bob.id_token as string) })
  t.equal(idToken.statusCode, 401, 'an ID token is no access token')
  t.equal(idToken.json().code, 'ZITADEL_AUTH_CLAIMS_INVALID')
})

t.test('a service user\'s JWT-profile token: accepted with the roles scope, role-less without it', async (t) => {
  const tenant = addTenant(idp)
  const api = await apiFor(t, idp, tenant)
  const { user, keyFile } = await idp.addServiceUser({ username: `svc-${tenant.projectId}`, orgId: tenant.orgId, grants: [{ projectId: tenant.projectId, roles: ['user'] }] })
  const exchange = async (scope: string) => {
    const res = await jwtProfile(idp, await assertion(keyFile, idp.issuer), scope)
    t.equal(res.status, 200)
    return (await res.json() as { access_token: string }).access_token
  }
  const token = await exchange(`openid ${audScope(tenant.projectId)} ${ROLES_SCOPE}`)
  const ok = await api.inject({ url: '/api/protected', headers: bearer(token) })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { sub: user.id, roles: { user: { [tenant.orgId]: tenant.orgDomain } }, clientId: user.username }, 'client_id is the service user\'s username')
  t.equal((await api.inject({ url: '/api/protected/admin', headers: bearer(token) })).statusCode, 403)

  const noRoles = await exchange(`openid ${audScope(tenant.projectId)}`)
  t.equal((await api.inject({ url: '/api/protected', headers: bearer(noRoles) })).statusCode, 403, 'roles must be asked for')
  const noAudience = await exchange(`openid ${ROLES_SCOPE}`)
  const wrongAud = await api.inject({ url: '/api/public', headers: bearer(noAudience) })
  t.equal(wrongAud.statusCode, 401, 'without the audience scope the token is not for this API')
  t.equal(wrongAud.json().code, 'ZITADEL_AUTH_AUDIENCE_INVALID')

  const restricted = await apiFor(t, idp, tenant, { allowedClientIds: [tenant.clientId] })
  t.equal((await restricted.inject({ url: '/api/protected', headers: bearer(token) })).json().code, 'ZITADEL_AUTH_CLIENT_NOT_ALLOWED', 'client_id is the service user')
})

t.test('minted tokens: roles, expiry and another project\'s token', async (t) => {
  const tenant = addTenant(idp)
  const other = addTenant(idp)
  const api = await apiFor(t, idp, tenant)
  t.equal((await api.inject({ url: '/api/protected/admin', headers: bearer(await idp.mintAccessToken({ userId: tenant.alice.id, clientId: tenant.clientId })) })).statusCode, 200)
  const expired = await api.inject({ url: '/api/public', headers: bearer(await idp.mintAccessToken({ userId: tenant.alice.id, clientId: tenant.clientId, expiresIn: 0 })) })
  t.equal(expired.statusCode, 401)
  t.equal(expired.json().code, 'ZITADEL_AUTH_TOKEN_EXPIRED')
  const foreign = await api.inject({ url: '/api/public', headers: bearer(await idp.mintAccessToken({ userId: other.alice.id, clientId: other.clientId })) })
  t.equal(foreign.json().code, 'ZITADEL_AUTH_AUDIENCE_INVALID')
  // Audience is not authorization: the audience scope gets the token in, roles keep it out.
  const widened = await idp.mintAccessToken({ userId: other.alice.id, clientId: other.clientId, projectIds: [tenant.projectId] })
  t.equal((await api.inject({ url: '/api/public', headers: bearer(widened) })).statusCode, 200)
  t.equal((await api.inject({ url: '/api/protected', headers: bearer(widened) })).statusCode, 403, 'the generic role claim of the other project grants nothing here')
})

t.test('key rotation: new tokens verify after a refetch; a dropped key goes at the next refresh', async (t) => {
  const own = await startIdp()
  t.teardown(() => own.close())
  const tenant = addTenant(own)
  const clock = new FakeClock()
  const api = await apiFor(t, own, tenant, { jwksCacheTtl: 0.3, [kClock]: clock })
  const protectedRoute = (token: string) => api.inject({ url: '/api/protected', headers: bearer(token) })
  const before = await own.mintAccessToken({ userId: tenant.bob.id })
  t.equal((await protectedRoute(before)).statusCode, 200)
  await own.rotateKeys()
  await clock.advance(FAST.jwksCooldown * 1000 + 50)
  const after = await own.mintAccessToken({ userId: tenant.bob.id })
  const fetched = await clock.throughTimer(() => protectedRoute(after))
  t.equal(fetched.outcome.statusCode, 200, 'the unknown kid made the plugin refetch')
  t.equal(fetched.delay, FAST.jwksCooldown * 1000, 'after the wait before a look-up')
  // An unknown-kid fetch only adds keys; the scheduled refresh replaces the set.
  await clock.advance(600)
  const { outcome: old } = await clock.throughTimer(() => protectedRoute(before))
  t.equal(old.statusCode, 401)
  t.equal(old.json().code, 'ZITADEL_AUTH_KEY_UNKNOWN')
  t.equal((await protectedRoute(after)).statusCode, 200)
})

t.test('an emulator signing with ES256: accepted on the defaults, refused by a plugin narrowed to RS256', async (t) => {
  const own = await startIdp({ algorithm: 'ES256' })
  t.teardown(() => own.close())
  const tenant = addTenant(own)
  const token = (await codeFlow(own, tenant.clientId, tenant.alice.username, 'alice-pw')).access_token
  const api = await apiFor(t, own, tenant)
  t.equal((await api.inject({ url: '/api/protected/admin', headers: bearer(token) })).statusCode, 200, 'every web-key algorithm by default')
  const strict = await apiFor(t, own, tenant, { algorithms: ['RS256'] })
  t.equal((await strict.inject({ url: '/api/protected', headers: bearer(token) })).json().code, 'ZITADEL_AUTH_TOKEN_UNSUPPORTED', 'RS256 only when narrowed')
})
