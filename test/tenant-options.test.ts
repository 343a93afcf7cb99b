import t, { type Test } from 'tap'
import Fastify from 'fastify'
import zitadelAuth, { type ZitadelMultiTenantOptions } from '../lib/index.js'
import { resolveTenants } from '../lib/options.js'
import { createErrorFactory } from '../lib/errors.js'
import { createGuards } from '../lib/guards.js'
import { thrown } from './helpers/assertions.js'

const EU = { name: 'eu', issuer: 'https://eu.zitadel.cloud', projectId: '111' }
const US = { name: 'us', issuer: 'https://us.zitadel.cloud/', projectId: '222' }

/** The message resolveTenants throws for `input`, checked to be the coded registration error. */
function refusal (t: Test, input: unknown): string {
  const err = thrown(() => resolveTenants(input))
  t.equal(err.code, 'ZITADEL_AUTH_INVALID_OPTION')
  return err.message
}

t.test('each tenant gets its own resolved options, the shared ones in each', async (t) => {
  const [eu, us] = resolveTenants({ tenants: [EU, { ...US, audience: ['222', 'api'] }], jwksCooldown: 3, realm: 'r' })
  t.equal(eu?.tenant, 'eu')
  t.equal(us?.tenant, 'us')
  t.equal(us?.issuer, 'https://us.zitadel.cloud', 'each issuer normalised')
  t.same(us?.audience, ['222', 'api'])
  t.equal(eu?.roleClaim, 'urn:zitadel:iam:org:project:111:roles', 'roles from each tenant\'s own project')
  t.equal(us?.roleClaim, 'urn:zitadel:iam:org:project:222:roles')
  t.equal(eu?.jwksCooldown, 3)
  t.equal(us?.realm, 'r')
  t.equal(eu?.openapi.securityScheme, 'zitadel-eu', 'a scheme per tenant')
  t.match(us?.openapi.description, /Tenant `us`\.$/)
  t.same(Object.keys(us?.openapi.scopes ?? {}), ['openid', 'profile', 'email', 'urn:zitadel:iam:org:project:id:222:aud', 'urn:zitadel:iam:org:projects:roles'])
  t.equal(resolveTenants({ issuer: EU.issuer, projectId: '1', tenants: undefined })[0]?.tenant, undefined, 'without tenants: one, unnamed')
})

t.test('mistakes name the tenant and the option', async (t) => {
  t.match(refusal(t, { tenants: [EU] }), /option "tenants" must be an array of two or more tenants/)
  t.match(refusal(t, { tenants: 'eu' }), /option "tenants" must be an array/)
  t.match(refusal(t, { tenants: [EU, US], issuer: EU.issuer }), /option "issuer" belongs inside each tenant/)
  t.match(refusal(t, { tenants: [EU, US], introspection: {} }), /option "introspection" belongs inside each tenant/)
  t.match(refusal(t, { tenants: [EU, null] }), /option "tenants\[1\]" must be an object/)
  t.match(refusal(t, { tenants: [EU, { ...US, name: 'u s' }] }), /option "tenants\[1\]\.name" must be 1 to 64 letters/)
  t.match(refusal(t, { tenants: [EU, { ...US, name: undefined }] }), /option "tenants\[1\]\.name"/)
  t.match(refusal(t, { tenants: [EU, { ...US, name: 'eu' }] }), /"eu" names two tenants/)
  t.match(refusal(t, { tenants: [EU, { ...US, jwksCooldown: 1 }] }), /option "tenants\[1\]\.jwksCooldown" is not a tenant option/)
  t.match(refusal(t, { tenants: [EU, { ...US, projectId: 'a:b' }] }), /^fastify-zitadel-auth: tenant "us" \(tenants\[1\]\): option "projectId" must be/)
  t.match(refusal(t, { tenants: [EU, { name: 'us', projectId: '2' }] }), /tenant "us" \(tenants\[1\]\): option "issuer" is required/)
  t.match(refusal(t, { tenants: [EU, US], jwksCooldown: -1 }), /^fastify-zitadel-auth: option "jwksCooldown" must be/, 'a shared option is checked once, not blamed on a tenant')
  t.match(refusal(t, { tenants: [EU, US], jwksColdown: 1 }), /^fastify-zitadel-auth: unknown option "jwksColdown"/, 'and so is a misspelt one')
  // eslint-disable-next-line no-sparse-arrays
  t.match(refusal(t, { tenants: [EU, , US] }), /option "tenants\[1\]" must be an object/, 'a hole in the list')
})

