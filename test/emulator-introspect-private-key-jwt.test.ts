import { createPrivateKey } from 'node:crypto'
import t, { type Test } from 'tap'
import { importPKCS8 } from 'jose'
import {
  CLIENT_ASSERTION_TYPE, addTenant, assertion, basic, introspect, isActive, post, refusedWhoeverSigns, startIdp, type IntrospectAuth, type RefusedAssertion
} from './emulator/helpers.js'

// One emulator, one tenant and one private_key_jwt app with two keys for the file: their RSA keys are the slow part.
const idp = await startIdp()
t.teardown(() => idp.close())
const tenant = addTenant(idp)
const jwtTenant = tenant
const opaqueTenant = addTenant(idp, { accessTokenType: 'opaque' })
const api = idp.addApiApp({ projectId: tenant.projectId, name: 'backend', authMethod: 'private_key_jwt' })
const keyFile = await idp.addApiAppKey(api.clientId)
const secondKey = await idp.addApiAppKey(api.clientId)
const otherApi = idp.addApiApp({ projectId: opaqueTenant.projectId, name: 'other backend', authMethod: 'private_key_jwt' })
const otherKey = await idp.addApiAppKey(otherApi.clientId)
const basicApi = idp.addApiApp({ projectId: tenant.projectId, name: 'basic backend' })

async function refused (t: Test, res: Response, status = 400, error = 'unauthorized_client'): Promise<string> {
  t.equal(res.status, status)
  t.equal(res.headers.get('cache-control'), 'no-store')
  t.equal(res.headers.get('www-authenticate'), null, 'Zitadel sends no challenge')
  const body = await res.json() as { error: string, error_description: string }
  t.equal(body.error, error)
  return body.error_description
}

t.test('an API app with private_key_jwt has no secret, and key files in Zitadel\'s format', async (t) => {
  t.equal(api.authMethod, 'private_key_jwt')
  t.equal(api.clientSecret, undefined)
  t.equal(api.type, 'api')
  t.match(api.clientId, /^\d{18}@demo\d+$/)
  t.match(api.appId, /^\d{18}$/)
  t.not(api.appId, api.clientId.split('@')[0], 'the app id is not the client id\'s number')
  t.equal(basicApi.authMethod, 'basic')
  t.equal(idp.addApp({ projectId: tenant.projectId, name: 'web', redirectUris: ['http://localhost:1/cb'] }).authMethod, 'none')

  t.same(Object.keys(keyFile).sort(), ['appId', 'clientId', 'key', 'keyId', 'type'])
  t.equal(keyFile.type, 'application')
  t.equal(keyFile.clientId, api.clientId)
  t.equal(keyFile.appId, api.appId)
  t.match(keyFile.keyId, /^\d{18}$/)
  t.match(keyFile.key, /^-----BEGIN RSA PRIVATE KEY-----\n/)
  t.equal(createPrivateKey(keyFile.key).asymmetricKeyDetails?.modulusLength, 2048)
  await t.rejects(importPKCS8(keyFile.key, 'RS256'), 'PKCS#1, as Zitadel\'s key files')
  t.not(secondKey.keyId, keyFile.keyId)
  t.not(secondKey.key, keyFile.key)
})

t.test('introspection with a client assertion: JWT and opaque tokens, the same answer as with Basic', async (t) => {
  const jwt = await idp.mintAccessToken({ userId: jwtTenant.alice.id, clientId: jwtTenant.clientId })
  const jwtAssertion = await assertion(keyFile, idp.issuer)
  const res = await introspect(idp, jwt, { assertion: jwtAssertion })
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  const body = await res.json() as Record<string, unknown>
  t.equal(body.active, true)
  t.equal(body.sub, jwtTenant.alice.id)
  t.equal(body.client_id, jwtTenant.clientId)
  t.ok((body.aud as string[]).includes(api.clientId), 'the project\'s API apps are in aud')
  const byBasic = await (await introspect(idp, jwt, { basic: [basicApi.clientId, basicApi.clientSecret] })).json()
  t.same(body, byBasic, 'the answer does not depend on how the app authenticated')

  const opaque = await idp.mintAccessToken({ userId: opaqueTenant.bob.id, clientId: opaqueTenant.clientId })
  const answer = await (await introspect(idp, opaque, { assertion: await assertion(otherKey, idp.issuer) })).json() as Record<string, unknown>
  t.equal(answer.active, true)
  t.equal(answer.sub, opaqueTenant.bob.id)

  t.equal(await isActive(idp, opaque, { assertion: jwtAssertion }), false, 'the audience rule: another project\'s token is not active')
  const withClientId = await introspect(idp, jwt, { assertion: jwtAssertion }, { client_id: api.clientId })
  t.equal(withClientId.status, 200, 'client_id may come along when it names the same client')
})

