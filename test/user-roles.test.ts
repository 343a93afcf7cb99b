import t from 'tap'
import { createZitadelUser, readRoles, ZitadelUser } from '../lib/user.js'
import { bearer, setup } from './helpers/app.js'
import { CLIENT_ID, ORG_DOMAIN, ORG_ID, PROJECT_ID, zitadelClaims } from '../fixtures/issuer.js'

const ROLE_CLAIM = `urn:zitadel:iam:org:project:${PROJECT_ID}:roles`
const GENERIC_CLAIM = 'urn:zitadel:iam:org:project:roles'
const OTHER_CLAIM = 'urn:zitadel:iam:org:project:999:roles'
const OTHER_ORG = '999999999999999999'

/** The minimum claims ZitadelUser reads; `extra` is added after them, in its own key order. */
function claimsOf (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: 'https://zitadel.example', sub: 'user-1', aud: [PROJECT_ID], exp: 2000000000, iat: 1700000000, ...extra }
}

t.test('readRoles copies Zitadel\'s { role: { orgId: domain } } into frozen null-prototype objects', async (t) => {
  const claim = { admin: { [ORG_ID]: ORG_DOMAIN, [OTHER_ORG]: 'other.localhost' }, viewer: { [ORG_ID]: ORG_DOMAIN } }
  const roles = readRoles(claim)
  t.strictSame(Object.keys(roles), ['admin', 'viewer'])
  t.equal(Object.getPrototypeOf(roles), null, 'the role map has no prototype')
  t.ok(Object.isFrozen(roles), 'the role map is frozen')
  for (const role of Object.keys(roles)) {
    t.equal(Object.getPrototypeOf(roles[role]), null, `the org map of ${role} has no prototype`)
    t.ok(Object.isFrozen(roles[role]), `the org map of ${role} is frozen`)
  }
  t.equal(roles.admin?.[ORG_ID], ORG_DOMAIN)
  t.equal(roles.admin?.[OTHER_ORG], 'other.localhost')
  t.equal(roles.viewer?.[ORG_ID], ORG_DOMAIN)
  t.not(roles, claim, 'a copy, not the claim itself')
  t.not(roles.admin, claim.admin, 'the org maps are copies too')
  t.notOk(Object.isFrozen(claim), 'the token\'s claim is not changed')
})

t.test('readRoles: a claim of any other shape grants nothing and does not throw', async (t) => {
  const shapes: Array<[string, unknown]> = [
    ['the docs\' array form', [{ admin: { [ORG_ID]: ORG_DOMAIN } }]],
    ['a string', 'admin'],
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    ['a boolean', true]
  ]
  for (const [name, claim] of shapes) {
    const roles = readRoles(claim)
    t.strictSame(Object.keys(roles), [], `${name}: no roles`)
    t.equal(Object.getPrototypeOf(roles), null, `${name}: still a null-prototype object`)
    t.ok(Object.isFrozen(roles), `${name}: frozen`)
  }
})

t.test('readRoles keeps only organisations with a string domain and drops roles left without one', async (t) => {
  const roles = readRoles({
    good: { [ORG_ID]: ORG_DOMAIN },
    string: 'acme.localhost',
    array: [ORG_ID],
    null: null,
    empty: {},
    numberOnly: { [ORG_ID]: 42 },
    allInvalid: { a: 1, b: null, c: { d: 'e' }, f: ['g'], h: true },
    mixed: { [ORG_ID]: ORG_DOMAIN, [OTHER_ORG]: 7 }
  })
  t.strictSame(Object.keys(roles), ['good', 'mixed'])
  t.strictSame(Object.keys(roles.mixed ?? {}), [ORG_ID], 'the org with a number value is skipped')
  t.equal(roles.mixed?.[ORG_ID], ORG_DOMAIN)
})

