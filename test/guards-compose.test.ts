import fastifyAuth from '@fastify/auth'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import zitadelAuth from '../lib/index.js'
import { FAST, bearer, issuerFor } from './helpers/app.js'
import { startIdp, tenantWithLogins, type Tenant } from './emulator/helpers.js'

/**
 * anyOf, requireScopes({ any }), requireClaim, and the plugin's errors raised
 * from the app's own code, over real HTTP against the emulator: bob holds
 * the role `user`, alice `user` and `admin`, both in the tenant's organisation.
 */

const idp = await startIdp()
t.teardown(() => idp.close())

const people = () => tenantWithLogins(idp)

async function apiFor (t: Test, tenant: Tenant, routes: (app: FastifyInstance) => void | Promise<void>): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(zitadelAuth, { issuer: idp.issuer, projectId: tenant.projectId, ...FAST })
  await routes(app)
  await app.ready()
  t.teardown(() => app.close())
  return app
}

function assertRefused (t: Test, res: LightMyRequestResponse, status: number, code: string, message: string): void {
  t.equal(res.statusCode, status, message)
  t.equal(res.json().code, code, `${message}: ${code}`)
  const challenge = status === 401 && code === 'ZITADEL_AUTH_TOKEN_MISSING' ? /^Bearer realm="api"$/ : status === 401 ? /error="invalid_token"/ : /error="insufficient_scope"/
  t.match(res.headers['www-authenticate'], challenge, `${message}: the RFC 6750 challenge`)
}

t.test('anyOf lets a request through when one guard would, and answers the first guard\'s error otherwise', async (t) => {
  const { tenant, bob, alice } = await people()
  const api = await apiFor(t, tenant, (app) => {
    const { anyOf, requireRoles, requireClaim } = app.zitadel
    app.get('/admin-or-bob', { preHandler: anyOf([requireRoles(['admin']), requireClaim('sub', { equals: tenant.bob.id })]) }, async (req) => ({ sub: req.user?.sub }))
    app.get('/nobody', { preHandler: anyOf([requireRoles(['owner']), requireClaim('sub', { equals: 'someone-else' })]) }, async () => 'never')
    app.get('/claim-first', { preHandler: anyOf([requireClaim('sub', { equals: 'someone-else' }), requireRoles(['owner'])]) }, async () => 'never')
  })
  const get = (url: string, token?: string) => api.inject({ url, headers: token === undefined ? {} : bearer(token) })

  t.same((await get('/admin-or-bob', alice)).json(), { sub: tenant.alice.id }, 'alice through the role')
  t.same((await get('/admin-or-bob', bob)).json(), { sub: tenant.bob.id }, 'bob through the claim')
  assertRefused(t, await get('/nobody', alice), 403, 'ZITADEL_AUTH_ROLE_REQUIRED', 'all refuse: the first guard\'s error')
  assertRefused(t, await get('/claim-first', alice), 403, 'ZITADEL_AUTH_CLAIM_REQUIRED', 'the first guard is the claim')
  assertRefused(t, await get('/admin-or-bob'), 401, 'ZITADEL_AUTH_TOKEN_MISSING', 'no token')
  assertRefused(t, await get('/admin-or-bob', `${bob.slice(0, -4)}AAAA`), 401, 'ZITADEL_AUTH_SIGNATURE_INVALID', 'a forged token never reaches the guards')
})

