import swagger from '@fastify/swagger'
import { Validator } from '@seriousme/openapi-schema-validator'
import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import t from 'tap'
import zitadelAuth from '../lib/index.js'
import { bearer, FAST, issuerFor, type Teardown } from './helpers/app.js'
import { CLIENT_ID, type TestIssuer } from '../fixtures/issuer.js'
import { thrown } from './helpers/assertions.js'

/*
 * app.zitadel.guardRoutes(scope, guards): the guards of a group of routes,
 * the Fastify counterpart of a FastAPI router's dependencies. They become
 * route options of each route declared later in the scope and its child
 * plugins, so they are enforced and documented, and nowhere else.
 */

type Doc = Record<string, any>
type CodedError = Error & { code?: string }

async function pluginApp (t: Teardown, issuer: TestIssuer): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, clientId: CLIENT_ID, ...FAST })
  return app
}

t.test('Fastify\'s encapsulation, which guardRoutes relies on: a scope\'s onRoute hooks see its routes and its children\'s, no others', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  const seen: string[] = []
  app.get('/before', async () => 'ok')
  await app.register(async (scope) => {
    scope.addHook('onRoute', (route) => { if (route.method === 'GET') seen.push(route.url) })
    scope.get('/own', async () => 'ok')
    scope.register(async (child) => { child.get('/child', async () => 'ok') })
  })
  app.register(async (sibling) => { sibling.get('/sibling', async () => 'ok') })
  app.get('/after', async () => 'ok')
  await app.ready()
  t.strictSame(seen, ['/own', '/child'], 'neither the parent\'s routes nor a sibling\'s')
})

t.test('the guards reach every route declared later in the scope and its child plugins, and no other route', async (t) => {
  const issuer = await issuerFor(t)
  const app = await pluginApp(t, issuer)
  const { guardRoutes, requireRoles } = app.zitadel
  app.get('/public', async () => 'public')
  await app.register(async (admin) => {
    // Registered before the call, loaded after it: it is guarded too.
    admin.register(async (early) => { early.get('/early', async () => 'early') })
    guardRoutes(admin, requireRoles(['admin']))
    admin.get('/users', async (req) => ({ user: req.user?.sub }))
    admin.post('/users', { preHandler: [] }, async () => 'created')
    admin.register(async (reports) => { reports.get('/', async () => 'reports') }, { prefix: '/reports' })
    // A fastify-plugin plugin shares the scope's instance.
    admin.register(fp(async (shared) => { shared.get('/shared', async () => 'shared') }))
  }, { prefix: '/admin' })
  app.register(async (sibling) => { sibling.get('/sibling', async () => 'sibling') })
  app.get('/later', async () => 'later')
  await app.ready()

  const guarded = [['GET', '/admin/users'], ['POST', '/admin/users'], ['GET', '/admin/early'], ['GET', '/admin/reports'], ['GET', '/admin/shared'], ['HEAD', '/admin/users']] as const
  const user = await issuer.token()
  const adminToken = await issuer.token({ roles: ['admin'] })
  for (const [method, url] of guarded) {
    const none = await app.inject({ method, url })
    t.equal(none.statusCode, 401, `${method} ${url}: 401 without a token`)
    t.equal(none.headers['www-authenticate'], 'Bearer realm="api"')
    const forbidden = await app.inject({ method, url, headers: bearer(user) })
    t.equal(forbidden.statusCode, 403, `${method} ${url}: 403 without the role`)
    if (method === 'GET') t.equal(forbidden.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
    t.equal((await app.inject({ method, url, headers: bearer(adminToken) })).statusCode, 200, `${method} ${url}: 200 with it`)
  }
  for (const url of ['/public', '/sibling', '/later']) {
    t.equal((await app.inject({ url })).statusCode, 200, `${url}: outside the scope, untouched`)
  }
})

t.test('the scope\'s guards run first: outer scope, inner scope, then the route\'s own', async (t) => {
  const issuer = await issuerFor(t)
  const app = await pluginApp(t, issuer)
  const { guardRoutes, requireAuth, requireRoles, requireScopes } = app.zitadel
  const preHandlers = new Map<string, string[]>()
  // Added after the plugin's, so it sees the route options the plugin's hook leaves.
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.method === 'GET') preHandlers.set(route.url, [route.preHandler ?? []].flat().map((h) => h.name))
  })
  await app.register(async (outer) => {
    guardRoutes(outer, requireAuth())
    guardRoutes(outer, [requireRoles(['user'])])
    outer.get('/plain', async () => 'ok')
    outer.register(async (inner) => {
      guardRoutes(inner, requireRoles(['admin']))
      inner.get('/own', { preHandler: requireScopes(['write']) }, async () => 'ok')
    })
  })
  await app.ready()
  t.strictSame(preHandlers.get('/plain'), ['requireAuth', 'requireRoles'], 'two calls add up')
  t.strictSame(preHandlers.get('/own'), ['requireAuth', 'requireRoles', 'requireRoles', 'requireScopes'])

  const res = await app.inject({ url: '/own', headers: bearer(await issuer.token({ roles: ['user'] })) })
  t.equal(res.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED', 'the inner scope\'s role is checked before the route\'s scope')
  const scoped = await app.inject({ url: '/own', headers: bearer(await issuer.token({ roles: ['user', 'admin'] })) })
  t.equal(scoped.json().code, 'ZITADEL_AUTH_SCOPE_REQUIRED', 'then the route\'s own guard')
  const ok = await app.inject({ url: '/own', headers: bearer(await issuer.token({ roles: ['user', 'admin'], claims: { scope: 'write' } })) })
  t.equal(ok.statusCode, 200)
})

