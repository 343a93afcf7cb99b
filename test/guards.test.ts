import t from 'tap'
import { createErrorFactory } from '../lib/errors.js'
import { createGuards, guardsOf, kGuard } from '../lib/guards.js'
import { bearer, setup } from './helpers/app.js'
import { ORG_DOMAIN, ORG_ID, PROJECT_ID } from '../fixtures/issuer.js'

const ROLE_CLAIM = `urn:zitadel:iam:org:project:${PROJECT_ID}:roles`
const OTHER_ORG = '999999999999999999'
const MISSING = 'Bearer realm="api"'
const ROLE_CHALLENGE = 'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required role"'
const SCOPE_CHALLENGE = 'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope"'

const orgParam = (req: { params: unknown }) => (req.params as { orgId?: string }).orgId

t.test('requireAuth: no token is 401 with a bare challenge, a valid token passes', async (t) => {
  const { issuer, app } = await setup(t)
  const res = await app.inject({ url: '/me' })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'ZITADEL_AUTH_TOKEN_MISSING')
  t.equal(res.headers['www-authenticate'], MISSING, 'RFC 6750 §3.1: no error attribute without a token')

  const ok = await app.inject({ url: '/me', headers: bearer(await issuer.token()) })
  t.equal(ok.statusCode, 200)
  t.equal(ok.json().sub, '263785111111111111')
  t.equal(ok.headers['www-authenticate'], undefined, 'no challenge on success')
})

t.test('requireAuth: another auth scheme counts as no token', async (t) => {
  const { app } = await setup(t)
  const res = await app.inject({ url: '/me', headers: { authorization: 'Basic dXNlcjpwYXNz' } })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'ZITADEL_AUTH_TOKEN_MISSING')
  t.equal(res.headers['www-authenticate'], MISSING)
})

t.test('requireRoles([\'admin\']): 200 with the role, 403 without, 401 without a token', async (t) => {
  const { issuer, app } = await setup(t)
  const ok = await app.inject({ url: '/admin', headers: bearer(await issuer.token({ roles: ['admin'] })) })
  t.equal(ok.statusCode, 200)
  t.strictSame(ok.json(), { admin: true })

  const denied = await app.inject({ url: '/admin', headers: bearer(await issuer.token({ roles: ['viewer'] })) })
  t.equal(denied.statusCode, 403)
  t.equal(denied.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
  t.equal(denied.headers['www-authenticate'], ROLE_CHALLENGE)

  const none = await app.inject({ url: '/admin', headers: bearer(await issuer.token()) })
  t.equal(none.statusCode, 403, 'no roles at all')
  t.equal(none.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')

  const anonymous = await app.inject({ url: '/admin' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().code, 'ZITADEL_AUTH_TOKEN_MISSING')
  t.equal(anonymous.headers['www-authenticate'], MISSING)
})

t.test('a forged token holding the admin role gets 401, not 403: authentication comes first', async (t) => {
  const { issuer, app } = await setup(t)
  // Signed by a key the issuer does not publish, under the kid of the one it does.
  const rogue = await issuer.addKey('RS256', { publish: false })
  const published = issuer.keys[0]
  if (published === undefined) throw new Error('no key')
  const forged = await issuer.token({ roles: ['admin'], key: rogue, header: { kid: published.kid } })
  const res = await app.inject({ url: '/admin', headers: bearer(forged) })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'ZITADEL_AUTH_SIGNATURE_INVALID')
  t.match(res.headers['www-authenticate'], /error="invalid_token"/)

  // A tampered payload under a genuine signature: same answer.
  const [h, , s] = (await issuer.token({ roles: ['viewer'] })).split('.') as [string, string, string]
  const [, adminPayload] = (await issuer.token({ roles: ['admin'] })).split('.') as [string, string, string]
  const spliced = await app.inject({ url: '/admin', headers: bearer(`${h}.${adminPayload}.${s}`) })
  t.equal(spliced.statusCode, 401)
  t.equal(spliced.json().code, 'ZITADEL_AUTH_SIGNATURE_INVALID')
})

t.test('several roles: all are required by default, any: true needs one', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/all', { preHandler: app.zitadel.requireRoles(['admin', 'editor']) }, async () => ({ ok: true }))
      app.get('/any', { preHandler: app.zitadel.requireRoles(['admin', 'editor'], { any: true }) }, async () => ({ ok: true }))
      app.get('/all-explicit', { preHandler: app.zitadel.requireRoles(['admin', 'editor'], { any: false }) }, async () => ({ ok: true }))
    }
  })
  const both = await issuer.token({ roles: ['admin', 'editor'] })
  const adminOnly = await issuer.token({ roles: ['admin'] })
  const editorOnly = await issuer.token({ roles: ['editor'] })
  const neither = await issuer.token({ roles: ['viewer'] })

  for (const url of ['/all', '/all-explicit']) {
    t.equal((await app.inject({ url, headers: bearer(both) })).statusCode, 200, `${url}: both roles`)
    const one = await app.inject({ url, headers: bearer(adminOnly) })
    t.equal(one.statusCode, 403, `${url}: one of two is not enough`)
    t.equal(one.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
    t.equal((await app.inject({ url, headers: bearer(editorOnly) })).statusCode, 403, `${url}: the other one alone is not enough`)
  }

  t.equal((await app.inject({ url: '/any', headers: bearer(adminOnly) })).statusCode, 200, 'any: the first role is enough')
  t.equal((await app.inject({ url: '/any', headers: bearer(editorOnly) })).statusCode, 200, 'any: the second role is enough')
  t.equal((await app.inject({ url: '/any', headers: bearer(both) })).statusCode, 200)
  const none = await app.inject({ url: '/any', headers: bearer(neither) })
  t.equal(none.statusCode, 403, 'any: none of them is refused')
  t.equal(none.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
})

