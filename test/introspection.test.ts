import { createPrivateKey, generateKeyPairSync } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import type { ZitadelAuthOptions } from '../lib/index.js'
import { projectRolesClaim } from '../lib/testing/index.js'
import { FAST, type TestOptions } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'
import { SECRET, introspectedApi, opaqueTenant, type IntrospectedApi } from './helpers/introspection.js'
import { ROLES_SCOPE, addTenant, assertion, audScope, codeFlow, jwtProfile, post, startIdp } from './emulator/helpers.js'

/**
 * Opaque tokens through introspection (issue 5), end to end against the
 * emulator over real HTTP: the PKCE login and the service-user grant, both
 * client authentications, revocation within the cache bound, the audience
 * rule, misconfigured credentials, the shared call and the cache, which
 * tokens are introspected, and the claim rules applied to the answer.
 * The cache bound and the cooldown pass on a FakeClock (test/helpers/clock.ts).
 */

const idp = await startIdp()
t.teardown(() => idp.close())

const { tenant, keyApi, keyFile, basicApi, byKey: BY_KEY, bySecret: BY_SECRET } = await opaqueTenant(idp)
const AUTHS = [['private_key_jwt', BY_KEY], ['Basic', BY_SECRET]] as const

const INACTIVE = 'ZITADEL_AUTH_TOKEN_INACTIVE'
const UNAVAILABLE = 'ZITADEL_AUTH_IDP_UNAVAILABLE'
const orgRoles = (...roles: string[]) => Object.fromEntries(roles.map((r) => [r, { [tenant.orgId]: tenant.orgDomain }]))

type Api = IntrospectedApi

function apiFor (t: Test, introspection: ZitadelAuthOptions['introspection'], options: TestOptions = {}): Promise<Api> {
  return introspectedApi(t, { issuer: idp.issuer, projectId: tenant.projectId, rolesScope: ROLES_SCOPE }, introspection, options)
}

/** A fresh opaque token of the tenant's app, as the token endpoint issues it. */
function opaqueToken (user: { id: string } = tenant.bob, options: { expiresIn?: number, roles?: boolean } = {}): Promise<string> {
  return idp.mintAccessToken({ userId: user.id, clientId: tenant.clientId, ...options })
}

async function revoke (t: Test, token: string, clientId = tenant.clientId): Promise<void> {
  const res = await fetch(`${idp.issuer}/oauth/v2/revoke`, post({ token, client_id: clientId }))
  t.equal(res.status, 200, 'revoked')
}

function refused (t: Test, res: LightMyRequestResponse, status: number, code: string, what = code): void {
  t.equal(res.statusCode, status, what)
  t.equal(res.json().code, code, what)
}

/** 401 TOKEN_INACTIVE with an RFC 6750 challenge, and the token nowhere in the body. */
function inactive (t: Test, res: LightMyRequestResponse, token: string, what = 'inactive'): void {
  refused(t, res, 401, INACTIVE, what)
  t.match(res.headers['www-authenticate'], /^Bearer realm="api", error="invalid_token", error_description="[^"]+"$/, `${what}: challenge`)
  t.notOk(res.body.includes(token), `${what}: the token is not in the body`)
}

/** 503 IDP_UNAVAILABLE with Retry-After in whole seconds. */
function unavailable (t: Test, res: LightMyRequestResponse, token: string, what = 'unavailable'): void {
  refused(t, res, 503, UNAVAILABLE, what)
  t.match(res.headers['retry-after'], /^[1-9]\d*$/, `${what}: Retry-After`)
  t.notOk(res.body.includes(token), `${what}: the token is not in the body`)
}

function noSecretsLogged (t: Test, api: Api, secrets: string[]): void {
  for (const secret of secrets) t.notOk(api.lines.some((line) => line.includes(secret)), 'no log line holds a token or a credential')
}

