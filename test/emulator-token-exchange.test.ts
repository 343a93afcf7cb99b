import t, { type Test } from 'tap'
import { addTenant, basic, claimsOf, exchange as redeem, introspect, login, post, startIdp } from './emulator/helpers.js'

// zitadel internal/api/oidc/token_exchange.go
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token'
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token'
const JWT = 'urn:ietf:params:oauth:token-type:jwt'
const USER_ID = 'urn:zitadel:params:oauth:token-type:user_id'

const idp = await startIdp()
t.teardown(() => idp.close())
const tenant = addTenant(idp, { clientSecret: 'exchange-secret' })
const auth = { authorization: basic(tenant.clientId, 'exchange-secret') }
const api = idp.addApiApp({ projectId: tenant.projectId, name: 'api' })
const { user: support } = await idp.addServiceUser({ username: 'support', orgId: tenant.orgId })

async function exchange (fields: Record<string, string>, headers: Record<string, string> = auth): Promise<Response> {
  return fetch(`${idp.issuer}/oauth/v2/token`, post({ grant_type: TOKEN_EXCHANGE, ...fields }, headers))
}

async function ok (t: Test, res: Response): Promise<Record<string, unknown>> {
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  return await res.json() as Record<string, unknown>
}

t.test('impersonation: a service user\'s access token acts for a user; the new tokens carry act', async (t) => {
  const actorToken = await idp.mintAccessToken({ userId: support.id, clientId: tenant.clientId, scope: 'openid profile' })
  const body = await ok(t, await exchange({ subject_token: tenant.bob.id, subject_token_type: USER_ID, actor_token: actorToken, actor_token_type: ACCESS_TOKEN, requested_token_type: JWT }))
  t.equal(body.issued_token_type, JWT)
  t.equal(body.token_type, 'Bearer')
  t.equal(body.scope, 'openid profile', 'the actor\'s scope when the subject has none')
  const claims = claimsOf(body.access_token as string)
  t.equal(claims.sub, tenant.bob.id)
  t.same(claims.act, { iss: idp.issuer, sub: support.id })
  t.equal(claims.client_id, tenant.clientId)
  t.same(claims.aud, claimsOf(actorToken).aud)
  const id = claimsOf(body.id_token as string)
  t.same(id.act, { iss: idp.issuer, sub: support.id })
  t.type(id.at_hash, 'string', 'an ID token next to an access token has at_hash')

  const seen = await (await introspect(idp, body.access_token as string, { basic: [api.clientId, api.clientSecret] })).json() as Record<string, unknown>
  t.equal(seen.active, true)
  t.same(seen.act, { iss: idp.issuer, sub: support.id })

  const opaque = await ok(t, await exchange({ subject_token: tenant.bob.id, subject_token_type: USER_ID, actor_token: actorToken, actor_token_type: ACCESS_TOKEN, scope: 'profile' }))
  t.equal(opaque.issued_token_type, ACCESS_TOKEN, 'an opaque access token by default')
  t.notOk((opaque.access_token as string).includes('.'))
  t.notOk('id_token' in opaque, 'no openid, no ID token')
  const seenOpaque = await (await introspect(idp, opaque.access_token as string, { basic: [api.clientId, api.clientSecret] })).json() as Record<string, unknown>
  t.same(seenOpaque.act, { iss: idp.issuer, sub: support.id })
  t.equal(seenOpaque.sub, tenant.bob.id)

  // An actor that is itself acted for nests (RFC 8693 §4.1; zitadel exchangeToken.nestedActor).
  const chained = await idp.mintAccessToken({ userId: support.id, clientId: tenant.clientId, actor: { sub: tenant.alice.id } })
  const nested = await ok(t, await exchange({ subject_token: tenant.bob.id, subject_token_type: USER_ID, actor_token: chained, actor_token_type: ACCESS_TOKEN, requested_token_type: JWT }))
  t.same(claimsOf(nested.access_token as string).act, { iss: idp.issuer, sub: support.id, act: { iss: idp.issuer, sub: tenant.alice.id } })
})

