import t from 'tap'
import Fastify from 'fastify'
import zitadelAuth from '../lib/index.js'

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
