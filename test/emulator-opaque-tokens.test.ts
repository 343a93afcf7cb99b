import t from 'tap'
import { projectRolesClaim } from '../lib/testing/index.js'
import { atHash } from '../lib/testing/tokens.js'
import {
  ROLES_SCOPE, addTenant, aliceIntrospection, assertion, audScope, claimsOf, codeFlow, headerOf, introspect, isActive, jwtProfile, post, startIdp,
  type IntrospectAuth
} from './emulator/helpers.js'

const idp = await startIdp()
t.teardown(() => idp.close())

/** Zitadel's opaque tokens: base64url without padding, about 104 characters (see OPAQUE_TOKEN_BYTES). */
const OPAQUE = /^[A-Za-z0-9_-]{104}$/

async function userinfo (token: string, method: 'GET' | 'POST' = 'GET'): Promise<Response> {
  return fetch(`${idp.issuer}/oidc/v1/userinfo`, { method, headers: { authorization: `Bearer ${token}` } })
}

function apiOf (projectId: string, name = 'backend'): IntrospectAuth {
  const api = idp.addApiApp({ projectId, name })
  return { basic: [api.clientId, api.clientSecret] }
}

t.test('an app set to opaque: the code flow answers an opaque Bearer access token and a JWT ID token bound to it', async (t) => {
  const tenant = addTenant(idp, { accessTokenType: 'opaque' })
  const body = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw')
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'id_token', 'token_type'])
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 43200)
  t.match(body.access_token, OPAQUE)
  t.notOk(body.access_token.includes('.'), 'not JWT-shaped: no dots')
  t.equal(Buffer.from(body.access_token, 'base64url').length, 78)

  const id = claimsOf(body.id_token as string)
  t.same(headerOf(body.id_token as string).typ, 'JWT', 'ID tokens stay JWTs')
  t.equal(id.sub, tenant.alice.id)
  t.equal(id.at_hash, atHash(body.access_token, 'RS256'), 'at_hash is the hash of the opaque token')

  const again = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw')
  t.not(again.access_token, body.access_token, 'a new token for every login')
})

t.test('introspection reads an opaque token as Zitadel does, with the same answer as for a JWT', async (t) => {
  const tenant = addTenant(idp, { accessTokenType: 'opaque' })
  const api = idp.addApiApp({ projectId: tenant.projectId, name: 'backend' })
  const auth: IntrospectAuth = { basic: [api.clientId, api.clientSecret] }
  const { access_token: token } = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw')
  const res = await introspect(idp, token, auth)
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  const body = await res.json() as Record<string, unknown>
  // Nothing to read in an opaque token: its times as the answer gives them, twelve hours long, for every client of the project.
  const ownFields = { jti: body.jti, iat: body.iat, nbf: body.iat, exp: body.iat as number + 43200, aud: [tenant.clientId, api.clientId, tenant.projectId] }
  t.same(body, aliceIntrospection(idp, tenant, body, ownFields))
  t.match(body.jti, /^V2_\d{18}-at_\d{18}$/, 'a token id as Zitadel writes them')
  t.ok(Math.abs(body.iat as number - Date.now() / 1000) < 60)

  // The same user, app and scope as a JWT: the answers differ only in the token's own id and times.
  const jwt = await idp.mintAccessToken({ userId: tenant.alice.id, clientId: tenant.clientId, type: 'jwt' })
  t.equal(jwt.split('.').length, 3)
  const jwtBody = await (await introspect(idp, jwt, auth)).json() as Record<string, unknown>
  t.same({ ...jwtBody, jti: 0, iat: 0, nbf: 0, exp: 0 }, { ...body, jti: 0, iat: 0, nbf: 0, exp: 0 })
})