t.test('requireClaim: equals a value or a route parameter, includes values, satisfies a function', async (t) => {
  const { tenant, bob, alice } = await people()
  const api = await apiFor(t, tenant, (app) => {
    const { requireClaim } = app.zitadel
    app.get('/users/:userId/things', { preHandler: requireClaim('sub', { equals: (req) => req.params.userId }) }, async () => 'ok')
    app.get('/bob-only', { preHandler: requireClaim('sub', { equals: tenant.bob.id }) }, async () => 'ok')
    app.get('/for-this-project', { preHandler: requireClaim('aud', { includes: [tenant.projectId] }) }, async () => 'ok')
    app.get('/for-two-audiences', { preHandler: requireClaim('aud', { includes: [tenant.projectId, 'another-project'] }) }, async () => 'ok')
    app.get('/admin-in-some-org', {
      preHandler: requireClaim('urn:zitadel:iam:org:project:roles', { satisfies: (roles) => Object.hasOwn(roles as object, 'admin') }, { description: 'the role admin' })
    }, async () => 'ok')
    app.get('/no-such-claim', { preHandler: requireClaim('urn:example:tier', { satisfies: () => true }) }, async () => 'never')
    app.get('/predicate-denies-itself', {
      preHandler: requireClaim('sub', { satisfies: () => { throw app.zitadel.forbidden() } })
    }, async () => 'never')
  })
  const get = (url: string, token: string) => api.inject({ url, headers: bearer(token) })

  t.equal((await get(`/users/${tenant.bob.id}/things`, bob)).statusCode, 200, 'the user in the path is the caller')
  assertRefused(t, await get(`/users/${tenant.alice.id}/things`, bob), 403, 'ZITADEL_AUTH_CLAIM_REQUIRED', 'another user in the path')
  t.equal((await get('/bob-only', bob)).statusCode, 200, 'sub pinned to bob: bob')
  assertRefused(t, await get('/bob-only', alice), 403, 'ZITADEL_AUTH_CLAIM_REQUIRED', 'sub pinned to bob: alice')
  t.equal((await get('/for-this-project', bob)).statusCode, 200, 'includes one value of an array claim')
  assertRefused(t, await get('/for-two-audiences', bob), 403, 'ZITADEL_AUTH_CLAIM_REQUIRED', 'includes: every value is needed')
  t.equal((await get('/admin-in-some-org', alice)).statusCode, 200, 'satisfies: true')
  assertRefused(t, await get('/admin-in-some-org', bob), 403, 'ZITADEL_AUTH_CLAIM_REQUIRED', 'satisfies: false')
  assertRefused(t, await get('/no-such-claim', alice), 403, 'ZITADEL_AUTH_CLAIM_REQUIRED', 'a token without the claim is refused before the function runs')
  assertRefused(t, await get('/predicate-denies-itself', alice), 403, 'ZITADEL_AUTH_FORBIDDEN', 'an error the function throws is the answer')
})

t.test('requireClaim includes reads a space-separated string claim too, and equals compares strictly', async (t) => {
  const issuer = await issuerFor(t)
  const app = Fastify()
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, ...FAST })
  app.get('/groups', { preHandler: app.zitadel.requireClaim('groups', { includes: 'staff' }) }, async () => 'ok')
  app.get('/verified', { preHandler: app.zitadel.requireClaim('email_verified', { equals: true }) }, async () => 'ok')
  app.get('/tier', { preHandler: app.zitadel.requireClaim('tier', { equals: 2 }) }, async () => 'ok')
  await app.ready()
  t.teardown(() => app.close())
  const get = async (url: string, claims: Record<string, unknown>) => (await app.inject({ url, headers: bearer(await issuer.token({ claims })) })).statusCode
  t.equal(await get('/groups', { groups: 'staff admins' }), 200, 'includes: in a space-separated string')
  t.equal(await get('/groups', { groups: ['admins', 'staff'] }), 200, 'includes: in an array')
  t.equal(await get('/groups', { groups: 'staffers' }), 403, 'includes: a longer word is not the value')
  t.equal(await get('/groups', { groups: { staff: true } }), 403, 'includes: an object is neither')
  t.equal(await get('/verified', { email_verified: true }), 200, 'equals true')
  t.equal(await get('/verified', { email_verified: 'true' }), 403, 'equals true: the string "true" is not true')
  t.equal(await get('/tier', { tier: 2 }), 200, 'equals a number')
  t.equal(await get('/tier', { tier: '2' }), 403, 'equals a number: not its string')
})