t.test('orgId as a string: the role must be held in that organisation', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/acme', { preHandler: app.zitadel.requireRoles(['admin'], { orgId: ORG_ID }) }, async () => ({ ok: true }))
      app.get('/other', { preHandler: app.zitadel.requireRoles(['admin'], { orgId: OTHER_ORG }) }, async () => ({ ok: true }))
    }
  })
  const inAcme = await issuer.token({ roles: ['admin'] })
  t.equal((await app.inject({ url: '/acme', headers: bearer(inAcme) })).statusCode, 200, 'held in that org')
  const wrongOrg = await app.inject({ url: '/other', headers: bearer(inAcme) })
  t.equal(wrongOrg.statusCode, 403, 'held only in another org')
  t.equal(wrongOrg.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
  t.equal(wrongOrg.headers['www-authenticate'], ROLE_CHALLENGE)

  const inOther = await issuer.token({ claims: { [ROLE_CLAIM]: { admin: { [OTHER_ORG]: 'other.localhost' } } } })
  t.equal((await app.inject({ url: '/other', headers: bearer(inOther) })).statusCode, 200)
  t.equal((await app.inject({ url: '/acme', headers: bearer(inOther) })).statusCode, 403)
  t.equal((await app.inject({ url: '/acme' })).statusCode, 401, 'no token: 401 before any org check')
})

