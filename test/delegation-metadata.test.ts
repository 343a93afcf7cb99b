import t from 'tap'
import { bearer, setup } from './helpers/app.js'

/*
 * What Zitadel features add to request.user: `act` from token exchange
 * (impersonation, delegation; RFC 8693 §4.1) as `actor`, with guards that can
 * insist on the user in person, and user metadata
 * (`urn:zitadel:iam:user:metadata`, values base64) as `metadata`.
 */

const ACTOR = { sub: '263785222222222222', iss: 'https://my-instance.zitadel.cloud' }
const DELEGATION_CHALLENGE = 'Bearer realm="api", error="insufficient_scope", error_description="The access token was issued to someone acting for the user"'

t.test('request.user.actor: the act chain, or undefined when the user acts in person', async (t) => {
  const { issuer, app } = await setup(t)
  const inPerson = await app.inject({ url: '/me', headers: bearer(await issuer.token()) })
  t.equal(inPerson.json().actor, undefined, 'no act: no actor')

  const user = await app.zitadel.verify(await issuer.token({ claims: { act: { ...ACTOR, act: { sub: 'svc-0' } } } }))
  t.same(user.actor, { sub: ACTOR.sub, iss: ACTOR.iss, actor: { sub: 'svc-0', iss: undefined, actor: undefined } }, 'the chain, one actor per level')
  t.ok(Object.isFrozen(user.actor) && Object.isFrozen(user.actor?.actor), 'frozen')
  t.same(user.claims.act, { ...ACTOR, act: { sub: 'svc-0' } }, 'the raw claim stays in claims')
})

t.test('guards with allowDelegated: false refuse a token with act (403), and the default lets it through', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/in-person', { preHandler: app.zitadel.requireAuth({ allowDelegated: false }) }, async (req) => ({ sub: req.user?.sub }))
      app.get('/in-person-admin', { preHandler: app.zitadel.requireRoles(['admin'], { allowDelegated: false }) }, async () => ({ ok: true }))
      app.get('/in-person-scope', { preHandler: app.zitadel.requireScopes(['read'], { allowDelegated: false }) }, async () => ({ ok: true }))
      app.get('/delegated-ok', { preHandler: app.zitadel.requireAuth({ allowDelegated: true }) }, async () => ({ ok: true }))
    }
  })
  const own = await issuer.token({ roles: ['admin'], claims: { scope: 'read' } })
  const delegated = await issuer.token({ roles: ['admin'], claims: { scope: 'read', act: ACTOR } })

  for (const url of ['/in-person', '/in-person-admin', '/in-person-scope']) {
    t.equal((await app.inject({ url, headers: bearer(own) })).statusCode, 200, `${url}: the user in person`)
    const res = await app.inject({ url, headers: bearer(delegated) })
    t.equal(res.statusCode, 403, `${url}: someone acting for the user`)
    t.equal(res.json().code, 'ZITADEL_AUTH_DELEGATION_REFUSED')
    t.equal(res.headers['www-authenticate'], DELEGATION_CHALLENGE)
    t.notOk(res.body.includes(delegated), 'the token is not in the answer')
    t.equal((await app.inject({ url })).statusCode, 401, `${url}: no token is still 401`)
  }
  t.equal((await app.inject({ url: '/me', headers: bearer(delegated) })).statusCode, 200, 'requireAuth() by default accepts a delegated token')
  t.equal((await app.inject({ url: '/admin', headers: bearer(delegated) })).statusCode, 200, 'requireRoles() by default too')
  t.equal((await app.inject({ url: '/delegated-ok', headers: bearer(delegated) })).statusCode, 200, 'allowDelegated: true')
})

t.test('guard options are checked when the route is declared', async (t) => {
  const { app } = await setup(t)
  const { requireAuth, requireRoles, requireScopes } = app.zitadel
  const bad: Array<[string, () => unknown, RegExp]> = [
    ['requireAuth(null)', () => requireAuth(null as never), /requireAuth: options must be an object/],
    ['requireAuth([])', () => requireAuth([] as never), /requireAuth: options must be an object/],
    ['requireAuth allowDelegated "no"', () => requireAuth({ allowDelegated: 'no' as never }), /requireAuth: option "allowDelegated" must be a boolean/],
    ['requireRoles allowDelegated 0', () => requireRoles(['admin'], { allowDelegated: 0 as never }), /requireRoles: option "allowDelegated" must be a boolean/],
    ['requireScopes options a string', () => requireScopes(['read'], 'strict' as never), /requireScopes: options must be an object/]
  ]
  for (const [name, call, message] of bad) {
    t.throws(call, { code: 'ZITADEL_AUTH_INVALID_OPTION', message }, name)
  }
})

t.test('request.user.metadata: each value decoded from base64 to text; entries of another shape left out', async (t) => {
  const { issuer, app } = await setup(t)
  const encode = (value: string, encoding: 'base64url' | 'base64') => Buffer.from(value, 'utf8').toString(encoding)
  const user = await app.zitadel.verify(await issuer.token({
    claims: {
      'urn:zitadel:iam:user:metadata': {
        // zitadel internal/api/oidc/userinfo.go: base64url without padding.
        tenant: encode('acme-prod', 'base64url').replace(/=+$/, ''),
        greeting: encode('Grüße ✓', 'base64url'),
        padded: encode('ab', 'base64'),
        empty: '',
        count: 3,
        nested: { a: 'b' }
      }
    }
  }))
  t.same({ ...user.metadata }, { tenant: 'acme-prod', greeting: 'Grüße ✓', padded: 'ab', empty: '' })
  t.equal(Object.getPrototypeOf(user.metadata), null, 'a null-prototype object')
  t.ok(Object.isFrozen(user.metadata))

  const without = await app.zitadel.verify(await issuer.token())
  t.same({ ...without.metadata }, {}, 'no claim: empty')
  const wrong = await app.zitadel.verify(await issuer.token({ claims: { 'urn:zitadel:iam:user:metadata': ['a'] } }))
  t.same({ ...wrong.metadata }, {}, 'a claim of another shape: empty')
})