t.test('a token must lead to one tenant: overlapping audiences of one issuer, and two introspecting tenants, are refused', async (t) => {
  t.match(refusal(t, { tenants: [EU, { ...US, issuer: [US.issuer, EU.issuer], projectId: '111' }] }),
    /tenants "eu" and "us" share an issuer and the audience "111"/)
  t.match(refusal(t, { tenants: [EU, { ...US, issuer: EU.issuer, audience: ['x', '111'] }] }), /share an issuer and the audience "111"/)
  t.equal(resolveTenants({ tenants: [EU, { ...US, issuer: EU.issuer }] }).length, 2, 'two projects of one instance')
  t.equal(resolveTenants({ tenants: [EU, { ...US, projectId: '111' }] }).length, 2, 'one project id on two instances is no overlap')
  const introspection = { clientId: 'api', clientSecret: 's' }
  t.match(refusal(t, { tenants: [{ ...EU, introspection }, { ...US, introspection }] }), /tenants "eu" and "us" have the introspection option: an opaque token does not say which Zitadel issued it/)
  t.match(refusal(t, { tenants: [{ ...EU, openapi: { securityScheme: 'z' } }, { ...US, openapi: { securityScheme: 'z' } }] }), /the OpenAPI security scheme "z"/)
  t.equal(resolveTenants({ tenants: [{ ...EU, introspection: { ...introspection, tokens: 'all' } }, US], waitForKeys: true }).length, 2,
    'waitForKeys with one tenant that uses no keys: the others\' are waited for')
})

t.test('guards: the tenant option needs tenants and names known ones, at declaration', async (t) => {
  const single = createGuards(createErrorFactory('api'))
  t.match(thrown(() => single.requireAuth({ tenant: 'eu' })), { code: 'ZITADEL_AUTH_INVALID_OPTION', message: /requireAuth: option "tenant" needs the plugin option "tenants"/ })
  const guards = createGuards(createErrorFactory('api'), ['eu', 'us'])
  for (const tenant of ['asia', [], ['eu', 'asia'], 3]) {
    t.match(thrown(() => guards.requireRoles(['admin'], { tenant: tenant as string })), { message: /requireRoles: option "tenant" must name one or more tenants of the plugin option "tenants" \(eu, us\)/ }, JSON.stringify(tenant))
  }
  t.strictSame(guards.requireScopes(['read'], { tenant: ['us', 'eu', 'us'] })[Symbol.for('fastify-zitadel-auth.guard') as never], { kind: 'scopes', scopes: ['read'], any: false, tenants: ['us', 'eu'] })
  t.match(thrown(() => guards.requireClaim('x', { equals: 1 }, { tenant: 'asia' })), { message: /requireClaim: option "tenant"/ })
})

t.test('plugin: a tenant mistake rejects at ready(); fastify.zitadel.tenants lists each', async (t) => {
  const bad = Fastify()
  t.teardown(() => bad.close())
  bad.register(zitadelAuth, { tenants: [EU] } as unknown as ZitadelMultiTenantOptions)
  await t.rejects(async () => { await bad.ready() }, { code: 'ZITADEL_AUTH_INVALID_OPTION' })

  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { tenants: [EU, US] })
  t.same(app.zitadel.tenants.map((o) => o.tenant), ['eu', 'us'])
  t.equal(app.zitadel.options, app.zitadel.tenants[0], 'options: the first tenant\'s')
  t.ok(Object.isFrozen(app.zitadel.tenants))
  t.throws(() => app.zitadel.swaggerUiOptions(), { message: /"clientId" is required in a tenant/ })
})