t.test('an assertion may be used again within its lifetime, and either key of the app works', async (t) => {
  const token = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  const once = await assertion(keyFile, idp.issuer, { claims: { jti: 'only-once?' } })
  const auth: IntrospectAuth = { assertion: once }
  t.equal(await isActive(idp, token, auth), true)
  t.equal(await isActive(idp, token, auth), true, 'Zitadel does not refuse a replayed assertion')
  t.equal(await isActive(idp, token, { assertion: await assertion(secondKey, idp.issuer) }), true, 'the second key')
  const now = Math.floor(Date.now() / 1000)
  const listAud = await assertion(keyFile, idp.issuer, { claims: { aud: ['https://other.example', idp.issuer], iat: now, exp: now + 3600 } })
  t.equal(await isActive(idp, token, { assertion: listAud }), true, 'aud may be a list with the issuer; exactly one hour is fine')
  const longLived = await assertion(keyFile, idp.issuer, { claims: { iat: now, exp: now + 30 * 86400 } })
  t.equal(await isActive(idp, token, { assertion: longLived }), true, 'no cap on the lifetime: Zitadel checks iat and exp only')
})

t.test('a client assertion is checked as Zitadel checks it: otherwise 400 unauthorized_client', async (t) => {
  const token = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  const { keyFile: serviceKey } = await idp.addServiceUser({ username: 'svc-not-a-client', grants: [{ projectId: tenant.projectId, roles: ['user'] }] })
  const cases: RefusedAssertion[] = [
    ...refusedWhoeverSigns(idp, keyFile),
    ['aud is the introspection endpoint', assertion(keyFile, idp.issuer, { claims: { aud: `${idp.issuer}/oauth/v2/introspect` } }), /aud/],
    ['iss is not sub', assertion(keyFile, idp.issuer, { claims: { iss: otherApi.clientId } }), /iss and sub must both be the client id/],
    ['the app id instead of the client id', assertion(keyFile, idp.issuer, { claims: { iss: api.appId, sub: api.appId } }), /no key with this kid for this client/],
    ['unknown client', assertion({ ...keyFile, clientId: 'nobody@nowhere' }, idp.issuer), /no key/],
    ['kid of another app\'s key', assertion({ ...keyFile, keyId: otherKey.keyId }, idp.issuer), /no key/],
    ['another app\'s key and kid for this app', assertion({ ...otherKey, clientId: api.clientId }, idp.issuer), /no key/],
    ['a Basic app has no keys', assertion({ ...keyFile, clientId: basicApi.clientId }, idp.issuer), /no key/],
    ['a service user\'s key file is not a client\'s', assertion(serviceKey, idp.issuer), /no key/],
  ]
  for (const [name, jwt, description] of cases) {
    const res = await introspect(idp, token, { assertion: await jwt })
    t.match(await refused(t, res), description, name)
  }
})

t.test('each app authenticates with its own method only', async (t) => {
  const token = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  const byBasic = await introspect(idp, token, { basic: [api.clientId, 'any-secret-at-all'] })
  t.match(await refused(t, byBasic), /private_key_jwt/, 'a private_key_jwt app cannot use Basic')
  t.match(await refused(t, await introspect(idp, token, { basic: [api.clientId, ''] })), /private_key_jwt/)
  t.match(await refused(t, await introspect(idp, token, undefined, { client_id: api.clientId }), 400, 'invalid_client'), /client must be authenticated/)

  // Nor may it stand in for a public app where a client_id alone would do.
  const revoke = await fetch(`${idp.issuer}/oauth/v2/revoke`, post({ token, client_id: api.clientId }))
  t.match(await refused(t, revoke, 400, 'invalid_client'), /empty client assertion/)
  t.equal(await isActive(idp, token, { basic: [basicApi.clientId, basicApi.clientSecret] }), true, 'a Basic app still uses its secret')
})

t.test('request errors: two methods at once, a wrong assertion type, a type alone, another client_id: 400 invalid_request', async (t) => {
  const token = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  const good = await assertion(keyFile, idp.issuer)
  const send = (fields: Record<string, string>, headers: Record<string, string> = {}) => fetch(`${idp.issuer}/oauth/v2/introspect`, post({ token, ...fields }, headers))
  const cases: Array<[string, Promise<Response>, RegExp]> = [
    ['Basic and an assertion', send({ client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: good }, { authorization: basic(basicApi.clientId, basicApi.clientSecret) }), /more than one method/],
    ['a form secret and an assertion', send({ client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: good, client_id: basicApi.clientId, client_secret: basicApi.clientSecret }), /more than one method/],
    ['another assertion type', send({ client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer', client_assertion: good }), /client_assertion_type/],
    ['an assertion without its type', send({ client_assertion: good }), /client_assertion_type/],
    ['a type without an assertion', send({ client_assertion_type: CLIENT_ASSERTION_TYPE }), /client_id or client_assertion must be provided/],
    ['client_id of another client', send({ client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: good, client_id: basicApi.clientId }), /does not match/]
  ]
  for (const [name, res, description] of cases) t.match(await refused(t, await res, 400, 'invalid_request'), description, name)
})

t.test('every introspection call is counted, whichever the client authentication', async (t) => {
  const token = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  const good = await assertion(keyFile, idp.issuer)
  const before = idp.requests.introspect
  await Promise.all(Array.from({ length: 10 }, () => isActive(idp, token, { assertion: good })))
  await introspect(idp, token, { assertion: 'not-a-jwt' })
  t.equal(idp.requests.introspect, before + 11)
})