t.test('an opaque token from the PKCE login passes, with private_key_jwt and with Basic: request.user as for a JWT', async (t) => {
  const scope = 'openid profile email urn:zitadel:iam:user:resourceowner'
  for (const [name, introspection] of AUTHS) {
    const api = await apiFor(t, introspection)
    const { access_token: token } = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw', { scope })
    t.notOk(token.includes('.'), 'an opaque token')
    const res = await api.get('/me', token)
    t.equal(res.statusCode, 200, name)
    const user = res.json()
    t.equal(user.sub, tenant.alice.id, `${name}: sub`)
    t.equal(user.clientId, tenant.clientId, `${name}: clientId is client_id`)
    t.equal(user.orgId, tenant.orgId, `${name}: orgId from the resource owner claim`)
    t.same(user.roles, orgRoles('user', 'admin'), `${name}: roles from the project's role claim`)
    t.same(user.scopes, scope.split(' '), `${name}: scopes from scope`)
    t.match(user.claims, { iss: idp.issuer, sub: tenant.alice.id, client_id: tenant.clientId, scope, username: tenant.alice.username }, `${name}: claims are the answer`)
    t.notOk(res.body.includes(token), 'the token is not in the body')
    t.equal((await api.get('/admin', token)).statusCode, 200, `${name}: requireRoles sees the roles`)
    t.same((await api.get('/public', token)).json(), { user: tenant.alice.id }, 'a public route sees the user too')
    noSecretsLogged(t, api, [token, SECRET])
  }
})

t.test('an opaque token from the service-user grant passes, with private_key_jwt and with Basic', async (t) => {
  const { user, keyFile: userKey } = await idp.addServiceUser({
    username: 'svc-introspected', orgId: tenant.orgId, grants: [{ projectId: tenant.projectId, roles: ['user'] }], accessTokenType: 'opaque'
  })
  const scope = `openid ${audScope(tenant.projectId)} ${ROLES_SCOPE}`
  for (const [name, introspection] of AUTHS) {
    const api = await apiFor(t, introspection)
    const res = await jwtProfile(idp, await assertion(userKey, idp.issuer), scope)
    t.equal(res.status, 200)
    const { access_token: token } = await res.json() as { access_token: string }
    t.notOk(token.includes('.'), 'an opaque token')
    const me = await api.get('/me', token)
    t.equal(me.statusCode, 200, name)
    const body = me.json()
    t.equal(body.sub, user.id, `${name}: sub`)
    t.equal(body.clientId, user.username, `${name}: client_id is the service user's username (zitadel token_jwt_profile.go)`)
    t.same(body.roles, orgRoles('user'), `${name}: roles`)
    t.same(body.scopes, scope.split(' '), `${name}: scopes`)
    refused(t, await api.get('/admin', token), 403, 'ZITADEL_AUTH_ROLE_REQUIRED', `${name}: not an admin`)
    t.equal((await api.get('/roles-scope', token)).statusCode, 200, `${name}: requireScopes sees the roles scope`)
  }
})

t.test('the key file works as JSON text, with a PKCS#8 key and without appId', async (t) => {
  const pkcs8 = createPrivateKey(keyFile.key).export({ type: 'pkcs8', format: 'pem' }) as string
  t.match(pkcs8, /^-----BEGIN PRIVATE KEY-----/)
  const { appId, ...withoutAppId } = keyFile
  t.ok(appId)
  const cases = [
    ['JSON text', { keyFile: JSON.stringify(keyFile) }],
    ['PKCS#8', { keyFile: { ...keyFile, key: pkcs8 } }],
    ['no appId', { keyFile: withoutAppId }]
  ] as const
  for (const [name, introspection] of cases) {
    const api = await apiFor(t, introspection)
    t.same(api.app.zitadel.options.introspection, {
      clientId: keyApi.clientId, authMethod: 'private_key_jwt', keyId: keyFile.keyId, tokens: 'opaque', cacheMaxAge: 60, cacheSize: 10000
    }, `${name}: read like the object`)
    const token = await opaqueToken()
    t.equal((await api.get('/me', token)).statusCode, 200, name)
  }
})

