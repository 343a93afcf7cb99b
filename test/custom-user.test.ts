import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import zitadelAuth, { ZitadelUser, type ZitadelAuthOptions } from '../lib/index.js'
import { FAST, bearer } from './helpers/app.js'
import { ROLES_SCOPE, addTenant, audScope, codeFlow, startIdp, tenantWithLogins, type Tenant } from './emulator/helpers.js'

/**
 * The formatUser option: request.user as the app's own object, made once per
 * token and cached with it, over real HTTP against the emulator, for JWTs
 * and for opaque tokens through introspection. The guards keep judging the
 * verified ZitadelUser (request.zitadelUser).
 */

const idp = await startIdp()
t.teardown(() => idp.close())

/** The app's own user: a derived field and a method. */
class Member {
  readonly id: string
  readonly isAdmin: boolean
  constructor (user: ZitadelUser) {
    this.id = user.sub
    this.isAdmin = user.hasRole('admin')
  }

  greeting (): string {
    return `hello ${this.id}${this.isAdmin ? ' (admin)' : ''}`
  }
}

interface Counted { calls: number }

async function apiFor (t: Test, tenant: Tenant, formatUser: (user: ZitadelUser) => unknown, options: Partial<ZitadelAuthOptions> = {}): Promise<{ app: FastifyInstance, lines: string[] }> {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: idp.issuer, projectId: tenant.projectId, ...FAST, formatUser: formatUser as never, ...options })
  app.get('/me', { preHandler: app.zitadel.requireAuth() }, async (req) => {
    const member = req.user as unknown as Member
    return { member: member instanceof Member, greeting: member.greeting(), zitadel: req.zitadelUser instanceof ZitadelUser, sub: req.zitadelUser?.sub }
  })
  app.get('/admin', { preHandler: app.zitadel.requireRoles(['admin']) }, async () => ({ admin: true }))
  app.get('/public', async (req) => ({ user: req.user === null ? null : 'set' }))
  await app.ready()
  return { app, lines }
}

function counting (counted: Counted) {
  return (user: ZitadelUser) => {
    counted.calls++
    return new Member(user)
  }
}

t.test('JWTs: request.user is the app\'s object, made once per token; guards judge the ZitadelUser', async (t) => {
  const { tenant, alice, bob } = await tenantWithLogins(idp)
  const counted: Counted = { calls: 0 }
  const { app } = await apiFor(t, tenant, counting(counted))
  const me = (token: string) => app.inject({ url: '/me', headers: bearer(token) })
  t.same((await me(alice)).json(), { member: true, greeting: `hello ${tenant.alice.id} (admin)`, zitadel: true, sub: tenant.alice.id })
  t.equal((await me(alice)).statusCode, 200)
  t.equal((await me(alice)).statusCode, 200)
  t.equal(counted.calls, 1, 'three requests, one call: the result is cached with the token')
  t.same((await me(bob)).json().greeting, `hello ${tenant.bob.id}`)
  t.equal(counted.calls, 2, 'another token, another call')
  t.equal((await app.inject({ url: '/admin', headers: bearer(alice) })).statusCode, 200, 'requireRoles reads the roles of the ZitadelUser')
  t.equal((await app.inject({ url: '/admin', headers: bearer(bob) })).statusCode, 403)
  t.same((await app.inject({ url: '/public' })).json(), { user: null }, 'no token: null, as without the option')
})

t.test('formatUser that throws: 401 ZITADEL_AUTH_USER_REFUSED, logged, not cached', async (t) => {
  const { tenant, alice } = await tenantWithLogins(idp)
  let calls = 0
  const { app, lines } = await apiFor(t, tenant, () => {
    calls++
    throw new Error('no such member in our database')
  })
  for (const attempt of [1, 2]) {
    const res = await app.inject({ url: '/me', headers: bearer(alice) })
    t.equal(res.statusCode, 401, `attempt ${attempt}`)
    t.equal(res.json().code, 'ZITADEL_AUTH_USER_REFUSED')
    t.match(res.headers['www-authenticate'], /error="invalid_token"/)
  }
  t.equal(calls, 2, 'a refusal is not cached: the function runs again')
  const warned = lines.map((l) => JSON.parse(l) as { msg: string, err?: { message: string } }).filter((l) => l.msg.includes('formatUser threw'))
  t.equal(warned.length, 2, 'each refusal is logged')
  t.equal(warned[0]?.err?.message, 'no such member in our database', 'with the function\'s error')
  t.notOk(lines.some((l) => l.includes(alice.split('.')[2] as string)), 'and never the token')
  t.same((await app.inject({ url: '/public', headers: bearer(alice) })).json().code, 'ZITADEL_AUTH_USER_REFUSED', 'on a public route too: the token was sent')
})

t.test('opaque tokens through introspection: made once per token too', async (t) => {
  const tenant = addTenant(idp, { accessTokenType: 'opaque' })
  const api = idp.addApiApp({ projectId: tenant.projectId, name: 'backend' })
  const scope = `openid profile email ${audScope(tenant.projectId)} ${ROLES_SCOPE}`
  const { access_token: token } = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw', { scope })
  const counted: Counted = { calls: 0 }
  const { app } = await apiFor(t, tenant, counting(counted), { introspection: { clientId: api.clientId, clientSecret: api.clientSecret } })
  const results = await Promise.all([1, 2, 3].map(() => app.inject({ url: '/me', headers: bearer(token) })))
  t.same(results.map((r) => r.json().greeting), Array(3).fill(`hello ${tenant.alice.id} (admin)`), 'three requests at once share one call to Zitadel')
  t.equal((await app.inject({ url: '/me', headers: bearer(token) })).statusCode, 200, 'then from the introspection cache')
  t.equal(counted.calls, 1, 'and one call of formatUser')
  t.equal((await app.inject({ url: '/admin', headers: bearer(token) })).statusCode, 200, 'guards judge the ZitadelUser built from the answer')
})

t.test('formatUser is checked at registration', async (t) => {
  const tenant = addTenant(idp)
  for (const formatUser of ['Member', async (user: ZitadelUser) => new Member(user)]) {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => { await app.register(zitadelAuth, { issuer: idp.issuer, projectId: tenant.projectId, formatUser: formatUser as never }) },
      { code: 'ZITADEL_AUTH_INVALID_OPTION', message: /option "formatUser" must be a synchronous function \(user\) => your user object/ }, typeof formatUser)
  }
})
