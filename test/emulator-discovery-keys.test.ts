import t from 'tap'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { EMULATOR_ALGORITHMS } from '../lib/testing/index.js'
import { API_ORIGIN, addTenant, basic, claimsOf, headerOf, post, startIdp } from './emulator/helpers.js'

const idp = await startIdp()
t.teardown(() => idp.close())
addTenant(idp)

t.test('the discovery document lists Zitadel\'s endpoints under the issuer, and what the emulator supports', async (t) => {
  t.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.equal(idp.url, idp.issuer)
  const res = await fetch(`${idp.issuer}/.well-known/openid-configuration`)
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^application\/json/)
  const doc = await res.json() as Record<string, unknown>
  t.equal(doc.issuer, idp.issuer)
  t.equal(doc.authorization_endpoint, `${idp.issuer}/oauth/v2/authorize`)
  t.equal(doc.token_endpoint, `${idp.issuer}/oauth/v2/token`)
  t.equal(doc.jwks_uri, `${idp.issuer}/oauth/v2/keys`)
  t.equal(doc.introspection_endpoint, `${idp.issuer}/oauth/v2/introspect`)
  t.equal(doc.userinfo_endpoint, `${idp.issuer}/oidc/v1/userinfo`)
  t.equal(doc.end_session_endpoint, `${idp.issuer}/oidc/v1/end_session`)
  t.equal(doc.revocation_endpoint, `${idp.issuer}/oauth/v2/revoke`)
  t.same(doc.response_types_supported, ['code'])
  t.same(doc.code_challenge_methods_supported, ['S256'])
  t.same(doc.grant_types_supported, ['authorization_code', 'client_credentials', 'urn:ietf:params:oauth:grant-type:jwt-bearer', 'urn:ietf:params:oauth:grant-type:token-exchange'])
  t.same(doc.token_endpoint_auth_methods_supported, ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'])
  t.same(doc.revocation_endpoint_auth_methods_supported, ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'])
  t.same(doc.introspection_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post', 'private_key_jwt'])
  for (const endpoint of ['token', 'revocation', 'introspection']) {
    t.same(doc[`${endpoint}_endpoint_auth_signing_alg_values_supported`], ['RS256'], `${endpoint}: client assertions are RS256, as Zitadel checks them`)
  }
  t.same(doc.id_token_signing_alg_values_supported, [...EMULATOR_ALGORITHMS])
  t.ok((doc.scopes_supported as string[]).includes('openid'))
  t.ok((doc.scopes_supported as string[]).includes('urn:zitadel:iam:user:metadata'))
  t.ok((doc.claims_supported as string[]).includes('act'))
  // There is no RFC 8414 document, as with Zitadel.
  t.equal((await fetch(`${idp.issuer}/.well-known/oauth-authorization-server`)).status, 404)
})

t.test('the JWKS: public keys with kid, alg and use, cached for five minutes', async (t) => {
  const res = await fetch(`${idp.issuer}/oauth/v2/keys`)
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'max-age=300, must-revalidate')
  const { keys } = await res.json() as { keys: Array<Record<string, unknown>> }
  t.equal(keys.length, 1)
  const [key] = keys as [Record<string, unknown>]
  t.same(Object.keys(key).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use'], 'no private parameters')
  t.equal(key.kty, 'RSA')
  t.equal(key.alg, 'RS256')
  t.equal(key.use, 'sig')
  t.equal(Buffer.from(key.n as string, 'base64url').length, 256, '2048-bit modulus')

  const tenant = addTenant(idp)
  const token = await idp.mintAccessToken({ userId: tenant.bob.id })
  t.equal(headerOf(token).kid, key.kid)
  const { payload } = await jwtVerify(token, createLocalJWKSet({ keys } as never), { issuer: idp.issuer, algorithms: ['RS256'] })
  t.equal(payload.sub, tenant.bob.id)
})

t.test('each algorithm publishes its key type and signs verifiable tokens', async (t) => {
  const expected: Record<string, Record<string, unknown>> = {
    RS384: { kty: 'RSA' },
    ES256: { kty: 'EC', crv: 'P-256' },
    ES384: { kty: 'EC', crv: 'P-384' },
    ES512: { kty: 'EC', crv: 'P-521' },
    EdDSA: { kty: 'OKP', crv: 'Ed25519' }
  }
  for (const [algorithm, shape] of Object.entries(expected)) {
    const other = await startIdp({ algorithm: algorithm as never })
    t.teardown(() => other.close())
    const jwks = await (await fetch(`${other.issuer}/oauth/v2/keys`)).json() as { keys: Array<Record<string, unknown>> }
    t.match(jwks.keys[0], { ...shape, alg: algorithm, use: 'sig' }, algorithm)
    t.notOk('d' in (jwks.keys[0] as object))
    const tenant = addTenant(other)
    const token = await other.mintAccessToken({ userId: tenant.bob.id })
    t.equal(headerOf(token).alg, algorithm)
    await t.resolves(jwtVerify(token, createLocalJWKSet(jwks as never), { algorithms: [algorithm] }))
  }
})

t.test('rotateKeys: a new signing key; the old one is dropped unless kept, and its tokens die with it', async (t) => {
  const own = await startIdp()
  t.teardown(() => own.close())
  const tenant = addTenant(own)
  const api = own.addApiApp({ projectId: tenant.projectId, name: 'api' })
  const active = async (token: string) => (await (await fetch(`${own.issuer}/oauth/v2/introspect`, post({ token }, { authorization: basic(api.clientId, api.clientSecret) }))).json() as { active: boolean }).active
  const kids = async () => ((await (await fetch(`${own.issuer}/oauth/v2/keys`)).json()) as { keys: Array<{ kid: string, alg: string }> }).keys

  const first = await own.mintAccessToken({ userId: tenant.bob.id })
  const [k1] = await kids()
  await own.rotateKeys({ keepOld: true })
  const kept = await kids()
  t.equal(kept.length, 2)
  t.not(kept[0]?.kid, k1?.kid, 'the new key comes first')
  t.equal(kept[1]?.kid, k1?.kid)
  const second = await own.mintAccessToken({ userId: tenant.bob.id })
  t.equal(headerOf(second).kid, kept[0]?.kid, 'the new key signs')
  t.ok(await active(first), 'a kept key still verifies')

  await own.rotateKeys({ algorithm: 'ES256' })
  const mixed = await kids()
  t.equal(mixed.length, 1)
  t.equal(mixed[0]?.alg, 'ES256')
  t.notOk(await active(first), 'tokens of a dropped key are no longer valid')
  t.notOk(await active(second))
  t.ok(await active(await own.mintAccessToken({ userId: tenant.bob.id })))

  await own.rotateKeys()
  t.equal((await kids())[0]?.alg, 'RS256', 'back to the configured algorithm by default')
  await t.rejects(own.rotateKeys({ keepOld: 'yes' as never }), /"keepOld" must be a boolean/)
  await t.rejects(own.rotateKeys({ algorithm: 'HS256' as never }), /"algorithm" must be one of/)
  t.equal(claimsOf(await own.mintAccessToken({ userId: tenant.bob.id })).iss, own.issuer)
})

t.test('an issuer option names the emulator publicly; a path prefixes every endpoint', async (t) => {
  const named = await startIdp({ issuer: 'http://localhost:1/zitadel/' })
  t.teardown(() => named.close())
  t.equal(named.issuer, 'http://localhost:1/zitadel', 'no trailing slash')
  t.match(named.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  const doc = await (await fetch(`${named.url}/zitadel/.well-known/openid-configuration`)).json() as Record<string, unknown>
  t.equal(doc.issuer, 'http://localhost:1/zitadel')
  t.equal(doc.jwks_uri, 'http://localhost:1/zitadel/oauth/v2/keys')
  t.equal((await fetch(`${named.url}/zitadel/oauth/v2/keys`)).status, 200)
  t.equal((await fetch(`${named.url}/oauth/v2/keys`)).status, 404)
  const tenant = addTenant(named)
  t.equal(claimsOf(await named.mintAccessToken({ userId: tenant.bob.id })).iss, 'http://localhost:1/zitadel')
})

t.test('discovery and keys answer CORS for registered origins only; preflights are not counted', async (t) => {
  const before = { ...idp.requests }
  for (const path of ['/.well-known/openid-configuration', '/oauth/v2/keys']) {
    const ok = await fetch(`${idp.issuer}${path}`, { headers: { origin: API_ORIGIN } })
    t.equal(ok.headers.get('access-control-allow-origin'), API_ORIGIN)
    t.match(ok.headers.get('vary'), /Origin/)
    const no = await fetch(`${idp.issuer}${path}`, { headers: { origin: 'http://evil.example' } })
    t.equal(no.headers.get('access-control-allow-origin'), null)
    const pre = await fetch(`${idp.issuer}${path}`, { method: 'OPTIONS', headers: { origin: API_ORIGIN, 'access-control-request-method': 'GET' } })
    t.equal(pre.status, 204)
    t.equal(pre.headers.get('access-control-allow-origin'), API_ORIGIN)
  }
  t.equal(idp.requests.discovery, before.discovery + 2)
  t.equal(idp.requests.jwks, before.jwks + 2)
})

t.test('a redirect URI with a custom scheme never makes the origin "null" acceptable', async (t) => {
  const project = idp.addProject({ name: 'mobile', roles: [] })
  idp.addApp({ projectId: project.id, name: 'app', redirectUris: ['com.example.app:/callback'] })
  const res = await fetch(`${idp.issuer}/oauth/v2/keys`, { headers: { origin: 'null' } })
  t.equal(res.headers.get('access-control-allow-origin'), null)
})