t.test('readRoles: __proto__ from JSON is an ordinary role and never reaches Object.prototype', async (t) => {
  const claim: unknown = JSON.parse('{"__proto__": {"org": "x"}, "constructor": {"org2": "y"}}')
  const roles = readRoles(claim)
  t.ok(Object.hasOwn(roles, '__proto__'), '__proto__ is an own key')
  t.ok(Object.hasOwn(roles, 'constructor'), 'constructor is an own key')
  t.equal(Object.getPrototypeOf(roles), null, 'the prototype was not replaced')
  const proto = '__proto__'
  t.equal(Object.getPrototypeOf(roles[proto]), null, 'the org map under __proto__ is a null-prototype object')
  t.equal(roles[proto]?.org, 'x')
  t.equal(({} as Record<string, unknown>).org, undefined, 'Object.prototype untouched')
  t.equal(Object.getPrototypeOf({}), Object.prototype)
})

t.test('ZitadelUser.hasRole(role) and hasRole(role, orgId)', async (t) => {
  const user = createZitadelUser('tok', claimsOf({
    [ROLE_CLAIM]: { admin: { [ORG_ID]: ORG_DOMAIN }, viewer: { [OTHER_ORG]: 'other.localhost' } }
  }), ROLE_CLAIM)
  t.equal(user.hasRole('admin'), true, 'held somewhere')
  t.equal(user.hasRole('admin', ORG_ID), true, 'held in that org')
  t.equal(user.hasRole('admin', OTHER_ORG), false, 'not held in another org')
  t.equal(user.hasRole('viewer'), true)
  t.equal(user.hasRole('viewer', OTHER_ORG), true)
  t.equal(user.hasRole('viewer', ORG_ID), false)
  t.equal(user.hasRole('editor'), false, 'a role the user does not hold')
  t.equal(user.hasRole('editor', ORG_ID), false)
})

t.test('ZitadelUser: prototype names are never roles unless the token says so', async (t) => {
  const user = createZitadelUser('tok', claimsOf({ [ROLE_CLAIM]: { admin: { [ORG_ID]: ORG_DOMAIN } } }), ROLE_CLAIM)
  for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf']) {
    t.equal(user.hasRole(name), false, `hasRole('${name}') is false`)
    t.equal(user.hasRole('admin', name), false, `hasRole('admin', '${name}') is false`)
  }

  const tricky = createZitadelUser('tok', claimsOf({
    [ROLE_CLAIM]: JSON.parse('{"__proto__": {"org": "x"}, "toString": {"org": "y"}}')
  }), ROLE_CLAIM)
  t.equal(tricky.hasRole('__proto__'), true, 'a role named __proto__ held in the token')
  t.equal(tricky.hasRole('__proto__', 'org'), true)
  t.equal(tricky.hasRole('toString', 'org'), true)
  t.equal(tricky.hasRole('constructor'), false)
  t.equal(({} as Record<string, unknown>).org, undefined, 'Object.prototype untouched')
})

t.test('ZitadelUser reads its roles only from the configured project\'s claim', async (t) => {
  const user = createZitadelUser('tok', claimsOf({
    [OTHER_CLAIM]: { admin: { [ORG_ID]: ORG_DOMAIN } },
    [GENERIC_CLAIM]: { admin: { [ORG_ID]: ORG_DOMAIN } },
    [ROLE_CLAIM]: { viewer: { [ORG_ID]: ORG_DOMAIN } }
  }), ROLE_CLAIM)
  t.strictSame(Object.keys(user.roles), ['viewer'])
  t.equal(user.hasRole('admin'), false)

  const none = createZitadelUser('tok', claimsOf({ [GENERIC_CLAIM]: { admin: { [ORG_ID]: ORG_DOMAIN } } }), ROLE_CLAIM)
  t.strictSame(Object.keys(none.roles), [], 'no claim of our project: no roles')
  t.equal(Object.getPrototypeOf(none.roles), null)
})

