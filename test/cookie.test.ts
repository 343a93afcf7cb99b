import cookiePlugin from '@fastify/cookie'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import zitadelAuth, { type ZitadelAuthOptions } from '../lib/index.js'
import { FAST, bearer } from './helpers/app.js'
import { addTenant, startIdp, tenantWithLogins, type Tenant } from './emulator/helpers.js'

/**
 * The `cookie` option: an access token from an HttpOnly cookie (with
 * @fastify/cookie), over real HTTP against the emulator. The header wins;
 * unsafe methods ignore the cookie unless told otherwise (CSRF); the token
 * never reaches the log.
 */

const idp = await startIdp()
t.teardown(() => idp.close())

const people = () => tenantWithLogins(idp)

async function apiFor (t: Test, tenant: Tenant, cookie: ZitadelAuthOptions['cookie'], lines: string[] = []): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: 'trace', stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: idp.issuer, projectId: tenant.projectId, ...FAST, cookie })
  await app.register(cookiePlugin)
  app.get('/me', { preHandler: app.zitadel.requireAuth() }, async (req) => ({ sub: req.user?.sub }))
  app.post('/me', { preHandler: app.zitadel.requireAuth() }, async (req) => ({ sub: req.user?.sub }))
  app.get('/admin', { preHandler: app.zitadel.requireRoles(['admin']) }, async () => ({ admin: true }))
  app.get('/public', async (req) => ({ user: req.user?.sub ?? null }))
  await app.ready()
  return app
}

const withCookie = (token: string, name = 'access_token') => ({ cookie: `theme=dark; ${name}=${token}` })

t.test('a token from the cookie: accepted, roles checked, bad ones refused', async (t) => {
  const { tenant, bob, alice } = await people()
  const lines: string[] = []
  const api = await apiFor(t, tenant, { name: 'access_token' }, lines)
  t.same((await api.inject({ url: '/me', headers: withCookie(bob) })).json(), { sub: tenant.bob.id }, 'bob from his cookie')
  t.equal((await api.inject({ url: '/admin', headers: withCookie(bob) })).statusCode, 403, 'roles are checked as for a header')
  t.equal((await api.inject({ url: '/admin', headers: withCookie(alice) })).statusCode, 200)
  t.equal((await api.inject({ url: '/me', headers: withCookie(bob) })).statusCode, 200, 'the second time from the token cache')

  const forged = await api.inject({ url: '/public', headers: withCookie(`${bob.slice(0, -4)}AAAA`) })
  t.equal(forged.statusCode, 401, 'a forged token in the cookie is refused, on a public route too (RFC 6750 §3)')
  t.equal(forged.json().code, 'ZITADEL_AUTH_SIGNATURE_INVALID')
  const junk = await api.inject({ url: '/public', headers: withCookie('not%20a%20token') })
  t.equal(junk.statusCode, 401, 'a cookie that holds no token: 401, not the header\'s 400')
  t.equal(junk.json().code, 'ZITADEL_AUTH_TOKEN_MALFORMED')
  t.same((await api.inject({ url: '/public', headers: { cookie: 'access_token=' } })).json(), { user: null }, 'an empty cookie is no token')
  t.same((await api.inject({ url: '/public', headers: withCookie(bob, 'other') })).json(), { user: null }, 'another cookie is not read')
  t.notOk(lines.some((line) => line.includes(bob.split('.')[2] as string)), 'the token never reaches the log')
})

t.test('a Bearer header wins over the cookie', async (t) => {
  const { tenant, bob, alice } = await people()
  const api = await apiFor(t, tenant, { name: 'access_token' })
  t.same((await api.inject({ url: '/me', headers: { ...withCookie(bob), ...bearer(alice) } })).json(), { sub: tenant.alice.id }, 'the header\'s user')
  const badHeader = await api.inject({ url: '/me', headers: { ...withCookie(bob), ...bearer('bad token') } })
  t.equal(badHeader.statusCode, 400, 'a malformed Bearer header is not rescued by the cookie')
  t.same((await api.inject({ url: '/me', headers: { ...withCookie(bob), authorization: 'Basic dTpw' } })).json(), { sub: tenant.bob.id }, 'another scheme in the header: the cookie is read')
})

t.test('unsafe methods ignore the cookie unless unsafeMethods is set (CSRF)', async (t) => {
  const { tenant, bob } = await people()
  const strict = await apiFor(t, tenant, { name: 'access_token' })
  const refused = await strict.inject({ method: 'POST', url: '/me', headers: withCookie(bob) })
  t.equal(refused.statusCode, 401, 'POST with only the cookie: no token')
  t.equal(refused.json().code, 'ZITADEL_AUTH_TOKEN_MISSING')
  t.equal((await strict.inject({ method: 'POST', url: '/me', headers: bearer(bob) })).statusCode, 200, 'POST with the header works')
  t.equal((await strict.inject({ method: 'HEAD', url: '/me', headers: withCookie(bob) })).statusCode, 200, 'HEAD is safe')

  const open = await apiFor(t, tenant, { name: 'access_token', unsafeMethods: true })
  t.same((await open.inject({ method: 'POST', url: '/me', headers: withCookie(bob) })).json(), { sub: tenant.bob.id }, 'with unsafeMethods: true')
})

t.test('without the option, the cookie is never read', async (t) => {
  const { tenant, bob } = await people()
  const api = await apiFor(t, tenant, undefined)
  t.same((await api.inject({ url: '/public', headers: withCookie(bob) })).json(), { user: null })
})

t.test('the cookie option is checked at registration, and @fastify/cookie at ready', async (t) => {
  const tenant = addTenant(idp)
  for (const [cookie, message] of [
    ['access_token', /option "cookie" must be an object \{ name, unsafeMethods\? \}/],
    [{ name: 'a b' }, /option "cookie" must be/],
    [{ name: '' }, /option "cookie" must be/],
    [{ name: 'at', unsafeMethods: 'yes' }, /option "cookie" must be/],
    [{ name: 'at', sameSite: 'strict' }, /option "cookie" must be/]
  ] as const) {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => { await app.register(zitadelAuth, { issuer: idp.issuer, projectId: tenant.projectId, cookie: cookie as never }) },
      { code: 'ZITADEL_AUTH_INVALID_OPTION', message }, JSON.stringify(cookie))
  }
  const noCookiePlugin = Fastify()
  t.teardown(() => noCookiePlugin.close())
  await noCookiePlugin.register(zitadelAuth, { issuer: idp.issuer, projectId: tenant.projectId, ...FAST, cookie: { name: 'access_token' } })
  await t.rejects(async () => { await noCookiePlugin.ready() },
    { code: 'ZITADEL_AUTH_INVALID_OPTION', message: /option "cookie" reads request.cookies, which @fastify\/cookie provides/ })
})
