import t from 'tap'
import Fastify from 'fastify'
import zitadelAuth, { GuardNotCalledError } from '../lib/index.js'
import { bearer, issuerFor } from './helpers/app.js'
import { SUB } from '../fixtures/issuer.js'

/*
 * Mistakes in how routes use the plugin are caught when the route is
 * declared, with a message that names the route and the fix, never on a
 * request (where they were a 500 for every request, or a request that hangs).
 */

async function appWithPlugin () {
  const app = Fastify()
  await app.register(zitadelAuth, { issuer: 'https://my-instance.zitadel.cloud', projectId: '263783958406348951' })
  return app
}

t.test('a guard factory listed uncalled is refused when the route is declared, in any hook position', async (t) => {
  const app = await appWithPlugin()
  t.teardown(() => app.close())
  const { requireAuth, requireRoles, requireScopes } = app.zitadel
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['requireRoles in preHandler', { preHandler: requireRoles }, /route GET \/a0: preHandler lists app\.zitadel\.requireRoles itself; call it to get the guard, e\.g\. preHandler: app\.zitadel\.requireRoles\(\['…'\]\)/],
    ['requireAuth in preHandler', { preHandler: requireAuth }, /preHandler lists app\.zitadel\.requireAuth itself; .* preHandler: app\.zitadel\.requireAuth\(\)/],
    ['requireScopes in a list', { preHandler: [requireAuth(), requireScopes] }, /preHandler lists app\.zitadel\.requireScopes itself/],
    ['requireAuth in onRequest', { onRequest: requireAuth }, /onRequest lists app\.zitadel\.requireAuth itself/],
    ['requireRoles in preValidation', { preValidation: [requireRoles] }, /preValidation lists app\.zitadel\.requireRoles itself/],
    ['requireAuth in onSend', { onSend: requireAuth }, /onSend lists app\.zitadel\.requireAuth itself/]
  ]
  let i = 0
  for (const [name, options, message] of cases) {
    const url = `/a${i++}`
    t.throws(() => app.get(url, options, async () => 'ok'), { code: 'ZITADEL_AUTH_INVALID_OPTION', message }, name)
  }
  app.get('/fine', { preHandler: [requireAuth(), requireRoles(['admin']), requireScopes(['read'])] }, async () => 'ok')
  await app.ready()
  t.equal((await app.inject({ url: '/fine' })).statusCode, 401, 'called guards are fine')
})

t.test('a guard factory added uncalled with app.addHook answers 500 GUARD_NOT_CALLED naming the fix, instead of hanging', async (t) => {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'error', stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: 'https://my-instance.zitadel.cloud', projectId: '263783958406348951' })
  const { requireAuth, optionalAuth, requireRoles, requireScopes } = app.zitadel
  const hooks = { '/auth': requireAuth, '/optional': optionalAuth, '/roles': requireRoles, '/scopes': requireScopes } as Record<string, unknown>
  await app.register(async (child) => {
    for (const [url, factory] of Object.entries(hooks)) {
      await child.register(async (scope) => {
        scope.addHook('preHandler', factory as never)
        scope.get(url, async () => 'ok')
      })
    }
  })
  await app.ready()
  for (const [url, factory] of Object.entries(hooks)) {
    const name = (factory as { name: string }).name
    const res = await app.inject({ url })
    t.equal(res.statusCode, 500, `${name}: 500`)
    t.equal(res.json().code, 'ZITADEL_AUTH_GUARD_NOT_CALLED', `${name}: its own code, not INVALID_OPTION`)
    const call = name === 'requireAuth' || name === 'optionalAuth' ? `${name}()` : `${name}(['…'])`
    t.equal(res.json().message, `fastify-zitadel-auth: app.zitadel.${name} was added as a hook without being called; call it to get the guard, e.g. app.addHook('preHandler', app.zitadel.${call})`, `${name}: the message names the fix`)
  }
  t.equal(lines.filter((l) => l.includes('ZITADEL_AUTH_GUARD_NOT_CALLED')).length, 4, 'Fastify logs each at error')
  t.equal(new GuardNotCalledError('x').code, 'ZITADEL_AUTH_GUARD_NOT_CALLED', 'its constructor is exported by name')
})

t.test('routes declared before the plugin still have their tokens checked, and a warning says to register the plugin first', async (t) => {
  const issuer = await issuerFor(t)
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(() => app.close())
  app.get('/early', async (req) => ({ user: req.user?.sub ?? null, isNull: req.user === null }))
  app.get('/early-health', { config: { zitadel: false } }, async () => ({ ok: true }))
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, jwksCooldown: 0.2 })
  app.get('/late', async (req) => ({ user: req.user?.sub ?? null }))
  await app.ready()

  const token = await issuer.token()
  const forged = `${token.slice(0, -4)}AAAA`
  t.same((await app.inject({ url: '/early' })).json(), { user: null, isNull: true }, 'no token: request.user is null, never undefined')
  t.same((await app.inject({ url: '/early', headers: bearer(token) })).json(), { user: SUB, isNull: false }, 'a valid token sets request.user')
  const res = await app.inject({ url: '/early', headers: bearer(forged) })
  t.equal(res.statusCode, 401, 'a forged token is refused')
  t.equal(res.json().code, 'ZITADEL_AUTH_SIGNATURE_INVALID')
  t.equal((await app.inject({ url: '/early-health', headers: bearer(forged) })).statusCode, 200, 'config.zitadel: false is still honoured')
  t.equal((await app.inject({ url: '/late', headers: bearer(forged) })).statusCode, 401, 'routes declared after: as always')
  t.equal((await app.inject({ url: '/nowhere', headers: bearer(forged) })).statusCode, 404, 'unknown routes stay 404')

  const warnings = lines.map((l) => JSON.parse(l) as { msg: string, route?: string }).filter((l) => /declared before fastify-zitadel-auth/.test(l.msg))
  t.same(warnings.map((w) => w.route), ['GET /early', 'GET /early-health'], 'one warning per route, naming it')
  t.notOk(lines.some((line) => line.includes(token.slice(0, -4))), 'no token in the log')
})

t.test('the app-level hook for routes declared before the plugin is added only when there are such routes', async (t) => {
  const first = await appWithPlugin()
  t.teardown(() => first.close())
  first.get('/late', async () => 'ok')
  await first.ready()
  t.notMatch(first.printRoutes({ includeHooks: true }), /zitadelRoutesDeclaredBefore/, 'plugin first: no hook on any request')

  const late = Fastify()
  t.teardown(() => late.close())
  late.register(async (child) => { child.get('/early', async () => 'ok') })
  await late.register(zitadelAuth, { issuer: 'https://my-instance.zitadel.cloud', projectId: '263783958406348951' })
  await late.ready()
  t.match(late.printRoutes({ includeHooks: true }), /zitadelRoutesDeclaredBefore/, 'a route in a plugin registered before: the hook is there')
  t.equal((await late.inject({ url: '/early', headers: { authorization: 'Bearer not-a-jws' } })).statusCode, 401, 'and checks its tokens')
})
