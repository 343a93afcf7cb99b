import swagger from '@fastify/swagger'
import { Validator } from '@seriousme/openapi-schema-validator'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import zitadelAuth, { type ZitadelMultiTenantOptions } from '../lib/index.js'
import type { ZitadelEmulator } from '../lib/testing/index.js'
import { FAST, bearer } from './helpers/app.js'
import { addTenant, startIdp, tenantWithLogins, type Tenant } from './emulator/helpers.js'

/**
 * Several tenants in one app, over real HTTP against two emulators: "eu" and
 * "partners" are two projects of one instance, "us" another instance.
 */

const eu = await startIdp()
const us = await startIdp()
t.teardown(() => Promise.all([eu.close(), us.close()]))
const euLogins = await tenantWithLogins(eu)
const usLogins = await tenantWithLogins(us)
const partners = addTenant(eu)

/** A JWT for `user` of `tenant` (roles on), from `idp`, with overrides. */
async function tokenOf (idp: ZitadelEmulator, tenant: Tenant, user: 'alice' | 'bob', extra: { projectIds?: string[], claims?: Record<string, unknown>, type?: 'jwt' | 'opaque' } = {}): Promise<string> {
  return idp.mintAccessToken({ userId: tenant[user].id, clientId: tenant.clientId, roles: true, ...extra })
}

function tenantsOptions (overrides: Partial<ZitadelMultiTenantOptions> = {}): ZitadelMultiTenantOptions {
  return {
    ...FAST,
    // Every tenant's keys are in when ready() resolves: no fetch still under way when a test counts them.
    waitForKeys: true,
    tenants: [
      { name: 'eu', issuer: eu.issuer, projectId: euLogins.tenant.projectId, clientId: euLogins.tenant.clientId },
      { name: 'us', issuer: us.issuer, projectId: usLogins.tenant.projectId },
      { name: 'partners', issuer: eu.issuer, projectId: partners.projectId }
    ],
    ...overrides
  }
}

/** `before`: runs once the plugin is in, before the routes are declared; `lines`: keeps the debug log. */
async function apiFor (t: Test, options: ZitadelMultiTenantOptions = tenantsOptions(), before?: (app: FastifyInstance) => Promise<void>, lines?: string[]): Promise<FastifyInstance> {
  const app = lines === undefined ? Fastify() : Fastify({ logger: { level: 'debug', stream: { write: (line: string) => { lines.push(line) } } } })
  await app.register(zitadelAuth, options)
  await before?.(app)
  const z = app.zitadel
  app.get('/me', { preHandler: z.requireAuth() }, async (req) => ({ sub: req.zitadelUser?.sub, tenant: req.zitadelUser?.tenant, roles: Object.keys(req.zitadelUser?.roles ?? {}) }))
  app.get('/admin', { preHandler: z.requireRoles(['admin']) }, async (req) => ({ tenant: req.zitadelUser?.tenant }))
  app.get('/eu/admin', { preHandler: z.requireRoles(['admin'], { tenant: 'eu' }) }, async () => ({ ok: true }))
  app.get('/eu/me', { preHandler: z.requireAuth({ tenant: 'eu', allowDelegated: false }) }, async () => ({ ok: true }))
  app.get('/us/read', { preHandler: z.requireScopes(['openid'], { tenant: ['us'] }) }, async () => ({ ok: true }))
  app.get('/partners/verified', { preHandler: z.requireClaim('sub', { satisfies: (v) => typeof v === 'string' }, { tenant: 'partners' }) }, async () => ({ ok: true }))
  app.get('/regional/admin', { preHandler: z.anyOf([z.requireRoles(['admin'], { tenant: 'eu' }), z.requireRoles(['admin'], { tenant: 'us' })]) }, async () => ({ ok: true }))
  await app.ready()
  t.teardown(() => app.close())
  return app
}