t.test('routes of a guardRoutes scope are documented; routes behind a plain addHook are not', async (t) => {
  const issuer = await issuerFor(t)
  const app = await pluginApp(t, issuer)
  await app.register(swagger, app.zitadel.swaggerOptions({ openapi: { info: { title: 'My API', version: '1.0.0' } } }))
  const { guardRoutes, requireRoles, requireScopes, optionalAuth } = app.zitadel
  await app.register(async (admin) => {
    guardRoutes(admin, requireRoles(['admin']))
    admin.get('/users', async () => [])
    admin.get('/reports', { preHandler: requireScopes(['reports:read']) }, async () => [])
  }, { prefix: '/admin' })
  await app.register(async (hooked) => {
    hooked.addHook('preHandler', requireRoles(['admin']))
    hooked.get('/users', async () => [])
  }, { prefix: '/hooked' })
  await app.register(async (open) => {
    guardRoutes(open, optionalAuth())
    open.get('/hello', async () => 'hello')
  }, { prefix: '/open' })
  await app.ready()

  const doc = app.swagger() as Doc
  const users = doc.paths['/admin/users'].get
  t.strictSame(users.security, [{ zitadel: [] }])
  t.equal(users.responses['403'].description, 'Requires the Zitadel role `admin` (`ZITADEL_AUTH_ROLE_REQUIRED`)')
  t.ok(users.responses['401'], 'the 401 too')
  const reports = doc.paths['/admin/reports'].get
  t.strictSame(reports.security, [{ zitadel: ['reports:read'] }], 'with the route\'s own guard')
  t.equal(reports.responses['403'].description,
    'Requires the Zitadel role `admin` (`ZITADEL_AUTH_ROLE_REQUIRED`), and the scope `reports:read` (`ZITADEL_AUTH_SCOPE_REQUIRED`)')
  t.strictSame(doc.paths['/open/hello'].get.security, [{}, { zitadel: [] }], 'optionalAuth for a scope: the token is optional')

  const hooked = doc.paths['/hooked/users'].get
  t.equal(hooked.security, undefined, 'an app-level hook is invisible to the document: the route looks public')
  t.strictSame(hooked.responses, { 200: { description: 'Default Response' } })
  t.equal((await app.inject({ url: '/hooked/users' })).statusCode, 401, 'though the hook is enforced')

  const result = await new Validator().validate(structuredClone(doc) as never)
  t.ok(result.valid, 'the document validates against the OpenAPI 3 schema')
})