t.test('orgId as a function of the request', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/orgs/:orgId/reports', { preHandler: app.zitadel.requireRoles(['admin'], { orgId: orgParam }) }, async (req) => ({ org: orgParam(req) }))
      app.get('/orgs/:orgId/any', { preHandler: app.zitadel.requireRoles(['admin', 'editor'], { orgId: orgParam, any: true }) }, async () => ({ ok: true }))
      app.get('/no-org', { preHandler: app.zitadel.requireRoles(['admin'], { orgId: () => undefined }) }, async () => ({ ok: true }))
      app.get('/empty-org', { preHandler: app.zitadel.requireRoles(['admin'], { orgId: () => '' }) }, async () => ({ ok: true }))
      app.get('/number-org', { preHandler: app.zitadel.requireRoles(['admin'], { orgId: () => 42 as unknown as string }) }, async () => ({ ok: true }))
    }
  })
  const admin = await issuer.token({ roles: ['admin'] })
  const right = await app.inject({ url: `/orgs/${ORG_ID}/reports`, headers: bearer(admin) })
  t.equal(right.statusCode, 200, 'the right organisation')
  t.strictSame(right.json(), { org: ORG_ID })
  const wrong = await app.inject({ url: `/orgs/${OTHER_ORG}/reports`, headers: bearer(admin) })
  t.equal(wrong.statusCode, 403, 'another organisation')
  t.equal(wrong.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')

  t.equal((await app.inject({ url: `/orgs/${ORG_ID}/any`, headers: bearer(admin) })).statusCode, 200, 'any + orgId: one role in that org')
  t.equal((await app.inject({ url: `/orgs/${OTHER_ORG}/any`, headers: bearer(admin) })).statusCode, 403, 'any + orgId: not in another org')

  for (const url of ['/no-org', '/empty-org', '/number-org']) {
    const res = await app.inject({ url, headers: bearer(admin) })
    t.equal(res.statusCode, 403, `${url}: never widened to any organisation`)
    t.equal(res.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
    t.equal(res.headers['www-authenticate'], ROLE_CHALLENGE)
  }
})

t.test('requireScopes: the scope claim must hold every scope', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/read', { preHandler: app.zitadel.requireScopes(['read']) }, async () => ({ ok: true }))
      app.get('/read-write', { preHandler: app.zitadel.requireScopes(['read', 'write']) }, async () => ({ ok: true }))
    }
  })
  const readWrite = await issuer.token({ claims: { scope: 'read write' } })
  t.equal((await app.inject({ url: '/read', headers: bearer(readWrite) })).statusCode, 200)
  t.equal((await app.inject({ url: '/read-write', headers: bearer(readWrite) })).statusCode, 200)

  const writeOnly = await issuer.token({ claims: { scope: 'write reader' } })
  const res = await app.inject({ url: '/read', headers: bearer(writeOnly) })
  t.equal(res.statusCode, 403, 'no prefix or substring match')
  t.equal(res.json().code, 'ZITADEL_AUTH_SCOPE_REQUIRED')
  t.equal(res.headers['www-authenticate'], `${SCOPE_CHALLENGE}, scope="read"`)

  const readOnly = await issuer.token({ claims: { scope: 'read' } })
  const partial = await app.inject({ url: '/read-write', headers: bearer(readOnly) })
  t.equal(partial.statusCode, 403, 'one of two scopes is not enough')
  t.equal(partial.json().code, 'ZITADEL_AUTH_SCOPE_REQUIRED')
  t.equal(partial.headers['www-authenticate'], `${SCOPE_CHALLENGE}, scope="read write"`, 'the challenge names every scope the route needs')

  // Zitadel JWT access tokens carry no scope claim at all.
  const zitadel = await app.inject({ url: '/read', headers: bearer(await issuer.token({ roles: ['admin'] })) })
  t.equal(zitadel.statusCode, 403)
  t.equal(zitadel.json().code, 'ZITADEL_AUTH_SCOPE_REQUIRED')

  const anonymous = await app.inject({ url: '/read' })
  t.equal(anonymous.statusCode, 401)
  t.equal(anonymous.json().code, 'ZITADEL_AUTH_TOKEN_MISSING')
  t.equal(anonymous.headers['www-authenticate'], MISSING)
})