t.test('each tenant\'s tokens pass its own rules, and the user says which tenant', async (t) => {
  const api = await apiFor(t)
  const cases: Array<[string, string, Tenant, string[]]> = [
    [euLogins.alice, 'eu', euLogins.tenant, ['user', 'admin']],
    [usLogins.bob, 'us', usLogins.tenant, ['user']],
    [await tokenOf(eu, partners, 'alice'), 'partners', partners, ['user', 'admin']]
  ]
  for (const [token, tenant, owner, roles] of cases) {
    const res = await api.inject({ url: '/me', headers: bearer(token) })
    t.equal(res.statusCode, 200, `a token of ${tenant}`)
    t.same(res.json(), { sub: tenant === 'us' ? owner.bob.id : owner.alice.id, tenant, roles }, `${tenant}: roles read from that tenant's own project`)
    const again = await api.inject({ url: '/me', headers: bearer(token) })
    t.equal(again.json().tenant, tenant, `${tenant}: a cache hit keeps its tenant`)
  }
  t.equal((await api.zitadel.verify(usLogins.alice)).tenant, 'us', 'verify() chooses the tenant too')
})

t.test('a guard scoped to a tenant refuses the others\' tokens with 403 and its challenge', async (t) => {
  const api = await apiFor(t)
  const euAdmin = await api.inject({ url: '/eu/admin', headers: bearer(euLogins.alice) })
  t.equal(euAdmin.statusCode, 200)
  const usAdmin = await api.inject({ url: '/eu/admin', headers: bearer(usLogins.alice) })
  t.equal(usAdmin.statusCode, 403, 'an admin of another tenant')
  t.equal(usAdmin.json().code, 'ZITADEL_AUTH_TENANT_NOT_ALLOWED')
  t.match(usAdmin.headers['www-authenticate'], /^Bearer realm="api", error="insufficient_scope"/)
  const euUser = await api.inject({ url: '/eu/admin', headers: bearer(euLogins.bob) })
  t.equal(euUser.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED', 'the right tenant, without the role')

  t.equal((await api.inject({ url: '/regional/admin', headers: bearer(usLogins.alice) })).statusCode, 200, 'anyOf over tenants: us')
  t.equal((await api.inject({ url: '/regional/admin', headers: bearer(euLogins.alice) })).statusCode, 200, 'anyOf over tenants: eu')
  const partnerAdmin = await api.inject({ url: '/regional/admin', headers: bearer(await tokenOf(eu, partners, 'alice')) })
  t.equal(partnerAdmin.json().code, 'ZITADEL_AUTH_TENANT_NOT_ALLOWED', 'neither: the first guard\'s error')
  t.equal((await api.inject({ url: '/admin', headers: bearer(await tokenOf(eu, partners, 'alice')) })).json().tenant, 'partners', 'an unscoped guard admits every tenant')

  const partnerToken = await tokenOf(eu, partners, 'alice')
  for (const [url, own] of [['/eu/me', euLogins.alice], ['/us/read', usLogins.alice], ['/partners/verified', partnerToken]] as const) {
    const other = own === usLogins.alice ? euLogins.alice : usLogins.alice
    t.equal((await api.inject({ url, headers: bearer(other) })).json().code, 'ZITADEL_AUTH_TENANT_NOT_ALLOWED', `${url}: another tenant's token`)
  }
  t.equal((await api.inject({ url: '/eu/me', headers: bearer(euLogins.alice) })).statusCode, 200)
  t.equal((await api.inject({ url: '/partners/verified', headers: bearer(partnerToken) })).statusCode, 200)
  const actingForUs = await us.mintAccessToken({ userId: usLogins.tenant.alice.id, clientId: usLogins.tenant.clientId, actor: { sub: 'support-agent' } })
  t.equal((await api.inject({ url: '/eu/me', headers: bearer(actingForUs) })).json().code, 'ZITADEL_AUTH_TENANT_NOT_ALLOWED', 'the tenant is checked before delegation')
})

t.test('formatUser sees the tenant', async (t) => {
  const api = await apiFor(t, tenantsOptions({ formatUser: (user) => ({ id: `${user.tenant ?? '?'}:${user.sub}` }) as never }), async (app) => {
    app.get('/whoami', async (req) => req.user)
  })
  t.same((await api.inject({ url: '/whoami', headers: bearer(usLogins.bob) })).json(), { id: `us:${usLogins.tenant.bob.id}` })
})

t.test('a token is checked by the tenant its iss names, and never by another', async (t) => {
  const api = await apiFor(t)
  // Signed by the us instance, claiming to come from the eu one.
  const forged = await tokenOf(us, usLogins.tenant, 'alice', { claims: { iss: eu.issuer, aud: [euLogins.tenant.projectId] } })
  eu.resetRequests()
  us.resetRequests()
  const res = await api.inject({ url: '/me', headers: bearer(forged) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'ZITADEL_AUTH_KEY_UNKNOWN', 'eu does not know the us key')
  t.equal(us.requests.jwks, 0, 'the us tenant never looked at it')
  t.equal(us.requests.discovery, 0)

  const stranger = await startIdp()
  t.teardown(() => stranger.close())
  const other = addTenant(stranger)
  eu.resetRequests()
  us.resetRequests()
  const unknown = await api.inject({ url: '/me', headers: bearer(await tokenOf(stranger, other, 'alice')) })
  t.equal(unknown.statusCode, 401)
  t.equal(unknown.json().code, 'ZITADEL_AUTH_ISSUER_INVALID', 'an issuer no tenant has')
  t.match(unknown.headers['www-authenticate'], /error="invalid_token"/)
  t.equal(eu.requests.jwks + us.requests.jwks + stranger.requests.jwks + stranger.requests.discovery, 0, 'no key fetched anywhere for it')

  const noIss = await api.inject({ url: '/me', headers: bearer(await tokenOf(eu, euLogins.tenant, 'alice', { claims: { iss: undefined } })) })
  t.equal(noIss.json().code, 'ZITADEL_AUTH_ISSUER_INVALID', 'a token without iss')
  const garbled = await api.inject({ url: '/me', headers: bearer('eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln') })
  t.equal(garbled.json().code, 'ZITADEL_AUTH_TOKEN_MALFORMED', 'a payload that is no JSON')
})

t.test('tenants of one instance are told apart by aud; a token for both is refused', async (t) => {
  const lines: string[] = []
  const api = await apiFor(t, tenantsOptions(), undefined, lines)
  const both = await tokenOf(eu, euLogins.tenant, 'alice', { projectIds: [partners.projectId] })
  const res = await api.inject({ url: '/me', headers: bearer(both) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'ZITADEL_AUTH_AUDIENCE_INVALID', 'either tenant\'s rules could judge it')
  const neither = await tokenOf(eu, euLogins.tenant, 'alice', { claims: { aud: ['some-other-project'] } })
  t.equal((await api.inject({ url: '/me', headers: bearer(neither) })).json().code, 'ZITADEL_AUTH_AUDIENCE_INVALID', 'an audience no tenant of the issuer has')
  t.match(lines.join(''), /its audience names several tenants/, 'the debug log says why')
  t.notOk(lines.some((line) => line.includes(both) || line.includes(both.split('.')[2] as string)), 'and never holds the token')
})

t.test('an opaque token whose audience names two tenants of one instance is refused too', async (t) => {
  const backend = eu.addApiApp({ projectId: euLogins.tenant.projectId, name: 'backend' })
  const options = tenantsOptions()
  const [first, second, third] = options.tenants
  const api = await apiFor(t, { ...options, tenants: [{ ...first!, introspection: { clientId: backend.clientId, clientSecret: backend.clientSecret } }, second!, third!] })
  t.same(api.zitadel.tenants.map((o) => o.otherTenantsAudience), [[partners.projectId], [], [euLogins.tenant.projectId]])
  const own = await tokenOf(eu, euLogins.tenant, 'alice', { type: 'opaque' })
  t.equal((await api.inject({ url: '/me', headers: bearer(own) })).json().tenant, 'eu', 'an opaque token for eu alone')
  const forBoth = await tokenOf(eu, partners, 'alice', { type: 'opaque', projectIds: [euLogins.tenant.projectId] })
  const res = await api.inject({ url: '/me', headers: bearer(forBoth) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'ZITADEL_AUTH_AUDIENCE_INVALID', 'partners\' rules could judge it too')
})

t.test('opaque tokens go to the one tenant with introspection', async (t) => {
  const backend = us.addApiApp({ projectId: usLogins.tenant.projectId, name: 'backend' })
  const options = tenantsOptions()
  const [first, second, third] = options.tenants
  const api = await apiFor(t, { ...options, tenants: [first!, { ...second!, introspection: { clientId: backend.clientId, clientSecret: backend.clientSecret } }, third!] })
  const opaque = await tokenOf(us, usLogins.tenant, 'alice', { type: 'opaque' })
  const res = await api.inject({ url: '/me', headers: bearer(opaque) })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { sub: usLogins.tenant.alice.id, tenant: 'us', roles: ['user', 'admin'] })
  t.equal((await api.inject({ url: '/me', headers: bearer(euLogins.alice) })).json().tenant, 'eu', 'JWTs of the others still go by iss')

  us.resetRequests()
  t.equal((await api.inject({ url: '/me', headers: bearer(usLogins.bob) })).json().tenant, 'us')
  t.equal(us.requests.introspect, 0, 'tokens: \'opaque\': the tenant\'s JWTs are checked locally')
  const euOpaque = await tokenOf(eu, euLogins.tenant, 'alice', { type: 'opaque' })
  const refused = await api.inject({ url: '/me', headers: bearer(euOpaque) })
  t.equal(refused.json().code, 'ZITADEL_AUTH_TOKEN_INACTIVE', 'another instance\'s opaque token: unknown to the introspecting tenant')

  const all = await apiFor(t, { ...options, tenants: [first!, { ...second!, introspection: { clientId: backend.clientId, clientSecret: backend.clientSecret, tokens: 'all' } }, third!] })
  us.resetRequests()
  t.equal((await all.inject({ url: '/me', headers: bearer(usLogins.bob) })).json().tenant, 'us')
  t.equal(us.requests.introspect, 1, 'tokens: \'all\': the tenant\'s JWTs are introspected')
  t.equal((await all.inject({ url: '/me', headers: bearer(euLogins.bob) })).json().tenant, 'eu')
  t.equal(us.requests.introspect, 1, 'other tenants\' JWTs are not')

  const lines: string[] = []
  const without = await apiFor(t, tenantsOptions(), undefined, lines)
  t.equal((await without.inject({ url: '/me', headers: bearer(opaque) })).json().code, 'ZITADEL_AUTH_TOKEN_MALFORMED', 'no tenant introspects: not a JWT')
  t.match(lines.join(''), /most likely an opaque access token/, 'the log says what it looks like')
})

t.test('status() and waitForKeys cover every tenant', async (t) => {
  const api = await apiFor(t)
  const before = api.zitadel.status()
  t.same(Object.keys(before.tenants ?? {}), ['eu', 'us', 'partners'])
  t.equal(before.keys, undefined, 'each tenant has its own keys')
  await api.inject({ url: '/me', headers: bearer(euLogins.alice) })
  await api.inject({ url: '/me', headers: bearer(usLogins.alice) })
  await api.inject({ url: '/me', headers: bearer(await tokenOf(eu, partners, 'alice')) })
  const after = api.zitadel.status()
  t.equal(after.ready, true)
  t.match(after.tenants, { eu: { ready: true, keys: { usable: true } }, us: { ready: true, keys: { usable: true } }, partners: { ready: true } })

  const down = await apiFor(t, { ...tenantsOptions({ waitForKeys: false }), tenants: [...tenantsOptions().tenants, { name: 'down', issuer: 'http://127.0.0.1:1', projectId: 'p1' }] })
  const status = down.zitadel.status()
  t.equal(status.ready, false, 'one tenant that cannot check tokens: not ready')
  t.equal(status.tenants?.down?.ready, false)
  t.equal(status.tenants?.eu?.keys?.usable !== undefined, true)

  const waiting = Fastify()
  t.teardown(() => waiting.close())
  const options = tenantsOptions({ waitForKeys: true })
  const [first, , third] = options.tenants
  await waiting.register(zitadelAuth, { ...options, tenants: [first!, { name: 'down', issuer: 'http://127.0.0.1:1', projectId: 'p1' }, third!] })
  const err = await waiting.ready().then(() => undefined, (e: Error & { code?: string }) => e)
  t.equal(err?.code, 'ZITADEL_AUTH_KEYS_NOT_LOADED')
  t.match(err?.message, /from http:\/\/127\.0\.0\.1:1 \(/, 'names the tenant that failed')
  t.notMatch(err?.message, new RegExp(eu.issuer.replace(/[.:/]/g, '\\$&')), 'and only that one')
})

t.test('the OpenAPI document has a security scheme per tenant, and each route the tenants its guards admit', async (t) => {
  const api = await apiFor(t, tenantsOptions(), async (app) => {
    await app.register(swagger, app.zitadel.swaggerOptions({ openapi: { info: { title: 't', version: '1' } } }))
    const z = app.zitadel
    const many = Array.from({ length: 17 }, (_, i) => `s${i}`)
    app.get('/eu-many', { preHandler: [z.requireAuth({ tenant: 'eu' }), z.requireScopes(many, { any: true })] }, async () => 'ok')
    app.get('/either-many', { preHandler: z.anyOf([z.requireScopes(many, { any: true, tenant: 'eu' }), z.requireRoles(['x'], { tenant: 'us' })]) }, async () => 'ok')
    app.get('/both-orders', { preHandler: z.anyOf([z.requireAuth({ tenant: ['eu', 'us'] }), z.requireAuth({ tenant: ['us', 'eu'] })]) }, async () => 'ok')
  })
  const doc = api.swagger() as { components: { securitySchemes: Record<string, { flows: { authorizationCode: { authorizationUrl: string } } }> }, paths: Record<string, { get: { security: unknown, responses: Record<string, { description: string }> } }> }
  t.same(Object.keys(doc.components.securitySchemes), ['zitadel-eu', 'zitadel-us', 'zitadel-partners'])
  t.equal(doc.components.securitySchemes['zitadel-us']?.flows.authorizationCode.authorizationUrl, `${us.issuer}/oauth/v2/authorize`)
  t.strictSame(doc.paths['/admin']?.get.security, [{ 'zitadel-eu': [] }, { 'zitadel-us': [] }, { 'zitadel-partners': [] }], 'any tenant: alternatives')
  t.strictSame(doc.paths['/eu/admin']?.get.security, [{ 'zitadel-eu': [] }])
  t.equal(doc.paths['/eu/admin']?.get.responses['403']?.description,
    'Requires a token of the tenant `eu` (`ZITADEL_AUTH_TENANT_NOT_ALLOWED`), and the Zitadel role `admin` (`ZITADEL_AUTH_ROLE_REQUIRED`)')
  t.strictSame(doc.paths['/regional/admin']?.get.security, [{ 'zitadel-eu': [] }, { 'zitadel-us': [] }])
  t.strictSame(doc.paths['/us/read']?.get.security, [{ 'zitadel-us': ['openid'] }], 'scopes in the tenant\'s scheme only')
  t.strictSame(doc.paths['/eu-many']?.get.security, [{ 'zitadel-eu': [] }], 'past 16 alternatives: still only the tenants the guards admit')
  t.strictSame(doc.paths['/either-many']?.get.security, [{ 'zitadel-eu': [] }, { 'zitadel-us': [] }], 'anyOf past 16: the tenants of any of its guards')
  t.strictSame(doc.paths['/both-orders']?.get.security, [{ 'zitadel-eu': [] }, { 'zitadel-us': [] }], 'no requirement twice')
  const result = await new Validator().validate(structuredClone(doc) as never)
  t.ok(result.valid, 'the document validates against the OpenAPI 3 schema')

  const ui = api.zitadel.swaggerUiOptions()
  t.equal(ui.initOAuth.clientId, euLogins.tenant.clientId, 'the first tenant\'s client id')
  t.same(ui.initOAuth.scopes, ['openid', 'profile', 'email', 'urn:zitadel:iam:org:projects:roles'], 'only the scopes every tenant offers: each project has its own audience scope')
})
