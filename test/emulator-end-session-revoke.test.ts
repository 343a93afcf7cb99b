import t from 'tap'
import { API_ORIGIN, addTenant, basic, codeFlow, post, startIdp } from './emulator/helpers.js'

const idp = await startIdp()
t.teardown(() => idp.close())

async function endSession (params: Record<string, string>, method: 'GET' | 'POST' = 'GET'): Promise<Response> {
  return method === 'GET'
    ? fetch(`${idp.issuer}/oidc/v1/end_session?${new URLSearchParams(params)}`, { redirect: 'manual' })
    : fetch(`${idp.issuer}/oidc/v1/end_session`, post(params))
}

async function isLive (token: string): Promise<boolean> {
  return (await fetch(`${idp.issuer}/oidc/v1/userinfo`, { headers: { authorization: `Bearer ${token}` } })).status === 200
}

t.test('end_session without a redirect shows a signed-out page', async (t) => {
  const res = await endSession({})
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/html/)
  t.equal(res.headers.get('x-frame-options'), 'DENY')
  t.match(await res.text(), 'Signed out')
})

t.test('end_session redirects only to a post-logout URI registered for the client', async (t) => {
  const tenant = addTenant(idp)
  const other = addTenant(idp)
  const { id_token: idToken } = await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw')
  const target = `${API_ORIGIN}/docs`

  for (const [name, params, method] of [
    ['client_id', { client_id: tenant.clientId, post_logout_redirect_uri: target, state: 'bye' }, 'GET'],
    ['id_token_hint', { id_token_hint: idToken as string, post_logout_redirect_uri: target, state: 'bye' }, 'GET'],
    ['both, agreeing, by POST', { id_token_hint: idToken as string, client_id: tenant.clientId, post_logout_redirect_uri: target, state: 'bye' }, 'POST']
  ] as const) {
    const res = await endSession(params, method)
    t.equal(res.status, 302, name)
    t.equal(res.headers.get('location'), `${target}?state=bye`)
  }
  const noState = await endSession({ client_id: tenant.clientId, post_logout_redirect_uri: target })
  t.equal(noState.headers.get('location'), target)
  const hintOnly = await endSession({ id_token_hint: idToken as string })
  t.equal(hintOnly.status, 200, 'a hint without a redirect: the page')

  const refused: Array<[string, Record<string, string>, RegExp]> = [
    ['unregistered URI', { client_id: tenant.clientId, post_logout_redirect_uri: `${API_ORIGIN}/elsewhere` }, /not registered/],
    ['registered for another kind of URI', { client_id: tenant.clientId, post_logout_redirect_uri: `${target}/` }, /not registered/],
    ['no client', { post_logout_redirect_uri: target }, /not registered/],
    ['unknown client', { client_id: 'nobody', post_logout_redirect_uri: target }, /not registered/],
    ['hint for another client', { id_token_hint: idToken as string, client_id: other.clientId, post_logout_redirect_uri: target }, /id_token_hint/],
    ['garbage hint', { id_token_hint: 'a.b.c', post_logout_redirect_uri: target }, /id_token_hint/],
    ['an access token as hint', { id_token_hint: await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId }), post_logout_redirect_uri: target }, /id_token_hint/]
  ]
  for (const [name, params, message] of refused) {
    const res = await endSession(params)
    t.equal(res.status, 400, name)
    t.equal(res.headers.get('location'), null)
    t.match(await res.text(), message)
  }
  const twice = await fetch(`${idp.issuer}/oidc/v1/end_session?client_id=a&client_id=b`, { redirect: 'manual' })
  t.equal(twice.status, 400)
  t.match(await twice.text(), 'more than once')
})

t.test('an expired ID token is still a good hint', async (t) => {
  const tenant = addTenant(idp)
  const { id_token: idToken } = await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw')
  const realNow = Date.now
  Date.now = () => realNow() + 50_000_000
  t.teardown(() => { Date.now = realNow })
  const res = await endSession({ id_token_hint: idToken as string, post_logout_redirect_uri: `${API_ORIGIN}/docs` })
  t.equal(res.status, 302)
})

t.test('revocation: the client a token was issued to can revoke it, nobody else', async (t) => {
  const tenant = addTenant(idp)
  const confidential = addTenant(idp, { clientSecret: 'conf-secret' })
  const token = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  const revoke = (fields: Record<string, string>, headers: Record<string, string> = {}) => fetch(`${idp.issuer}/oauth/v2/revoke`, post(fields, headers))

  const byOther = await revoke({ token, client_id: addTenant(idp).clientId })
  t.equal(byOther.status, 200, 'RFC 7009: 200 either way')
  t.ok(await isLive(token), 'another client cannot revoke it')

  const missing = await revoke({ client_id: tenant.clientId })
  t.equal(missing.status, 400)
  t.equal((await missing.json() as { error: string }).error, 'invalid_request')
  const anonymous = await revoke({ token })
  t.equal(anonymous.status, 400, 'no client at all: 400, as Zitadel answers every OAuth error')
  t.equal(anonymous.headers.get('www-authenticate'), null)
  t.equal((await anonymous.json() as { error: string }).error, 'invalid_request')
  t.equal((await revoke({ token: 'garbage', client_id: tenant.clientId })).status, 200)

  const ok = await revoke({ token, client_id: tenant.clientId })
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('cache-control'), 'no-store')
  t.notOk(await isLive(token), 'userinfo refuses a revoked token')
  const api = idp.addApiApp({ projectId: tenant.projectId, name: 'api' })
  const seen = await fetch(`${idp.issuer}/oauth/v2/introspect`, post({ token }, { authorization: basic(api.clientId, api.clientSecret) }))
  t.same(await seen.json(), { active: false })

  const conf = await idp.mintAccessToken({ userId: confidential.bob.id, clientId: confidential.clientId })
  const noSecret = await revoke({ token: conf, client_id: confidential.clientId })
  t.equal(noSecret.status, 400, 'an app with a secret must use it')
  t.same(await noSecret.json(), { error: 'invalid_client', error_description: 'empty client secret' })
  t.equal((await revoke({ token: conf }, { authorization: basic(confidential.clientId, 'conf-secret') })).status, 200)
  t.notOk(await isLive(conf))
  const post2 = await idp.mintAccessToken({ userId: confidential.bob.id, clientId: confidential.clientId })
  t.equal((await revoke({ token: post2, client_id: confidential.clientId, client_secret: 'conf-secret' })).status, 200, 'client_secret_post')
  t.notOk(await isLive(post2))
})