t.test('guards check their arguments when the route is declared', async (t) => {
  const { app } = await setup(t)
  const { requireRoles, requireScopes } = app.zitadel
  const bad: Array<[string, () => unknown]> = [
    ['requireRoles([])', () => requireRoles([])],
    ['requireRoles(\'admin\')', () => requireRoles('admin' as unknown as string[])],
    ['requireRoles()', () => (requireRoles as (...args: unknown[]) => unknown)()],
    ['requireRoles([\'a b\'])', () => requireRoles(['a b'])],
    ['requireRoles([\'\'])', () => requireRoles([''])],
    ['requireRoles([\'admin\', 42])', () => requireRoles(['admin', 42 as unknown as string])],
    ['requireRoles([\'admin\'], { any: \'yes\' })', () => requireRoles(['admin'], { any: 'yes' as unknown as boolean })],
    ['requireRoles([\'admin\'], null)', () => requireRoles(['admin'], null as never)],
    ['requireRoles([\'admin\'], \'any\')', () => requireRoles(['admin'], 'any' as never)],
    ['requireRoles([\'x\'], { orgId: \'\' })', () => requireRoles(['x'], { orgId: '' })],
    ['requireRoles([\'x\'], { orgId: 42 })', () => requireRoles(['x'], { orgId: 42 as unknown as string })],
    ['requireScopes([\'a"b\'])', () => requireScopes(['a"b'])],
    ['requireScopes([\'a\\\\b\'])', () => requireScopes(['a\\b'])],
    ['requireScopes([\'a b\'])', () => requireScopes(['a b'])],
    ['requireScopes([])', () => requireScopes([])],
    ['requireScopes(\'read\')', () => requireScopes('read' as unknown as string[])]
  ]
  for (const [name, fn] of bad) {
    let caught: unknown
    try {
      fn()
    } catch (err) {
      caught = err
    }
    t.type(caught, TypeError, `${name} throws a TypeError`)
    t.equal((caught as { code?: string } | undefined)?.code, 'ZITADEL_AUTH_INVALID_OPTION', `${name}: ZITADEL_AUTH_INVALID_OPTION`)
  }

  t.doesNotThrow(() => requireRoles(['admin'], { orgId: ORG_ID, any: true }), 'valid options are accepted')
  t.doesNotThrow(() => requireScopes(['urn:zitadel:iam:org:projects:roles', 'openid']), 'scope tokens may hold colons')
})

t.test('a guard carries what it requires, deduplicated and frozen', async (t) => {
  const { requireAuth, requireRoles, requireScopes } = createGuards(createErrorFactory('api'))
  const input = ['admin', 'editor', 'admin']
  const roles = requireRoles(input, { any: true })
  t.strictSame(roles[kGuard], { kind: 'roles', roles: ['admin', 'editor'], any: true, tenants: undefined })
  t.ok(Object.isFrozen(roles[kGuard]), 'the requirement is frozen')
  t.ok(Object.isFrozen((roles[kGuard] as unknown as { roles: string[] }).roles), 'its role list is frozen')
  input.push('viewer')
  t.strictSame((roles[kGuard] as unknown as { roles: string[] }).roles, ['admin', 'editor'], 'later changes to the caller\'s array do not leak in')
  t.strictSame(requireRoles(['admin'])[kGuard], { kind: 'roles', roles: ['admin'], any: false, tenants: undefined }, 'any defaults to false')
  t.strictSame(requireAuth()[kGuard], { kind: 'auth', tenants: undefined })
  t.strictSame(requireScopes(['read', 'read'])[kGuard], { kind: 'scopes', scopes: ['read'], any: false, tenants: undefined })
  t.equal(kGuard, Symbol.for('fastify-zitadel-auth.guard'), 'a registered symbol, shared across copies of the package')

  const plain = async () => {}
  t.strictSame(guardsOf(undefined), [])
  t.strictSame(guardsOf(plain), [], 'a plain function is no guard')
  t.strictSame(guardsOf(requireAuth()), [{ kind: 'auth', tenants: undefined }])
  t.strictSame(guardsOf([plain, requireScopes(['read']), 'not a function', requireAuth()]), [
    { kind: 'scopes', scopes: ['read'], any: false, tenants: undefined },
    { kind: 'auth', tenants: undefined }
  ], 'in order, skipping what is not a guard')
})

