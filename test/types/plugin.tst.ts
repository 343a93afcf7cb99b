import Fastify, { type FastifyRequest, type FastifyTypeProvider } from 'fastify'
import { Type } from '@sinclair/typebox'
import { expect, test } from 'tstyche'
import { Agent, ProxyAgent } from 'undici'
import zitadelAuth, {
  fastifyZitadelAuth,
  ZitadelUser,
  type Guard,
  type ResolvedOptions,
  type ZitadelActor,
  type ZitadelAuthOptions,
  type ZitadelRoles,
  ZITADEL_ALGORITHMS
} from 'fastify-zitadel-auth'

const app = Fastify()

test('register takes the options', () => {
  expect(app.register).type.toBeCallableWith(zitadelAuth, { issuer: 'https://x.zitadel.cloud', projectId: '1' })
  expect(app.register).type.toBeCallableWith(fastifyZitadelAuth, {
    issuer: 'https://x.zitadel.cloud',
    projectId: '1',
    clientId: 'c',
    audience: ['1', '2'],
    allowedClientIds: ['a'],
    allowedSubjects: ['263785111111111111'],
    algorithms: ['RS256', 'ES256', 'EdDSA'],
    clockTolerance: 5,
    jwksCacheTtl: 600,
    jwksCooldown: 0.5,
    jwksMaxStale: 60,
    httpTimeout: 2,
    claimsSchema: Type.Object({ email: Type.String() }),
    realm: 'my-api',
    allowInsecureIssuer: false
  })
})

test('issuer: one URL or the domains of one instance', () => {
  expect(app.register).type.toBeCallableWith(zitadelAuth, { issuer: ['https://auth.example.com', 'https://x.zitadel.cloud'], projectId: '1' })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { issuer: [1], projectId: '1' })
  expect(app.zitadel.options.issuers).type.toBe<readonly string[]>()
  expect(app.zitadel.options.allowedSubjects).type.toBe<readonly string[] | undefined>()
  expect(app.register).type.toBeCallableWith(zitadelAuth, { issuer: 'https://x', projectId: '1', algorithms: [...ZITADEL_ALGORITHMS] })
})

test('register refuses wrong options', () => {
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { issuer: 'https://x.zitadel.cloud' })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { projectId: '1' })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { issuer: 'https://x', projectId: 1 })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { issuer: 'https://x', projectId: '1', algorithms: ['HS256'] })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { issuer: 'https://x', projectId: '1', algorithms: ['none'] })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { issuer: 'https://x', projectId: '1', clockTolerance: '5' })
  expect<ZitadelAuthOptions>().type.not.toBeAssignableFrom({ issuer: 'https://x', projectId: '1', clockTolerence: 5 })
})

test('the decorator', () => {
  expect(app.zitadel.options).type.toBe<ResolvedOptions>()
  expect(app.zitadel.requireAuth()).type.toBe<Guard>()
  expect(app.zitadel.requireRoles(['admin'])).type.toBe<Guard>()
  expect(app.zitadel.requireRoles(['admin'], { any: true, orgId: '1' })).type.toBe<Guard>()
  expect(app.zitadel.requireRoles(['admin'], { orgId: (req: FastifyRequest) => (req.params as { orgId?: string }).orgId })).type.toBe<Guard>()
  expect(app.zitadel.requireRoles(['viewer'], { orgId: (req) => req.params.orgId })).type.toBe<Guard>()
  expect(app.zitadel.requireRoles).type.not.toBeCallableWith(['viewer'], { orgId: (req: FastifyRequest) => 5 })
  expect(app.zitadel.requireScopes(['read'])).type.toBe<Guard>()
  expect(app.zitadel.requireAuth({ allowDelegated: false })).type.toBe<Guard>()
  expect(app.zitadel.requireRoles(['admin'], { allowDelegated: false, any: true })).type.toBe<Guard>()
  expect(app.zitadel.requireScopes(['read'], { allowDelegated: false })).type.toBe<Guard>()
  expect(app.zitadel.requireAuth).type.not.toBeCallableWith({ allowDelegated: 'no' })
  expect(app.zitadel.optionalAuth()).type.toBe<Guard>()
  expect(app.zitadel.optionalAuth).type.not.toBeCallableWith({ allowDelegated: false })
  expect(app.zitadel.verify('t')).type.toBe<Promise<ZitadelUser>>()
  expect(app.zitadel.requireRoles).type.not.toBeCallableWith('admin')
  expect(app.zitadel.requireRoles).type.not.toBeCallableWith(['admin'], { any: 'yes' })
  expect(app.zitadel.requireRoles).type.not.toBeCallableWith(['admin'], { orgId: 5 })
  expect(app.zitadel.options.issuer).type.toBe<string>()
  expect(app.zitadel.options).type.not.toHaveProperty('secret')
})

test('status() for readiness routes', () => {
  const status = app.zitadel.status()
  expect(status.ready).type.toBe<boolean>()
  expect(status.keys?.fetchedAt).type.toBe<string | undefined>()
  expect(status.introspection?.coolingDown).type.toBe<boolean | undefined>()
  expect<ZitadelAuthOptions>().type.toBeAssignableFrom({ issuer: 'https://a.example', projectId: '1', waitForKeys: true })
  expect<ZitadelAuthOptions>().type.toBeAssignableFrom({ issuer: 'https://a.example', projectId: '1', cookie: { name: 'access_token', unsafeMethods: true } })
  expect<ZitadelAuthOptions>().type.not.toBeAssignableFrom({ issuer: 'https://a.example', projectId: '1', cookie: 'access_token' })
  expect(app.zitadel.options.cookie?.unsafeMethods).type.toBe<boolean | undefined>()
})