t.test('the resolved options show the introspection settings, never the secret or the key', async (t) => {
  const byKey = await apiFor(t, BY_KEY)
  const bySecret = await apiFor(t, { ...BY_SECRET, tokens: 'all', cacheMaxAge: 0.5, cacheSize: 7 })
  t.same(bySecret.app.zitadel.options.introspection, {
    clientId: basicApi.clientId, authMethod: 'client_secret_basic', keyId: undefined, tokens: 'all', cacheMaxAge: 0.5, cacheSize: 7
  })
  t.ok(Object.isFrozen(bySecret.app.zitadel.options.introspection))
  const pemBody = keyFile.key.split('\n')[1] as string
  for (const api of [byKey, bySecret]) {
    const shown = JSON.stringify(api.app.zitadel.options)
    t.notOk(shown.includes(SECRET), 'no secret')
    t.notOk(shown.includes(pemBody), 'no key')
  }
})

t.test('a revoked token is refused once the cache bound has passed', async (t) => {
  const clock = new FakeClock()
  const api = await apiFor(t, { ...BY_KEY, cacheMaxAge: 0.3 }, { [kClock]: clock })
  const { access_token: token } = await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw')
  t.equal((await api.get('/me', token)).statusCode, 200, 'accepted')
  await revoke(t, token)
  await clock.advance(299)
  t.equal((await api.get('/me', token)).statusCode, 200, 'within the bound, the answer kept before the revocation is used')
  await clock.advance(1)
  inactive(t, await api.get('/me', token), token, 'refused after cacheMaxAge')
  inactive(t, await api.get('/public', token), token, 'on a public route too: a presented token is checked')
  noSecretsLogged(t, api, [token])
})

t.test('an expired opaque token is inactive', async (t) => {
  const api = await apiFor(t, BY_SECRET)
  const token = await opaqueToken(tenant.bob, { expiresIn: 0 })
  inactive(t, await api.get('/me', token), token)
})

t.test('a token for another project\'s audience: 401 TOKEN_INACTIVE, and one warning about the audience', async (t) => {
  const other = addTenant(idp, { accessTokenType: 'opaque' })
  const api = await apiFor(t, BY_KEY)
  const first = await idp.mintAccessToken({ userId: other.bob.id, clientId: other.clientId })
  const second = await idp.mintAccessToken({ userId: other.alice.id, clientId: other.clientId })
  inactive(t, await api.get('/me', first), first)
  const warnings = () => api.logs().filter((l) => l.level === 40)
  t.equal(warnings().length, 1, 'one warning')
  t.match(warnings()[0]?.msg, /audience/i, 'it names the audience')
  t.match(warnings()[0]?.msg, /project/i, 'and the project')
  inactive(t, await api.get('/public', second), second)
  inactive(t, await api.get('/me', first), first, 'not cached: asked again, and inactive again')
  t.equal(warnings().length, 1, 'no second warning')
  noSecretsLogged(t, api, [first, second])

  // Audience is not authorization: with the audience scope the token is active here, and gets no role.
  const widened = await idp.mintAccessToken({ userId: other.bob.id, clientId: other.clientId, projectIds: [tenant.projectId] })
  t.equal((await api.get('/me', widened)).statusCode, 200, 'active with this project in aud')
  refused(t, await api.get('/admin', widened), 403, 'ZITADEL_AUTH_ROLE_REQUIRED', 'no role in this project')
})