t.test('requireScopes with any: one of the scopes is enough; without it, all are needed', async (t) => {
  const issuer = await issuerFor(t)
  const app = Fastify()
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, ...FAST })
  app.get('/any', { preHandler: app.zitadel.requireScopes(['orders:read', 'orders:admin'], { any: true }) }, async () => 'ok')
  app.get('/all', { preHandler: app.zitadel.requireScopes(['orders:read', 'orders:admin']) }, async () => 'ok')
  await app.ready()
  t.teardown(() => app.close())
  const get = async (url: string, scope: string) => app.inject({ url, headers: bearer(await issuer.token({ claims: { scope } })) })
  t.equal((await get('/any', 'openid orders:admin')).statusCode, 200, 'any: the second scope alone')
  t.equal((await get('/any', 'orders:read')).statusCode, 200, 'any: the first scope alone')
  const none = await get('/any', 'openid profile')
  assertRefused(t, none, 403, 'ZITADEL_AUTH_SCOPE_REQUIRED', 'any: neither scope')
  t.match(none.headers['www-authenticate'], /scope="orders:read orders:admin"$/, 'the challenge names the scopes')
  assertRefused(t, await get('/all', 'orders:read'), 403, 'ZITADEL_AUTH_SCOPE_REQUIRED', 'all: one of two is not enough')
  t.equal((await get('/all', 'orders:admin orders:read')).statusCode, 200, 'all: both')
})

t.test('the plugin\'s 401 and 403 raised from a handler carry the challenge', async (t) => {
  const { tenant, bob } = await people()
  const api = await apiFor(t, tenant, (app) => {
    app.get<{ Params: { owner: string } }>('/mine/:owner', async (req) => {
      if (req.user === null) throw app.zitadel.unauthorized(req)
      if (req.params.owner !== req.user.sub) throw app.zitadel.forbidden()
      return 'ok'
    })
    app.get('/blocked', async (req) => { throw app.zitadel.unauthorized(req) })
  })
  assertRefused(t, await api.inject({ url: `/mine/${tenant.alice.id}` }), 401, 'ZITADEL_AUTH_TOKEN_MISSING', 'no token: 401 without an error code')
  assertRefused(t, await api.inject({ url: `/mine/${tenant.alice.id}`, headers: bearer(bob) }), 403, 'ZITADEL_AUTH_FORBIDDEN', 'another owner')
  t.equal((await api.inject({ url: `/mine/${tenant.bob.id}`, headers: bearer(bob) })).statusCode, 200, 'the owner')
  assertRefused(t, await api.inject({ url: '/blocked', headers: bearer(bob) }), 401, 'ZITADEL_AUTH_TOKEN_REJECTED', 'a token the app refuses itself')
  const bare = app401()
  t.equal(bare.code, 'ZITADEL_AUTH_TOKEN_REJECTED', 'without a request: the token is refused')

  function app401 () { return api.zitadel.unauthorized() }
})

