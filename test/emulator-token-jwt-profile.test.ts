import { createPrivateKey } from 'node:crypto'
import t, { type Test } from 'tap'
import { importPKCS8 } from 'jose'
import {
  JWT_BEARER, ROLES_SCOPE, addTenant, assertion, audScope, claimsOf, headerOf, jwtProfile, post, refusedWhoeverSigns, startIdp, type RefusedAssertion
} from './emulator/helpers.js'

// One emulator and one service user for the file: their RSA keys are the slow part.
const idp = await startIdp()
t.teardown(() => idp.close())
const tenant = addTenant(idp)
const other = addTenant(idp)
const { user, keyFile } = await idp.addServiceUser({ username: 'reporter', orgId: tenant.orgId, grants: [{ projectId: tenant.projectId, roles: ['user'] }] })
const second = await idp.addServiceUser({ username: 'second', name: 'Second service' })
const scope = `openid ${audScope(tenant.projectId)} ${ROLES_SCOPE}`

async function refused (t: Test, res: Response, error: string, status = 400): Promise<string> {
  t.equal(res.status, status)
  t.equal(res.headers.get('cache-control'), 'no-store')
  const body = await res.json() as { error: string, error_description: string }
  t.equal(body.error, error)
  return body.error_description
}

t.test('the key file is in Zitadel\'s format, with a PKCS#1 key', async (t) => {
  t.same(Object.keys(keyFile).sort(), ['key', 'keyId', 'type', 'userId'])
  t.equal(keyFile.type, 'serviceaccount')
  t.equal(keyFile.userId, user.id)
  t.match(keyFile.keyId, /^\d{18}$/)
  t.match(user.id, /^\d{18}$/)
  t.match(keyFile.key, /^-----BEGIN RSA PRIVATE KEY-----\n/)
  t.equal(createPrivateKey(keyFile.key).asymmetricKeyDetails?.modulusLength, 2048)
  await t.rejects(importPKCS8(keyFile.key, 'RS256'), 'jose\'s importPKCS8 refuses PKCS#1, as with real Zitadel key files')
  t.same(user, { id: user.id, username: 'reporter', orgId: user.orgId })
  t.not(keyFile.keyId, second.keyFile.keyId)
})

t.test('the JWT-profile grant gives a Zitadel service-user token', async (t) => {
  const res = await jwtProfile(idp, await assertion(keyFile, idp.issuer), scope)
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  t.equal(res.headers.get('pragma'), 'no-cache')
  const body = await res.json() as Record<string, unknown>
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'id_token', 'token_type'])
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 43200)

  const token = body.access_token as string
  t.same(headerOf(token), { alg: 'RS256', kid: headerOf(token).kid, typ: 'JWT' })
  const claims = claimsOf(token)
  t.same(claims.aud, [tenant.projectId], 'aud comes only from the audience scope')
  t.equal(claims.sub, user.id)
  t.equal(claims.client_id, 'reporter', 'client_id is the service user\'s username (zitadel token_jwt_profile.go: clientID: user.Username)')
  t.equal(claims.iss, idp.issuer)
  t.equal((claims.exp as number) - (claims.iat as number), 43200)
  t.same(claims[`urn:zitadel:iam:org:project:${tenant.projectId}:roles`], { user: { [tenant.orgId]: tenant.orgDomain } })
  t.notOk('urn:zitadel:iam:org:project:roles' in claims, 'no generic role claim: a service user has no project of its own')
  t.notOk('scope' in claims)

  const id = claimsOf(body.id_token as string)
  t.equal(id.sub, user.id)
  t.equal(id.azp, 'reporter')
  t.equal(id.client_id, 'reporter')
  t.same(id.aud, [tenant.projectId, 'reporter'], 'the ID token is also meant for the client')
  t.type(id.at_hash, 'string')
  t.notOk('nonce' in id)
  t.notOk('jti' in id, 'an ID token never has jti')
  t.notOk('amr' in id, 'a key is no RFC 8176 method in Zitadel\'s amr.go')
  t.type(id.auth_time, 'number')
  t.equal((id.exp as number) - (id.iat as number), 43200, 'valid as long as other ID tokens (real service-user ID tokens: 12 h)')
})

t.test('without openid the grant still answers, with no ID token (zitadel/oidc allows scopes without openid)', async (t) => {
  const res = await jwtProfile(idp, await assertion(keyFile, idp.issuer), `${audScope(tenant.projectId)} ${ROLES_SCOPE}`)
  t.equal(res.status, 200)
  const body = await res.json() as Record<string, unknown>
  t.same(Object.keys(body).sort(), ['access_token', 'expires_in', 'token_type'])
  const claims = claimsOf(body.access_token as string)
  t.same(claims.aud, [tenant.projectId])
  t.equal(claims.client_id, 'reporter')
  t.same(claims[`urn:zitadel:iam:org:project:${tenant.projectId}:roles`], { user: { [tenant.orgId]: tenant.orgDomain } })
})