t.test('credentials the introspection endpoint refuses: 503 with Retry-After, one error line about the client authentication', async (t) => {
  const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }) as string
  const cases = [
    ['a wrong secret', { clientId: basicApi.clientId, clientSecret: 'not-the-secret' }],
    ['an unknown client id', { clientId: 'nobody@nowhere', clientSecret: SECRET }],
    ['a key file whose keyId the IdP does not know', { keyFile: { ...keyFile, keyId: '123456789012345678' } }],
    ['a key file with another key', { keyFile: { ...keyFile, key: stranger } }],
    ['a Basic app\'s client id in a key file', { keyFile: { ...keyFile, clientId: basicApi.clientId } }]
  ] as const
  for (const [name, introspection] of cases) {
    const clock = new FakeClock()
    const api = await apiFor(t, introspection, { [kClock]: clock })
    const token = await opaqueToken()
    const before = idp.requests.introspect
    unavailable(t, await api.get('/me', token), token, name)
    t.equal(idp.requests.introspect, before + 1, `${name}: the IdP was asked`)
    // The plugin's own lines: Fastify's error handler adds one of its own for every 5xx it sends.
    const errorLines = () => api.logs().filter((l) => l.level >= 50 && l.plugin === 'fastify-zitadel-auth')
    t.equal(errorLines().length, 1, `${name}: one error line`)
    t.match(errorLines()[0]?.msg, /introspection/i, `${name}: it is about introspection`)
    t.match(errorLines()[0]?.msg, /client authentication/i, `${name}: and the client authentication`)

    unavailable(t, await api.get('/public', token), token, `${name}: within the cooldown`)
    t.equal(idp.requests.introspect, before + 1, `${name}: not asked again within the cooldown`)
    await clock.advance(FAST.jwksCooldown * 1000)
    unavailable(t, await api.get('/public', token), token, `${name}: again`)
    t.equal(idp.requests.introspect, before + 2, `${name}: asked again once the cooldown has passed`)
    t.equal(errorLines().length, 1, `${name}: repeats are not errors`)
    t.ok(api.logs().some((l) => l.level === 20 && /client authentication/i.test(l.msg)), `${name}: repeats go to debug`)
    noSecretsLogged(t, api, [token, SECRET, 'not-the-secret', stranger.split('\n')[1] as string, keyFile.key.split('\n')[1] as string])
  }
})

t.test('100 concurrent requests with one new token make one introspection call; 100 more make none', async (t) => {
  for (const [name, introspection] of AUTHS) {
    const api = await apiFor(t, introspection)
    const token = await opaqueToken()
    const before = idp.requests.introspect
    const first = await Promise.all(Array.from({ length: 100 }, () => api.get('/me', token)))
    t.ok(first.every((res) => res.statusCode === 200), `${name}: all accepted`)
    t.ok(first.every((res) => res.json().sub === tenant.bob.id), `${name}: all see the user`)
    t.equal(idp.requests.introspect, before + 1, `${name}: one call`)
    const second = await Promise.all(Array.from({ length: 100 }, () => api.get('/me', token)))
    t.ok(second.every((res) => res.statusCode === 200))
    t.equal(idp.requests.introspect, before + 1, `${name}: the cache answers`)
  }
})

t.test('tokens "opaque" (the default): JWTs are verified locally, only what is not a compact JWS is introspected', async (t) => {
  const jwtTenant = addTenant(idp)
  const jwtApi = idp.addApiApp({ projectId: jwtTenant.projectId, name: 'jwt backend' })
  const api = await apiFor(t, { clientId: jwtApi.clientId, clientSecret: jwtApi.clientSecret }, { projectId: jwtTenant.projectId })
  t.equal(api.app.zitadel.options.introspection?.tokens, 'opaque')
  const jwt = await idp.mintAccessToken({ userId: jwtTenant.alice.id, clientId: jwtTenant.clientId })
  t.equal(jwt.split('.').length, 3)
  const before = idp.requests.introspect
  t.equal((await api.get('/me', jwt)).statusCode, 200, 'a JWT passes')
  t.equal((await api.get('/me', jwt)).statusCode, 200)
  refused(t, await api.get('/me', 'abc.def.ghi'), 401, 'ZITADEL_AUTH_TOKEN_MALFORMED', 'a compact JWS that is not a JWT: refused locally')
  const foreignJwt = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, type: 'jwt' })
  refused(t, await api.get('/me', foreignJwt), 401, 'ZITADEL_AUTH_AUDIENCE_INVALID', 'another project\'s JWT: refused locally')
  refused(t, await api.get('/me', 'abc@def'), 400, 'ZITADEL_AUTH_BAD_REQUEST', 'not a b64token: a bad request')
  t.equal(idp.requests.introspect, before, 'no introspection call for any of them')

  inactive(t, await api.get('/me', 'abc.def'), 'abc.def', 'two segments: not a JWS, so introspected')
  t.equal(idp.requests.introspect, before + 1)
  const opaque = await idp.mintAccessToken({ userId: jwtTenant.bob.id, clientId: jwtTenant.clientId, type: 'opaque' })
  t.equal((await api.get('/me', opaque)).statusCode, 200, 'an opaque token of the same project passes')
  t.equal(idp.requests.introspect, before + 2)
})