t.test('ZitadelUser fields: sub, clientId, orgId, scopes, claims', async (t) => {
  const claims = claimsOf({
    client_id: 'client-a',
    azp: 'client-b',
    'urn:zitadel:iam:user:resourceowner:id': ORG_ID,
    scope: 'a b  c',
    custom: { deep: [1, 2] }
  })
  const user = createZitadelUser('tok', claims, ROLE_CLAIM)
  t.equal(user.sub, 'user-1')
  t.equal(user.clientId, 'client-a', 'clientId is client_id')
  t.equal(user.orgId, ORG_ID)
  t.strictSame(user.scopes, ['a', 'b', 'c'], 'split on spaces, empty parts dropped')
  t.ok(Object.isFrozen(user.scopes), 'scopes are frozen')
  t.equal(user.claims, claims, 'claims holds all claims')
  t.strictSame(user.claims.custom, { deep: [1, 2] })

  const azp = createZitadelUser('tok', claimsOf({ azp: 'client-b' }), ROLE_CLAIM)
  t.equal(azp.clientId, undefined, 'azp (an ID-token claim) never stands in for client_id')
  const notString = createZitadelUser('tok', claimsOf({ client_id: 42, azp: 'client-b' }), ROLE_CLAIM)
  t.equal(notString.clientId, undefined, 'a client_id that is not a string is ignored, azp too')

  const bare = createZitadelUser('tok', claimsOf({ 'urn:zitadel:iam:user:resourceowner:id': 42, azp: ['x'] }), ROLE_CLAIM)
  t.equal(bare.clientId, undefined, 'no string client_id: undefined')
  t.equal(bare.orgId, undefined, 'a resource owner that is not a string: undefined')
  t.strictSame(bare.scopes, [], 'no scope claim: []')
  t.ok(Object.isFrozen(bare.scopes))

  for (const scope of [['a', 'b'], 42, null, { a: 1 }]) {
    const u = createZitadelUser('tok', claimsOf({ scope }), ROLE_CLAIM)
    t.strictSame(u.scopes, [], `a scope claim of ${JSON.stringify(scope)}: []`)
  }
  t.strictSame(createZitadelUser('tok', claimsOf({ scope: '' }), ROLE_CLAIM).scopes, [], 'an empty scope string: []')
})

t.test('ZitadelUser keeps the token out of its keys and its JSON', async (t) => {
  const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'
  const user = createZitadelUser(token, claimsOf({ [ROLE_CLAIM]: { admin: { [ORG_ID]: ORG_DOMAIN } } }), ROLE_CLAIM)
  t.equal(user.token, token, 'user.token is the raw token')
  t.notOk(Object.keys(user).includes('token'), 'not an own key')
  t.notOk(Object.getOwnPropertyNames(user).includes('token'), 'not even a non-enumerable one')
  const json = JSON.stringify(user)
  t.notOk(json.includes(token), 'JSON.stringify(user) does not contain the token')
  t.notOk(json.includes('"token"'), 'nor a token key')
  t.notOk(JSON.stringify({ ...user }).includes(token), 'a spread copy does not carry it either')
  t.strictSame(JSON.parse(json).roles, { admin: { [ORG_ID]: ORG_DOMAIN } }, 'the roles serialise')
})

t.test('through the app: a role only in urn:zitadel:iam:org:project:roles grants nothing', async (t) => {
  const { issuer, app } = await setup(t)
  const token = await issuer.token({
    claims: { [ROLE_CLAIM]: undefined, [GENERIC_CLAIM]: { admin: { [ORG_ID]: ORG_DOMAIN } } }
  })
  const res = await app.inject({ url: '/admin', headers: bearer(token) })
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')

  const me = await app.inject({ url: '/me', headers: bearer(token) })
  t.equal(me.statusCode, 200)
  t.strictSame(me.json().roles, {})
})