t.test('the scope decides aud and roles: no audience scope, no roles scope, role and zitadel scopes', async (t) => {
  const token = async (s: string) => {
    const res = await jwtProfile(idp, await assertion(keyFile, idp.issuer), s)
    t.equal(res.status, 200)
    return claimsOf((await res.json() as { access_token: string }).access_token)
  }
  const bare = await token('openid')
  t.same(bare.aud, ['reporter'], 'without audience scopes aud falls back to the client id, the username')
  t.notOk(Object.keys(bare).some((k) => k.endsWith(':roles')))

  const noRoles = await token(`openid ${audScope(tenant.projectId)}`)
  t.same(noRoles.aud, [tenant.projectId])
  t.notOk(Object.keys(noRoles).some((k) => k.endsWith(':roles')), 'roles only when asked for')

  idp.grantRoles(user.id, other.projectId, ['admin', 'user'])
  const two = await token(`openid ${audScope(tenant.projectId)} ${audScope(other.projectId)} urn:zitadel:iam:org:project:role:admin`)
  t.same(two.aud, [tenant.projectId, other.projectId])
  t.notOk(`urn:zitadel:iam:org:project:${tenant.projectId}:roles` in two, 'no admin role there')
  t.same(Object.keys(two[`urn:zitadel:iam:org:project:${other.projectId}:roles`] as object), ['admin'], 'only the role asked for')

  const zitadel = await token('openid urn:zitadel:iam:org:project:id:zitadel:aud urn:zitadel:iam:org:project:id::aud')
  t.equal((zitadel.aud as string[]).length, 1)
  t.match((zitadel.aud as string[])[0], /^\d{18}$/)
  t.not((zitadel.aud as string[])[0], user.id, 'Zitadel\'s own project')
})

t.test('the assertion is verified as Zitadel does', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const cases: RefusedAssertion[] = [
    ...refusedWhoeverSigns(idp, keyFile),
    ['aud with a trailing slash', assertion(keyFile, idp.issuer, { claims: { aud: `${idp.issuer}/` } }), /aud/],
    ['iat zero', assertion(keyFile, idp.issuer, { claims: { iat: 0 } }), /iat/],
    ['iss is not sub', assertion(keyFile, idp.issuer, { claims: { iss: 'someone' } }), /iss and sub/],
    ['sub is another user', assertion(keyFile, idp.issuer, { claims: { sub: second.user.id } }), /iss and sub/],
    ['unknown user', assertion({ ...keyFile, userId: '999999999999999999' }, idp.issuer), /no key/],
    ['kid of another user\'s key', assertion({ ...keyFile, keyId: second.keyFile.keyId }, idp.issuer), /no key/],
    ['another user\'s key and kid for this user', assertion({ ...second.keyFile, userId: user.id }, idp.issuer), /no key/],
  ]
  for (const [name, jwt, description] of cases) {
    const message = await refused(t, await jwtProfile(idp, await jwt, scope), 'invalid_grant')
    t.match(message, description, name)
  }
  const accepted = await jwtProfile(idp, await assertion(keyFile, idp.issuer, { claims: { aud: ['https://other.example', idp.issuer], exp: now + 3600 } }), scope)
  t.equal(accepted.status, 200, 'aud may be a list that contains the issuer; exactly one hour is fine')
  const longLived = await jwtProfile(idp, await assertion(keyFile, idp.issuer, { claims: { exp: now + 7 * 86400 } }), scope)
  t.equal(longLived.status, 200, 'no cap on the lifetime: Zitadel checks iat and exp only')
})

t.test('request errors: grant type, assertion and scope', async (t) => {
  const good = await assertion(keyFile, idp.issuer)
  const token = (fields: Record<string, string>, headers: Record<string, string> = {}) => fetch(`${idp.issuer}/oauth/v2/token`, post(fields, headers))
  t.match(await refused(t, await token({ assertion: good, scope }), 'invalid_request'), /grant_type/)
  t.match(await refused(t, await token({ grant_type: 'password' }), 'unsupported_grant_type'), /authorization_code/)
  t.match(await refused(t, await token({ grant_type: JWT_BEARER, scope }), 'invalid_request'), /assertion/)
  t.match(await refused(t, await jwtProfile(idp, good, undefined), 'invalid_request'), /scope/)
  t.match(await refused(t, await jwtProfile(idp, good, ' '), 'invalid_request'), /scope/)
  const twice = await fetch(`${idp.issuer}/oauth/v2/token`, { method: 'POST', body: `grant_type=${encodeURIComponent(JWT_BEARER)}&grant_type=authorization_code`, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.match(await refused(t, twice, 'invalid_request'), /more than once/)
  const empty = await fetch(`${idp.issuer}/oauth/v2/token`, { method: 'POST' })
  t.match(await refused(t, empty, 'invalid_request'), /grant_type/)
})

t.test('the token endpoint reads form bodies only, and small ones', async (t) => {
  const json = await fetch(`${idp.issuer}/oauth/v2/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: JWT_BEARER }) })
  t.equal(json.status, 415)
  t.equal((await json.json() as { error: string }).error, 'invalid_request')
  const huge = await fetch(`${idp.issuer}/oauth/v2/token`, post({ grant_type: JWT_BEARER, assertion: 'x'.repeat(20_000) }))
  t.equal(huge.status, 413)
  t.equal((await huge.json() as { error: string }).error, 'invalid_request')
  const get = await fetch(`${idp.issuer}/oauth/v2/token`)
  t.equal(get.status, 404)
  t.same(await get.json(), { error: 'not_found', error_description: 'the emulator has no such endpoint' })
})