t.test('tokens "all": JWTs are introspected too, and a revoked JWT is refused after cacheMaxAge', async (t) => {
  const jwtTenant = addTenant(idp)
  const jwtApi = idp.addApiApp({ projectId: jwtTenant.projectId, name: 'jwt backend' })
  const clock = new FakeClock()
  const api = await apiFor(t, { clientId: jwtApi.clientId, clientSecret: jwtApi.clientSecret, tokens: 'all', cacheMaxAge: 0.3 }, { projectId: jwtTenant.projectId, [kClock]: clock })
  const jwt = await idp.mintAccessToken({ userId: jwtTenant.alice.id, clientId: jwtTenant.clientId })
  const before = idp.requests.introspect
  const res = await api.get('/me', jwt)
  t.equal(res.statusCode, 200)
  t.equal(res.json().sub, jwtTenant.alice.id)
  t.same(res.json().scopes, ['openid', 'profile', 'email'], 'the answer\'s scope, which a JWT lacks')
  t.equal(idp.requests.introspect, before + 1, 'one call for the JWT')
  t.equal((await api.get('/admin', jwt)).statusCode, 200)
  t.equal(idp.requests.introspect, before + 1, 'then the cache')

  await revoke(t, jwt, jwtTenant.clientId)
  await clock.advance(300)
  inactive(t, await api.get('/me', jwt), jwt, 'the revoked JWT is refused, though its signature is good')
  t.ok(idp.requests.introspect >= before + 2)
})

t.test('requireScopes and requireRoles work on introspected tokens', async (t) => {
  const api = await apiFor(t, BY_SECRET)
  const bob = await opaqueToken()
  t.equal((await api.get('/email', bob)).statusCode, 200, 'scope "email" is in the answer')
  const noScope = await api.get('/roles-scope', bob)
  refused(t, noScope, 403, 'ZITADEL_AUTH_SCOPE_REQUIRED')
  t.match(noScope.headers['www-authenticate'], 'error="insufficient_scope"')
  t.match(noScope.headers['www-authenticate'], `scope="${ROLES_SCOPE}"`)
  refused(t, await api.get('/admin', bob), 403, 'ZITADEL_AUTH_ROLE_REQUIRED', 'bob is no admin')

  const alice = await opaqueToken(tenant.alice, { roles: true })
  t.equal((await api.get('/roles-scope', alice)).statusCode, 200, 'asked for the roles scope')
  t.equal((await api.get('/admin', alice)).statusCode, 200, 'alice is an admin')
  const scoped = await idp.mintAccessToken({ userId: tenant.alice.id, clientId: tenant.clientId, scope: 'openid' })
  refused(t, await api.get('/email', scoped), 403, 'ZITADEL_AUTH_SCOPE_REQUIRED', 'a token for openid only')
})

