import t from 'tap'
import Fastify from 'fastify'
import zitadelAuth from '../lib/index.js'
import { guardsOf } from '../lib/guards.js'
import { bearer, setup } from './helpers/app.js'
import { SUB } from '../fixtures/issuer.js'

const now = () => Math.floor(Date.now() / 1000)

/*
 * optionalAuth(): a route anyone may call that answers more to a logged-in
 * user. Every request passes the guard; a token that is sent is still
 * verified by the plugin's onRequest hook.
 */

t.test('optionalAuth: without a token the route answers as anonymous, with one it sees the user', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/hello', { preHandler: app.zitadel.optionalAuth() }, async (req) => ({ user: req.user?.sub ?? null }))
    }
  })
  const anonymous = await app.inject({ url: '/hello' })
  t.equal(anonymous.statusCode, 200)
  t.strictSame(anonymous.json(), { user: null })
  t.equal(anonymous.headers['www-authenticate'], undefined, 'no challenge: the token is optional')

  const other = await app.inject({ url: '/hello', headers: { authorization: 'Basic dXNlcjpwYXNz' } })
  t.equal(other.statusCode, 200, 'another auth scheme counts as no token')
  t.strictSame(other.json(), { user: null })

  const user = await app.inject({ url: '/hello', headers: bearer(await issuer.token()) })
  t.equal(user.statusCode, 200)
  t.strictSame(user.json(), { user: SUB })

  const delegated = await app.inject({ url: '/hello', headers: bearer(await issuer.token({ claims: { act: { sub: '999' } } })) })
  t.equal(delegated.statusCode, 200, 'a delegated token passes too')
})

t.test('optionalAuth: a token that is sent and not accepted is still 401', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/hello', { preHandler: app.zitadel.optionalAuth() }, async (req) => ({ user: req.user?.sub ?? null }))
    }
  })
  const expired = await app.inject({ url: '/hello', headers: bearer(await issuer.token({ claims: { exp: now() - 3600, iat: now() - 7200, nbf: now() - 7200 } })) })
  t.equal(expired.statusCode, 401)
  t.equal(expired.json().code, 'ZITADEL_AUTH_TOKEN_EXPIRED')
  t.match(expired.headers['www-authenticate'], /error="invalid_token"/)

  const garbage = await app.inject({ url: '/hello', headers: bearer('not.a.jwt') })
  t.equal(garbage.statusCode, 401, 'a token that is no JWT is refused, not ignored')
})

t.test('optionalAuth next to a guard that needs a token: the other guard decides', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/both', { preHandler: [app.zitadel.optionalAuth(), app.zitadel.requireRoles(['admin'])] }, async () => 'ok')
    }
  })
  t.equal((await app.inject({ url: '/both' })).statusCode, 401)
  t.equal((await app.inject({ url: '/both', headers: bearer(await issuer.token({ roles: ['user'] })) })).statusCode, 403)
  t.equal((await app.inject({ url: '/both', headers: bearer(await issuer.token({ roles: ['admin'] })) })).statusCode, 200)
})

t.test('optionalAuth carries its requirement, and takes no arguments', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: 'https://my-instance.zitadel.cloud', projectId: '263783958406348951' })
  const guard = app.zitadel.optionalAuth()
  t.equal(guard.name, 'optionalAuth', 'named for stack traces')
  t.strictSame(guardsOf([guard]), [{ kind: 'optional' }])

  const optionalAuth = app.zitadel.optionalAuth as (...args: unknown[]) => unknown
  t.throws(() => optionalAuth({ allowDelegated: false }), { code: 'ZITADEL_AUTH_INVALID_OPTION', message: /optionalAuth: takes no arguments/ },
    'allowDelegated would refuse nothing on a route that lets everyone in')
  t.throws(() => optionalAuth(undefined), { code: 'ZITADEL_AUTH_INVALID_OPTION' })
})

t.test('optionalAuth listed uncalled, or with config.zitadel: false, is refused when the route is declared', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: 'https://my-instance.zitadel.cloud', projectId: '263783958406348951' })
  // A type error too; plain JavaScript gets the message.
  const uncalled: Record<string, unknown> = { preHandler: app.zitadel.optionalAuth }
  t.throws(() => app.get('/a', uncalled, async () => 'ok'), {
    code: 'ZITADEL_AUTH_INVALID_OPTION',
    message: /route GET \/a: preHandler lists app\.zitadel\.optionalAuth itself; call it to get the guard, e\.g\. preHandler: app\.zitadel\.optionalAuth\(\)$/
  })
  // Verification off means request.user is always null: the guard would be a lie.
  t.throws(() => app.get('/b', { preHandler: app.zitadel.optionalAuth(), config: { zitadel: false } }, async () => 'ok'), {
    code: 'ZITADEL_AUTH_INVALID_OPTION',
    message: /config\.zitadel to false but uses a zitadel guard/
  })
})