t.test('through the app: a role only in another project\'s claim grants nothing', async (t) => {
  const { issuer, app } = await setup(t)
  const token = await issuer.token({
    claims: { [ROLE_CLAIM]: undefined, [GENERIC_CLAIM]: undefined, [OTHER_CLAIM]: { admin: { [ORG_ID]: ORG_DOMAIN } } }
  })
  const res = await app.inject({ url: '/admin', headers: bearer(token) })
  t.equal(res.statusCode, 403)
  t.equal(res.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
})

t.test('through the app: with several project claims (another project first) only ours counts', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/viewer', { preHandler: app.zitadel.requireRoles(['viewer']) }, async () => ({ viewer: true }))
    }
  })
  // Built from zitadelClaims rather than issuer.token(), so the key order of the role claims is this test's.
  const token = await issuer.sign(zitadelClaims(issuer.url, {
    [OTHER_CLAIM]: { admin: { [ORG_ID]: ORG_DOMAIN } },
    [GENERIC_CLAIM]: { admin: { [ORG_ID]: ORG_DOMAIN } },
    [ROLE_CLAIM]: { viewer: { [ORG_ID]: ORG_DOMAIN } }
  }))
  const admin = await app.inject({ url: '/admin', headers: bearer(token) })
  t.equal(admin.statusCode, 403, 'admin in another project does not count')
  t.equal(admin.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
  const viewer = await app.inject({ url: '/viewer', headers: bearer(token) })
  t.equal(viewer.statusCode, 200, 'the role in our project does')
  const me = await app.inject({ url: '/me', headers: bearer(token) })
  t.strictSame(me.json().roles, { viewer: { [ORG_ID]: ORG_DOMAIN } })
})

t.test('through the app: wrong shapes of the role claim never grant and never crash', async (t) => {
  const { issuer, app } = await setup(t)
  const shapes: Array<[string, unknown]> = [
    ['the docs\' array form', [{ admin: { [ORG_ID]: ORG_DOMAIN } }]],
    ['a string', 'admin'],
    ['null', null],
    ['a number', 1],
    ['a role value that is a string', { admin: ORG_DOMAIN }],
    ['a role value that is an array', { admin: [ORG_ID] }],
    ['a role value that is null', { admin: null }],
    ['a role value that is {}', { admin: {} }],
    ['an org value that is a number', { admin: { [ORG_ID]: 1 } }],
    ['only invalid org entries', { admin: { [ORG_ID]: null, [OTHER_ORG]: { d: 'x' } } }]
  ]
  for (const [name, claim] of shapes) {
    // The generic claim holds admin too: it must never be a fallback.
    const token = await issuer.token({ claims: { [ROLE_CLAIM]: claim, [GENERIC_CLAIM]: { admin: { [ORG_ID]: ORG_DOMAIN } } } })
    const res = await app.inject({ url: '/admin', headers: bearer(token) })
    t.equal(res.statusCode, 403, `${name}: 403 on /admin`)
    t.equal(res.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED', `${name}: role required`)
    const me = await app.inject({ url: '/me', headers: bearer(token) })
    t.equal(me.statusCode, 200, `${name}: the token itself is fine`)
    t.strictSame(me.json().roles, {}, `${name}: no roles`)
  }
})

t.test('through the app: an org value that is a number is skipped, the role stays for the valid org', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/org-admin/:orgId', {
        preHandler: app.zitadel.requireRoles(['admin'], { orgId: (req) => (req.params as { orgId: string }).orgId })
      }, async () => ({ ok: true }))
    }
  })
  const token = await issuer.token({ claims: { [ROLE_CLAIM]: { admin: { [ORG_ID]: ORG_DOMAIN, [OTHER_ORG]: 5 } } } })
  t.equal((await app.inject({ url: `/org-admin/${ORG_ID}`, headers: bearer(token) })).statusCode, 200)
  const other = await app.inject({ url: `/org-admin/${OTHER_ORG}`, headers: bearer(token) })
  t.equal(other.statusCode, 403, 'the org with a number value grants nothing')
  t.equal(other.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
})