t.test('requested_token_type id_token: an ID token without nonce, at_hash, c_hash or sid, and token_type N_A', async (t) => {
  const { code, verifier } = await login(idp, tenant.clientId, tenant.alice.username, 'alice-pw', { nonce: 'n-1' })
  const { access_token: actorToken } = await (await redeem(idp, { code, code_verifier: verifier }, auth)).json() as { access_token: string }
  const body = await ok(t, await exchange({ subject_token: tenant.bob.id, subject_token_type: USER_ID, actor_token: actorToken, actor_token_type: ACCESS_TOKEN, requested_token_type: ID_TOKEN }))
  t.equal(body.token_type, 'N_A')
  t.equal(body.issued_token_type, ID_TOKEN)
  t.equal(body.expires_in, 43200)
  t.notOk('id_token' in body)
  const id = claimsOf(body.access_token as string)
  t.equal(id.sub, tenant.bob.id)
  t.equal(id.azp, tenant.clientId)
  t.equal(id.client_id, tenant.clientId)
  t.ok((id.aud as string[]).includes(tenant.clientId))
  t.same(id.amr, ['pwd'], 'the actor\'s amr')
  t.type(id.auth_time, 'number')
  t.same(id.act, { iss: idp.issuer, sub: tenant.alice.id })
  for (const absent of ['nonce', 'at_hash', 'c_hash', 'sid', 'jti', 'nbf']) t.notOk(absent in id, `no ${absent}`)
})

t.test('exchanging a subject access token without an actor keeps its audience and scope, or narrows the audience', async (t) => {
  const subject = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, actor: { sub: support.id } })
  const same = await ok(t, await exchange({ subject_token: subject, subject_token_type: ACCESS_TOKEN, requested_token_type: JWT }))
  const claims = claimsOf(same.access_token as string)
  t.same(claims.aud, claimsOf(subject).aud)
  t.same(claims.act, { iss: idp.issuer, sub: support.id }, 'the subject token\'s actor stays')
  const narrowed = await ok(t, await exchange({ subject_token: subject, subject_token_type: ACCESS_TOKEN, requested_token_type: JWT, audience: tenant.projectId }))
  t.same(claimsOf(narrowed.access_token as string).aud, [tenant.projectId])
  const foreign = await exchange({ subject_token: subject, subject_token_type: ACCESS_TOKEN, audience: 'elsewhere' })
  t.equal(foreign.status, 400)
  t.equal((await foreign.json() as { error: string }).error, 'invalid_target')
})

t.test('request errors are 400 invalid_request, client errors invalid_client', async (t) => {
  const subject = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  const cases: Array<[string, Record<string, string>, string, RegExp]> = [
    ['no subject_token', { subject_token_type: ACCESS_TOKEN }, 'invalid_request', /subject_token missing/],
    ['no subject_token_type', { subject_token: subject }, 'invalid_request', /subject_token_type missing/],
    ['an unsupported subject type', { subject_token: subject, subject_token_type: JWT }, 'invalid_request', /subject_token_type/],
    ['an unknown requested type', { subject_token: subject, subject_token_type: ACCESS_TOKEN, requested_token_type: 'urn:x' }, 'invalid_request', /requested_token_type/],
    ['user_id as requested type', { subject_token: subject, subject_token_type: ACCESS_TOKEN, requested_token_type: USER_ID }, 'invalid_request', /requested_token_type/],
    ['an unsupported actor type', { subject_token: subject, subject_token_type: ACCESS_TOKEN, actor_token: subject, actor_token_type: ID_TOKEN }, 'invalid_request', /actor_token_type/],
    ['a resource', { subject_token: subject, subject_token_type: ACCESS_TOKEN, resource: 'https://x' }, 'invalid_target', /resource/],
    ['a bad subject token', { subject_token: 'garbage', subject_token_type: ACCESS_TOKEN }, 'invalid_request', /subject_token invalid/],
    ['an unknown user id', { subject_token: '1', subject_token_type: USER_ID, actor_token: subject, actor_token_type: ACCESS_TOKEN }, 'invalid_request', /subject_token invalid/],
    ['a user id without actor', { subject_token: tenant.bob.id, subject_token_type: USER_ID }, 'invalid_request', /actor_token invalid/],
    ['a bad actor token', { subject_token: tenant.bob.id, subject_token_type: USER_ID, actor_token: 'garbage', actor_token_type: ACCESS_TOKEN }, 'invalid_request', /actor_token invalid/],
    ['no scope anywhere', { subject_token: tenant.bob.id, subject_token_type: USER_ID, actor_token: await idp.mintAccessToken({ userId: support.id, clientId: tenant.clientId, scope: [] }), actor_token_type: ACCESS_TOKEN }, 'invalid_request', /scope/]
  ]
  for (const [name, fields, error, description] of cases) {
    const res = await exchange(fields)
    t.equal(res.status, 400, name)
    const body = await res.json() as { error: string, error_description: string }
    t.equal(body.error, error, name)
    t.match(body.error_description, description, name)
  }
  const noClient = await exchange({ subject_token: subject, subject_token_type: ACCESS_TOKEN }, { authorization: basic(tenant.clientId, 'wrong') })
  t.equal((await noClient.json() as { error: string }).error, 'invalid_client')
})