t.test('userinfo answers for an opaque token, by GET and by POST', async (t) => {
  const tenant = addTenant(idp, { accessTokenType: 'opaque' })
  const { access_token: token } = await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', { scope: 'openid profile email urn:zitadel:iam:user:resourceowner' })
  t.match(token, OPAQUE)
  for (const method of ['GET', 'POST'] as const) {
    const res = await userinfo(token, method)
    t.equal(res.status, 200, method)
    t.equal(res.headers.get('cache-control'), 'no-store')
    const body = await res.json() as Record<string, unknown>
    t.equal(body.sub, tenant.bob.id)
    t.equal(body.preferred_username, tenant.bob.username)
    t.equal(body.email, `${tenant.bob.username}@${tenant.orgDomain}`)
    t.equal(body['urn:zitadel:iam:user:resourceowner:id'], tenant.orgId)
    t.same(body[projectRolesClaim(tenant.projectId)], { user: { [tenant.orgId]: tenant.orgDomain } })
  }
  const unknown = await userinfo(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`)
  t.equal(unknown.status, 401, 'one character off: unknown')
  t.equal(unknown.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
})

t.test('a service user set to opaque gets an opaque token from the JWT-profile grant', async (t) => {
  const tenant = addTenant(idp)
  const { user, keyFile } = await idp.addServiceUser({
    username: 'svc-opaque', orgId: tenant.orgId, grants: [{ projectId: tenant.projectId, roles: ['user'] }], accessTokenType: 'opaque'
  })
  const res = await jwtProfile(idp, await assertion(keyFile, idp.issuer), `openid ${audScope(tenant.projectId)} ${ROLES_SCOPE}`)
  t.equal(res.status, 200)
  const body = await res.json() as { access_token: string, token_type: string, expires_in: number, id_token: string }
  t.match(body.access_token, OPAQUE)
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 43200)
  t.equal(claimsOf(body.id_token).sub, user.id, 'the ID token is still a JWT')

  const answer = await (await introspect(idp, body.access_token, apiOf(tenant.projectId))).json() as Record<string, unknown>
  t.equal(answer.active, true)
  t.equal(answer.sub, user.id)
  t.equal(answer.client_id, 'svc-opaque', 'client_id is the service user\'s username, as in its JWTs')
  t.same(answer.aud, [tenant.projectId])
  t.equal(answer.scope, `openid ${audScope(tenant.projectId)} ${ROLES_SCOPE}`)
  t.same(answer[projectRolesClaim(tenant.projectId)], { user: { [tenant.orgId]: tenant.orgDomain } })
  t.equal((await userinfo(body.access_token)).status, 200)
})

t.test('mintAccessToken follows the app\'s and the service user\'s setting; type overrides it', async (t) => {
  const opaque = addTenant(idp, { accessTokenType: 'opaque' })
  const jwt = addTenant(idp)
  const { user: svc } = await idp.addServiceUser({ username: 'svc-mint', accessTokenType: 'opaque', grants: [{ projectId: jwt.projectId, roles: ['user'] }] })
  const { user: svcJwt } = await idp.addServiceUser({ username: 'svc-mint-jwt' })
  const auth = apiOf(opaque.projectId)

  const fromApp = await idp.mintAccessToken({ userId: opaque.bob.id, clientId: opaque.clientId })
  t.match(fromApp, OPAQUE, 'the app says opaque')
  t.ok(await isActive(idp, fromApp, auth))
  t.equal((await idp.mintAccessToken({ userId: opaque.bob.id, clientId: opaque.clientId, type: 'jwt' })).split('.').length, 3, 'type: jwt wins')
  t.match(await idp.mintAccessToken({ userId: jwt.bob.id, clientId: jwt.clientId, type: 'opaque' }), OPAQUE, 'type: opaque wins')
  t.equal((await idp.mintAccessToken({ userId: jwt.bob.id, clientId: jwt.clientId })).split('.').length, 3, 'the default stays JWT')

  const service = await idp.mintAccessToken({ userId: svc.id, projectIds: [jwt.projectId] })
  t.match(service, OPAQUE, 'without a client, the service user\'s setting')
  const answer = await (await introspect(idp, service, apiOf(jwt.projectId))).json() as Record<string, unknown>
  t.equal(answer.active, true)
  t.equal(answer.client_id, svc.username)
  t.equal((await idp.mintAccessToken({ userId: svcJwt.id })).split('.').length, 3)
  t.match(await idp.mintAccessToken({ userId: svc.id, clientId: jwt.clientId }), /\./, 'with a client, the app\'s setting')

  const scoped = await idp.mintAccessToken({ userId: opaque.bob.id, clientId: opaque.clientId, scope: 'openid', roles: false, expiresIn: 60 })
  const scopedBody = await (await introspect(idp, scoped, auth)).json() as Record<string, unknown>
  t.equal(scopedBody.scope, 'openid')
  t.equal(scopedBody.exp as number - (scopedBody.iat as number), 60)

  await t.rejects(idp.mintAccessToken({ userId: opaque.bob.id, clientId: opaque.clientId, claims: { foo: 1 } }), { name: 'TypeError', message: /"claims" shape a JWT; an opaque token has none/ })
  await t.rejects(idp.mintAccessToken({ userId: jwt.bob.id, clientId: jwt.clientId, type: 'opaque', claims: { foo: 1 } }), /"claims"/)
  await t.rejects(idp.mintAccessToken({ userId: jwt.bob.id, type: 'bearer' as never }), { name: 'TypeError', message: /"type" must be "jwt" or "opaque"/ })
})

t.test('opaque tokens are random and unguessable, never JWT-shaped', async (t) => {
  const tenant = addTenant(idp, { accessTokenType: 'opaque' })
  const auth = apiOf(tenant.projectId)
  const tokens = await Promise.all(Array.from({ length: 50 }, () => idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })))
  t.equal(new Set(tokens).size, 50)
  for (const token of tokens) t.match(token, OPAQUE)
  const [first] = tokens as [string]
  t.ok(await isActive(idp, first, auth))
  const guesses = [
    `${first.slice(0, -1)}${first.endsWith('A') ? 'B' : 'A'}`,
    first.slice(1),
    `${first}A`,
    Buffer.from(first, 'base64url').toString('base64'),
    Buffer.alloc(78).toString('base64url')
  ]
  // Without '-' or '_' in it, the base64 form is the token itself: not a guess then.
  for (const guess of guesses.filter((g) => g !== first)) t.equal(await isActive(idp, guess, auth), false, 'a near guess is inactive')
})

t.test('the audience rule holds for opaque tokens: another project sees active:false unless the token asked for it', async (t) => {
  const tenant = addTenant(idp, { accessTokenType: 'opaque' })
  const other = addTenant(idp)
  idp.grantRoles(tenant.bob.id, other.projectId, ['admin'])
  const otherApi = apiOf(other.projectId, 'other backend')
  const plain = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  t.equal(await isActive(idp, plain, otherApi), false)
  t.equal(await isActive(idp, plain, apiOf(tenant.projectId)), true)

  const widened = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, projectIds: [other.projectId] })
  const body = await (await introspect(idp, widened, otherApi)).json() as Record<string, unknown>
  t.equal(body.active, true, 'audience is not authorization')
  t.same(body[projectRolesClaim(other.projectId)], { admin: { [tenant.orgId]: tenant.orgDomain } }, 'roles of the asking project only')
  t.notOk(projectRolesClaim(tenant.projectId) in body)
})

t.test('expired opaque tokens are inactive, and forgotten', async (t) => {
  const tenant = addTenant(idp, { accessTokenType: 'opaque' })
  const auth = apiOf(tenant.projectId)
  const expired = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, expiresIn: 0 })
  t.equal(await isActive(idp, expired, auth), false, 'expired on arrival')
  // Issuing sweeps expired records; the answer stays the same.
  await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  t.equal(await isActive(idp, expired, auth), false)
  t.equal((await userinfo(expired)).status, 401)

  const short = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, expiresIn: 30 })
  t.equal(await isActive(idp, short, auth), true)
  const realNow = Date.now
  Date.now = () => realNow() + 31_000
  t.teardown(() => { Date.now = realNow })
  t.equal(await isActive(idp, short, auth), false, 'inactive once exp has passed')
})

t.test('opaque tokens do not depend on the signing keys: they outlive a key rotation that ends the JWTs', async (t) => {
  const own = await startIdp({ algorithm: 'ES256' })
  t.teardown(() => own.close())
  const tenant = addTenant(own, { accessTokenType: 'opaque' })
  const api = own.addApiApp({ projectId: tenant.projectId, name: 'backend' })
  const auth: IntrospectAuth = { basic: [api.clientId, api.clientSecret] }
  const opaque = await own.mintAccessToken({ userId: tenant.bob.id })
  const jwt = await own.mintAccessToken({ userId: tenant.bob.id, type: 'jwt' })
  await own.rotateKeys()
  t.equal(await isActive(own, jwt, auth), false, 'the JWT\'s key is gone')
  t.equal(await isActive(own, opaque, auth), true)
})

t.test('revocation of opaque tokens: only the client they were issued to, by its own method', async (t) => {
  const tenant = addTenant(idp, { accessTokenType: 'opaque' })
  const confidential = addTenant(idp, { accessTokenType: 'opaque', clientSecret: 'conf-secret' })
  const revoke = (fields: Record<string, string>, headers: Record<string, string> = {}) => fetch(`${idp.issuer}/oauth/v2/revoke`, post(fields, headers))
  const auth = apiOf(tenant.projectId)
  const { access_token: token } = await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw')

  t.equal((await revoke({ token, client_id: confidential.clientId })).status, 400, 'an app with a secret must use it')
  t.equal((await revoke({ token, client_id: addTenant(idp).clientId })).status, 200, 'RFC 7009: 200 either way')
  t.ok(await isActive(idp, token, auth), 'another client cannot revoke it')

  const ok = await revoke({ token, client_id: tenant.clientId, token_type_hint: 'access_token' })
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('cache-control'), 'no-store')
  t.equal(await isActive(idp, token, auth), false, 'introspection: inactive at once')
  t.equal((await userinfo(token)).status, 401, 'userinfo refuses it')
  t.equal((await revoke({ token, client_id: tenant.clientId })).status, 200, 'revoking twice is fine')

  const conf = await idp.mintAccessToken({ userId: confidential.bob.id, clientId: confidential.clientId })
  t.equal((await revoke({ token: conf }, { authorization: `Basic ${Buffer.from(`${encodeURIComponent(confidential.clientId)}:conf-secret`).toString('base64')}` })).status, 200)
  t.equal(await isActive(idp, conf, apiOf(confidential.projectId)), false)
})

t.test('every introspection request is counted once: 100 concurrent calls are 100', async (t) => {
  const own = await startIdp({ algorithm: 'ES256' })
  t.teardown(() => own.close())
  const tenant = addTenant(own, { accessTokenType: 'opaque' })
  const api = own.addApiApp({ projectId: tenant.projectId, name: 'backend' })
  const token = await own.mintAccessToken({ userId: tenant.bob.id })
  t.equal(own.requests.introspect, 0, 'minting is not introspecting')
  const answers = await Promise.all(Array.from({ length: 100 }, () => isActive(own, token, { basic: [api.clientId, api.clientSecret] })))
  t.ok(answers.every((a) => a))
  t.equal(own.requests.introspect, 100)
  t.equal((await introspect(own, token, { basic: [api.clientId, 'wrong-secret'] })).status, 400)
  t.equal(own.requests.introspect, 101, 'a refused call is a call')
  t.equal(own.requests.userinfo, 0, 'and nothing else was counted')
  own.resetRequests()
  t.equal(own.requests.introspect, 0)
})