t.test('through the app: prototype names are not roles of a token that does not hold them', async (t) => {
  const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty']
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      for (const name of names) {
        app.get(`/role/${name}`, { preHandler: app.zitadel.requireRoles([name]) }, async () => ({ ok: true }))
      }
      app.get('/admin-in/:orgId', {
        preHandler: app.zitadel.requireRoles(['admin'], { orgId: (req) => (req.params as { orgId: string }).orgId })
      }, async () => ({ ok: true }))
    }
  })
  const token = await issuer.token({ roles: ['admin'] })
  for (const name of names) {
    const res = await app.inject({ url: `/role/${name}`, headers: bearer(token) })
    t.equal(res.statusCode, 403, `requireRoles(['${name}']): 403`)
    t.equal(res.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
    const org = await app.inject({ url: `/admin-in/${name}`, headers: bearer(token) })
    t.equal(org.statusCode, 403, `admin in org '${name}': 403`)
  }
})

t.test('through the app: a role named __proto__ in the token is a role, and Object.prototype is untouched', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/proto', { preHandler: app.zitadel.requireRoles(['__proto__']) }, async (req) => ({
        proto: req.user?.hasRole('__proto__', 'org'),
        ctor: req.user?.hasRole('constructor'),
        pollution: ({} as Record<string, unknown>).org ?? null
      }))
    }
  })
  const roleClaim: unknown = JSON.parse('{"__proto__": {"org": "x"}}')
  const token = await issuer.token({ claims: { [ROLE_CLAIM]: roleClaim } })
  const res = await app.inject({ url: '/proto', headers: bearer(token) })
  t.equal(res.statusCode, 200, 'the guard finds the own __proto__ role')
  t.strictSame(res.json(), { proto: true, ctor: false, pollution: null })
  t.equal(({} as Record<string, unknown>).org, undefined, 'Object.prototype untouched in the test process')

  const admin = await app.inject({ url: '/admin', headers: bearer(token) })
  t.equal(admin.statusCode, 403, '__proto__ grants no other role')

  const me = await app.inject({ url: '/me', headers: bearer(token) })
  t.equal(me.statusCode, 200)
  t.ok(Object.hasOwn(JSON.parse(me.body).roles, '__proto__'), 'request.user.roles serialises the own __proto__ role')
})

t.test('through the app: request.user fields and the token', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/token-check', { preHandler: app.zitadel.requireAuth() }, async (req) => ({
        same: req.user?.token === req.headers.authorization?.slice('Bearer '.length),
        isUser: req.user instanceof ZitadelUser
      }))
    }
  })
  const token = await issuer.token({ roles: ['admin'], claims: { scope: 'openid  profile', custom: 'kept' } })
  const check = await app.inject({ url: '/token-check', headers: bearer(token) })
  t.strictSame(check.json(), { same: true, isUser: true }, 'request.user.token is the raw token')

  const res = await app.inject({ url: '/me', headers: bearer(token) })
  t.equal(res.statusCode, 200)
  t.notOk(res.body.includes(token), '/me never contains the token')
  const [, payload, signature] = token.split('.') as [string, string, string]
  t.notOk(res.body.includes(signature), 'not even its signature')
  t.notOk(res.body.includes(payload), 'nor its payload segment')
  const body = res.json()
  t.notOk('token' in body, 'no token key')
  t.equal(body.sub, '263785111111111111')
  t.equal(body.clientId, CLIENT_ID)
  t.equal(body.orgId, ORG_ID)
  t.strictSame(body.scopes, ['openid', 'profile'])
  t.strictSame(body.roles, { admin: { [ORG_ID]: ORG_DOMAIN } })
  t.equal(body.claims.custom, 'kept', 'claims holds all claims')
  t.equal(body.claims.iss, issuer.url)
})