t.test('@fastify/auth combines the plugin\'s guards with a strategy of the app\'s own', async (t) => {
  const { tenant, bob, alice } = await people()
  const api = await apiFor(t, tenant, async (app) => {
    await app.register(fastifyAuth)
    const apiKey = (req: { headers: Record<string, unknown> }, _reply: unknown, done: (err?: Error) => void) => {
      done(req.headers['x-api-key'] === 'letmein' ? undefined : new Error('no api key'))
    }
    const { requireRoles, requireAuth } = app.zitadel
    app.get('/admin-or-key', { preHandler: app.auth([requireRoles(['admin']), apiKey]) }, async (req) => ({ user: req.user?.sub ?? null }))
    app.get('/both', { preHandler: app.auth([requireAuth(), requireRoles(['admin'])], { relation: 'and' }) }, async () => 'ok')
  })
  const get = (url: string, headers: Record<string, string>) => api.inject({ url, headers })

  t.same((await get('/admin-or-key', bearer(alice))).json(), { user: tenant.alice.id }, 'the role')
  t.same((await get('/admin-or-key', { 'x-api-key': 'letmein' })).json(), { user: null }, 'the app\'s API key')
  const neither = await get('/admin-or-key', bearer(bob))
  t.equal(neither.statusCode, 401, '@fastify/auth answers the last error with its own status rule')
  t.equal((await get('/both', bearer(alice))).statusCode, 200, 'and: both hold')
  const notAdmin = await get('/both', bearer(bob))
  assertRefused(t, notAdmin, 403, 'ZITADEL_AUTH_ROLE_REQUIRED', 'and: the role guard refuses bob')
})

t.test('guards are checked when they are built', async (t) => {
  const issuer = await issuerFor(t)
  const app = Fastify()
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, ...FAST })
  t.teardown(() => app.close())
  const { anyOf, requireAuth, requireRoles, requireScopes, requireClaim } = app.zitadel
  const mistakes: Array<[string, () => unknown, RegExp]> = [
    ['anyOf with one guard', () => anyOf([requireAuth()]), /anyOf: takes an array of two or more guards/],
    ['anyOf with no array', () => anyOf(requireAuth() as never), /anyOf: takes an array of two or more guards/],
    ['anyOf with an uncalled factory', () => anyOf([requireAuth(), requireRoles as never]), /anyOf: requireRoles is listed without being called; list requireRoles\(\['…'\]\) instead/],
    ['anyOf with a foreign hook', () => anyOf([requireAuth(), (() => {}) as never]), /anyOf: guards\[1\] is not a guard of this plugin/],
    ['requireScopes any not a boolean', () => requireScopes(['read'], { any: 'yes' as never }), /requireScopes: option "any" must be a boolean/],
    ['requireClaim without a name', () => requireClaim('', { equals: 'x' }), /requireClaim: the claim name must be a non-empty string/],
    ['requireClaim without a rule', () => requireClaim('sub', undefined as never), /requireClaim: the rule must be an object with exactly one of "equals", "includes" or "satisfies"/],
    ['requireClaim with two rules', () => requireClaim('sub', { equals: 'a', includes: 'b' } as never), /exactly one of/],
    ['requireClaim with an unknown rule', () => requireClaim('sub', { matches: /a/ } as never), /exactly one of/],
    ['requireClaim equals an object', () => requireClaim('sub', { equals: { a: 1 } as never }), /"equals" must be a string, a finite number, a boolean, or a function of the request/],
    ['requireClaim equals NaN', () => requireClaim('sub', { equals: Number.NaN }), /"equals" must be/],
    ['requireClaim includes nothing', () => requireClaim('groups', { includes: [] }), /requireClaim: "includes" must be a non-empty array/],
    ['requireClaim includes a value with a space', () => requireClaim('groups', { includes: 'a b' }), /requireClaim: "includes" must be a non-empty array/],
    ['requireClaim satisfies not a function', () => requireClaim('sub', { satisfies: true as never }), /"satisfies" must be a synchronous function/],
    ['requireClaim satisfies async', () => requireClaim('sub', { satisfies: (async () => true) as never }), /"satisfies" must be a synchronous function/],
    ['requireClaim description empty', () => requireClaim('sub', { equals: 'a' }, { description: ' ' }), /requireClaim: option "description" must be a non-empty string/],
    ['requireClaim allowDelegated a string', () => requireClaim('sub', { equals: 'a' }, { allowDelegated: 'no' as never }), /requireClaim: option "allowDelegated" must be a boolean/]
  ]
  for (const [name, build, message] of mistakes) {
    t.throws(build, { code: 'ZITADEL_AUTH_INVALID_OPTION', message }, name)
  }
})