t.test('guards work in a preHandler array and combine', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/both', {
        preHandler: [app.zitadel.requireRoles(['admin']), app.zitadel.requireScopes(['read'])]
      }, async () => ({ ok: true }))
    }
  })
  const good = await issuer.token({ roles: ['admin'], claims: { scope: 'read' } })
  t.equal((await app.inject({ url: '/both', headers: bearer(good) })).statusCode, 200)
  const noScope = await app.inject({ url: '/both', headers: bearer(await issuer.token({ roles: ['admin'] })) })
  t.equal(noScope.statusCode, 403)
  t.equal(noScope.json().code, 'ZITADEL_AUTH_SCOPE_REQUIRED')
  const noRole = await app.inject({ url: '/both', headers: bearer(await issuer.token({ claims: { scope: 'read' } })) })
  t.equal(noRole.statusCode, 403)
  t.equal(noRole.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
})

t.test('the realm option shows in the guards\' challenges', async (t) => {
  const { issuer, app } = await setup(t, { realm: 'orders' })
  const res = await app.inject({ url: '/admin' })
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="orders"')
  const denied = await app.inject({ url: '/admin', headers: bearer(await issuer.token()) })
  t.equal(denied.statusCode, 403)
  t.equal(denied.headers['www-authenticate'], ROLE_CHALLENGE.replace('realm="api"', 'realm="orders"'))
})

t.test('guard errors never echo the role, org or scope the route wanted in the body', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/secret', { preHandler: app.zitadel.requireRoles(['super-secret-role'], { orgId: ORG_ID }) }, async () => ({ ok: true }))
    }
  })
  const res = await app.inject({ url: '/secret', headers: bearer(await issuer.token({ roles: ['admin'] })) })
  t.equal(res.statusCode, 403)
  t.notMatch(res.body, /super-secret-role/)
  t.notMatch(res.body, new RegExp(ORG_ID))
  t.notMatch(res.body, new RegExp(ORG_DOMAIN))
  t.notMatch(String(res.headers['www-authenticate']), /super-secret-role/)
})

t.test('the challenge survives a custom error handler that sends its own body', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.register(async (child) => {
        child.setErrorHandler(async (err: { statusCode?: number, code?: string }, _req, reply) => {
          return reply.code(err.statusCode ?? 500).send({ custom: true, code: err.code })
        })
        child.get('/custom/me', { preHandler: child.zitadel.requireAuth() }, async () => ({ ok: true }))
        child.get('/custom/admin', { preHandler: child.zitadel.requireRoles(['admin']) }, async () => ({ ok: true }))
        child.get('/custom/read', { preHandler: child.zitadel.requireScopes(['read']) }, async () => ({ ok: true }))
      })
    }
  })
  const missing = await app.inject({ url: '/custom/me' })
  t.equal(missing.statusCode, 401)
  t.strictSame(missing.json(), { custom: true, code: 'ZITADEL_AUTH_TOKEN_MISSING' }, 'the custom body is sent')
  t.equal(missing.headers['www-authenticate'], MISSING, 'RFC 6750 §3: every 401 carries the challenge')

  const token = await issuer.token()
  const role = await app.inject({ url: '/custom/admin', headers: bearer(token) })
  t.equal(role.statusCode, 403)
  t.equal(role.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
  t.equal(role.headers['www-authenticate'], ROLE_CHALLENGE)

  const scope = await app.inject({ url: '/custom/read', headers: bearer(token) })
  t.equal(scope.statusCode, 403)
  t.equal(scope.headers['www-authenticate'], `${SCOPE_CHALLENGE}, scope="read"`)

  const bad = await app.inject({ url: '/custom/me', headers: bearer('not-a-jwt') })
  t.equal(bad.statusCode, 401)
  t.equal(bad.json().code, 'ZITADEL_AUTH_TOKEN_MALFORMED')
  t.match(bad.headers['www-authenticate'], /error="invalid_token"/, 'the onRequest hook\'s challenge too')
})

t.test('guards keep their names for logs and route listings', async (t) => {
  const { requireAuth, requireRoles, requireScopes } = createGuards(createErrorFactory('api'))
  t.equal(requireAuth().name, 'requireAuth')
  t.equal(requireRoles(['admin']).name, 'requireRoles')
  t.equal(requireScopes(['read']).name, 'requireScopes')
})