t.test('config.zitadel false in a guarded scope is refused when the route is declared', async (t) => {
  const issuer = await issuerFor(t)
  const app = await pluginApp(t, issuer)
  let err: CodedError | undefined
  app.register(async (admin) => {
    app.zitadel.guardRoutes(admin, app.zitadel.requireRoles(['admin']))
    err = thrown(() => admin.get('/health', { config: { zitadel: false } }, async () => 'ok'))
  }, { prefix: '/admin' })
  app.get('/health', { config: { zitadel: false } }, async () => 'ok')
  await app.ready()
  t.equal(err?.code, 'ZITADEL_AUTH_INVALID_OPTION')
  t.match(err?.message, 'route GET /admin/health sets config.zitadel to false in a scope whose routes app.zitadel.guardRoutes guards')
  t.match(err?.message, 'declare the route outside that scope')
  t.equal((await app.inject({ url: '/health' })).statusCode, 200, 'outside the scope, opting out is fine')
})

t.test('guardRoutes refuses what it cannot honour, when it is called', async (t) => {
  const issuer = await issuerFor(t)
  const app = await pluginApp(t, issuer)
  const z = app.zitadel
  const refused = (what: string, fn: () => void, message: RegExp | string) => {
    const err = thrown(fn)
    t.equal(err.code, 'ZITADEL_AUTH_INVALID_OPTION', `${what}: code`)
    t.match(err.message, message, `${what}: says why`)
  }
  const notAScope = /guardRoutes: the first argument must be the Fastify instance whose routes to guard/
  refused('no scope', () => z.guardRoutes(undefined as never, z.requireAuth()), notAScope)
  refused('an object', () => z.guardRoutes({} as never, z.requireAuth()), notAScope)
  refused('a scope without the plugin', () => z.guardRoutes(Fastify(), z.requireAuth()), notAScope)
  refused('no guards', () => z.guardRoutes(app, []), 'guardRoutes: takes a guard or a non-empty array of guards')
  refused('a hook of one\'s own', () => z.guardRoutes(app, (async () => {}) as never),
    'guardRoutes: the second argument is not a guard of this plugin; add hooks of your own with scope.addHook')
  refused('one in an array', () => z.guardRoutes(app, [z.requireAuth(), 'admin' as never]), 'guardRoutes: guards[1] is not a guard of this plugin')
  refused('an uncalled factory', () => z.guardRoutes(app, z.requireAuth as never),
    'guardRoutes: app.zitadel.requireAuth is listed without being called; list app.zitadel.requireAuth() instead')
  refused('one in an array', () => z.guardRoutes(app, [z.requireAuth(), z.requireRoles as never]),
    "list app.zitadel.requireRoles(['…']) instead")

  await t.test('routes declared in the scope before the call', async (t) => {
    const app = await pluginApp(t, issuer)
    let err: CodedError | undefined
    await app.register(async (scope) => {
      scope.get('/first', async () => 'ok')
      err = thrown(() => app.zitadel.guardRoutes(scope, app.zitadel.requireAuth()))
    })
    t.equal(err?.code, 'ZITADEL_AUTH_INVALID_OPTION')
    t.match(err?.message, 'guardRoutes: routes were already declared in this scope or its child plugins, and would not be guarded; call guardRoutes first in the scope')
    err = thrown(() => app.zitadel.guardRoutes(app, app.zitadel.requireAuth()))
    t.match(err.message, 'routes were already declared', 'the root counts the routes of its children')
  })

  await t.test('routes of a child plugin that was loaded before the call', async (t) => {
    const app = await pluginApp(t, issuer)
    let err: CodedError | undefined
    await app.register(async (scope) => {
      await scope.register(async (child) => { child.get('/child', async () => 'ok') })
      err = thrown(() => app.zitadel.guardRoutes(scope, app.zitadel.requireAuth()))
    })
    t.match(err?.message, 'routes were already declared')
  })
})

t.test('on the root, before any route: every route of the app is guarded', async (t) => {
  const issuer = await issuerFor(t)
  const app = await pluginApp(t, issuer)
  app.zitadel.guardRoutes(app, app.zitadel.requireAuth())
  app.get('/a', async () => 'a')
  app.register(async (child) => { child.get('/b', async () => 'b') })
  await app.ready()
  for (const url of ['/a', '/b']) t.equal((await app.inject({ url })).statusCode, 401, url)
  t.equal((await app.inject({ url: '/b', headers: bearer(await issuer.token()) })).statusCode, 200)
})