test('an undici dispatcher for the requests to Zitadel', () => {
  expect<ZitadelAuthOptions>().type.toBeAssignableFrom({ issuer: 'https://a.example', projectId: '1', dispatcher: new ProxyAgent('http://proxy:3128') })
  expect<ZitadelAuthOptions>().type.toBeAssignableFrom({ issuer: 'https://a.example', projectId: '1', dispatcher: new Agent({ connect: { ca: 'pem' } }) })
  expect<ZitadelAuthOptions>().type.not.toBeAssignableFrom({ issuer: 'https://a.example', projectId: '1', dispatcher: 'http://proxy:3128' })
})

test('composed and claim guards, and the plugin\'s errors', () => {
  const { anyOf, requireClaim, requireRoles, requireScopes } = app.zitadel
  expect(requireScopes(['read', 'write'], { any: true })).type.toBe<Guard>()
  expect(requireScopes).type.not.toBeCallableWith(['read'], { any: 1 })
  expect(anyOf([requireScopes(['read']), requireRoles(['reader'])])).type.toBe<Guard>()
  expect(anyOf).type.not.toBeCallableWith([async () => {}])
  expect(requireClaim('sub', { equals: 'u1' })).type.toBe<Guard>()
  expect(requireClaim('email_verified', { equals: true }, { description: 'a verified email' })).type.toBe<Guard>()
  expect(requireClaim('sub', { equals: (req) => req.params.userId })).type.toBe<Guard>()
  expect(requireClaim('groups', { includes: ['staff'] })).type.toBe<Guard>()
  expect(requireClaim('groups', { satisfies: (value, req) => Array.isArray(value) && req.method === 'GET' })).type.toBe<Guard>()
  expect(requireClaim).type.not.toBeCallableWith('sub', { equals: { a: 1 } })
  expect(requireClaim).type.not.toBeCallableWith('sub', { matches: 'x' })
  expect(requireClaim).type.not.toBeCallableWith('sub', { satisfies: (value: unknown) => 'yes' })
  expect(app.zitadel.forbidden()).type.toBeAssignableTo<Error>()
  expect(app.zitadel.unauthorized()).type.toBeAssignableTo<Error>()
})

test('guards fit route options', () => {
  app.get('/a', { preHandler: app.zitadel.requireRoles(['user']) }, async () => 'ok')
  app.get('/b', { preHandler: [app.zitadel.requireAuth(), app.zitadel.requireScopes(['x'])] }, async () => 'ok')
  app.get('/c', { config: { zitadel: false } }, async () => 'ok')
  app.get('/e', { preHandler: app.zitadel.optionalAuth() }, async (request) => request.user?.sub ?? null)
  app.get('/f', { preHandler: [app.zitadel.optionalAuth(), app.zitadel.requireRoles(['admin'])] }, async () => 'ok')
  expect(app.get).type.not.toBeCallableWith('/g', { preHandler: app.zitadel.optionalAuth }, async () => 'ok')
  expect(app.get).type.not.toBeCallableWith('/d', { config: { zitadel: true } }, async () => 'ok')
})

/** A type provider of one's own, as TypeBox's or Zod's would be. */
interface StringProvider extends FastifyTypeProvider {
  validator: string
  serializer: string
}

test('guardRoutes: a scope, then one guard or several', () => {
  const { guardRoutes, requireAuth, requireRoles } = app.zitadel
  app.register(async (scope) => {
    expect(guardRoutes(scope, requireAuth())).type.toBe<void>()
    expect(guardRoutes).type.toBeCallableWith(scope, [requireAuth(), requireRoles(['admin'])])
    expect(guardRoutes).type.not.toBeCallableWith(scope)
    expect(guardRoutes).type.not.toBeCallableWith(scope, requireAuth)
    expect(guardRoutes).type.not.toBeCallableWith(scope, async () => {})
    expect(guardRoutes).type.not.toBeCallableWith(scope, [requireAuth(), async () => {}])
  })
  expect(guardRoutes).type.not.toBeCallableWith({}, requireAuth())
  expect(guardRoutes).type.not.toBeCallableWith(requireAuth())
  // Whatever the instance's server, logger or type provider.
  Fastify({ http2: true }).withTypeProvider<StringProvider>().register(async (scope) => {
    expect(guardRoutes).type.toBeCallableWith(scope, requireAuth())
  })
})

test('request.user', () => {
  app.get('/me', async (request) => {
    expect(request.user).type.toBe<ZitadelUser | null>()
    if (request.user !== null) {
      expect(request.user.sub).type.toBe<string>()
      expect(request.user.clientId).type.toBe<string | undefined>()
      expect(request.user.orgId).type.toBe<string | undefined>()
      expect(request.user.roles).type.toBe<ZitadelRoles>()
      expect(request.user.scopes).type.toBe<readonly string[]>()
      expect(request.user.token).type.toBe<string>()
      expect(request.user.actor).type.toBe<ZitadelActor | undefined>()
      expect(request.user.actor?.actor).type.toBe<ZitadelActor | undefined>()
      expect(request.user.metadata).type.toBe<Readonly<Record<string, string>>>()
      expect(request.user.hasRole('admin', 'org')).type.toBe<boolean>()
      expect(request.user.claims.exp).type.toBe<number>()
      expect(request.user.claims['urn:zitadel:iam:user:resourceowner:id']).type.toBe<string | undefined>()
      expect(request.user.roles.admin).type.toBe<Readonly<Record<string, string>>>()
      expect(request.user).type.not.toBeAssignableFrom({ sub: 'x' })
    }
    return 'ok'
  })
})

test('only the plugin builds users', () => {
  expect(ZitadelUser).type.not.toBeConstructableWith('token', { sub: 'x' }, 'urn:zitadel:iam:org:project:1:roles')
})