t.test('the claim rules of JWTs apply to the answer: audience, allowedClientIds, claimsSchema', async (t) => {
  const token = await opaqueToken()
  refused(t, await (await apiFor(t, BY_KEY, { audience: 'another-api' })).get('/me', token), 401, 'ZITADEL_AUTH_AUDIENCE_INVALID', 'aud lacks the accepted audience')
  refused(t, await (await apiFor(t, BY_KEY, { allowedClientIds: ['another-app'] })).get('/me', token), 401, 'ZITADEL_AUTH_CLIENT_NOT_ALLOWED', 'client_id not allowed')
  t.equal((await (await apiFor(t, BY_KEY, { allowedClientIds: [tenant.clientId] })).get('/me', token)).statusCode, 200, 'client_id allowed')
  const schemaApi = await apiFor(t, BY_KEY, { claimsSchema: Type.Object({ username: Type.String(), email_verified: Type.Literal(true) }) })
  t.equal((await schemaApi.get('/me', token)).statusCode, 200, 'the answer meets the schema')
  const strictApi = await apiFor(t, BY_KEY, { claimsSchema: Type.Object({ department: Type.String() }) })
  refused(t, await strictApi.get('/me', token), 401, 'ZITADEL_AUTH_CLAIMS_INVALID', 'the answer fails the schema')
})

t.test('no cache: with cacheSize 0 or cacheMaxAge 0, every request introspects', async (t) => {
  for (const cache of [{ cacheSize: 0 }, { cacheMaxAge: 0 }]) {
    const api = await apiFor(t, { ...BY_KEY, ...cache })
    const token = await opaqueToken()
    const before = idp.requests.introspect
    for (let i = 0; i < 3; i++) t.equal((await api.get('/me', token)).statusCode, 200, JSON.stringify(cache))
    t.equal(idp.requests.introspect, before + 3, `${JSON.stringify(cache)}: three calls`)
  }
})

t.test('without the introspection option, an opaque token is malformed and nobody is asked', async (t) => {
  const api = await apiFor(t, undefined)
  t.equal(api.app.zitadel.options.introspection, undefined)
  const token = await opaqueToken()
  const before = idp.requests.introspect
  refused(t, await api.get('/me', token), 401, 'ZITADEL_AUTH_TOKEN_MALFORMED')
  await t.rejects(api.app.zitadel.verify(token), { code: 'ZITADEL_AUTH_TOKEN_MALFORMED' })
  t.equal(idp.requests.introspect, before)
})

t.test('app.zitadel.verify introspects opaque tokens as the hook does', async (t) => {
  const clock = new FakeClock()
  const api = await apiFor(t, { ...BY_SECRET, cacheMaxAge: 0.3 }, { [kClock]: clock })
  const { access_token: token } = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw')
  const user = await api.app.zitadel.verify(token)
  t.equal(user.sub, tenant.alice.id)
  t.equal(user.clientId, tenant.clientId)
  t.ok(user.hasRole('admin', tenant.orgId))
  t.same(user.claims[projectRolesClaim(tenant.projectId)], orgRoles('user', 'admin'))
  t.equal(user.token, token, 'the raw token, for calls on the user\'s behalf')
  t.ok(Object.isFrozen(user))

  await revoke(t, token)
  await clock.advance(300)
  const err = await api.app.zitadel.verify(token).then(() => undefined, (e: unknown) => e as Error & { code: string, statusCode: number })
  t.match(err, { code: INACTIVE, statusCode: 401 }, 'rejects once revoked')
  t.notOk(err?.message.includes(token), 'the message does not hold the token')
  const before = idp.requests.introspect
  await t.rejects(api.app.zitadel.verify('abc@def'), { code: 'ZITADEL_AUTH_TOKEN_MALFORMED' }, 'not a b64token: malformed (there is no request to be bad)')
  t.equal(idp.requests.introspect, before, 'and not sent to the IdP')
})

t.test('after the app is closed, verify() of a new opaque token gets 503 at once, without a call', async (t) => {
  const api = await apiFor(t, BY_SECRET)
  await api.app.ready()
  await api.app.close()
  const before = idp.requests.introspect
  await t.rejects(api.app.zitadel.verify(await opaqueToken()), { code: UNAVAILABLE, statusCode: 503 })
  t.equal(idp.requests.introspect, before, 'nothing reached the IdP')
})
