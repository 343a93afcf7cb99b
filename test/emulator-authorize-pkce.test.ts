import t, { type Test } from 'tap'
import {
  API_ORIGIN, REDIRECT_URI, REDIRECT_URI_IP, addTenant, authorizeParams, authorizeUrl, basic, exchange, login,
  openLogin, pkcePair, post, startIdp, submitLogin
} from './emulator/helpers.js'

// One emulator for the file (its RSA key costs ~150 ms); every test adds its own tenant.
const idp = await startIdp()
t.teardown(() => idp.close())

async function authorize (params: Record<string, string | undefined>, init: RequestInit = {}): Promise<Response> {
  return fetch(authorizeUrl(idp, params), { redirect: 'manual', ...init })
}

/** The error redirect's parameters, after checking it goes to the registered URI. */
function errorRedirect (t: Test, res: Response): URLSearchParams {
  t.equal(res.status, 302)
  const location = new URL(res.headers.get('location') as string)
  t.equal(location.origin + location.pathname, REDIRECT_URI)
  t.notOk(location.searchParams.has('code'))
  return location.searchParams
}

t.test('the code flow: authorize redirects to the login form, the form to the app with code and state', async (t) => {
  const tenant = addTenant(idp)
  const { verifier, challenge } = pkcePair()
  const res = await authorize(authorizeParams(tenant.clientId, challenge))
  t.equal(res.status, 302)
  const loginUrl = new URL(res.headers.get('location') as string)
  t.equal(loginUrl.origin + loginUrl.pathname, `${idp.issuer}/ui/login/login`)

  const page = await fetch(loginUrl, { redirect: 'manual' })
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /^text\/html/)
  const html = await page.text()
  t.equal(html.match(/<form /g)?.length, 1)
  t.equal(html.match(/type="submit"/g)?.length, 1, 'exactly one submit button')
  t.equal(html.match(/<button/g)?.length, 1)
  t.match(html, /<input name="username"/)
  t.match(html, /<input name="password" type="password"/)
  const authRequestId = /name="authRequestID" value="([^"]+)"/.exec(html)?.[1] as string

  const done = await submitLogin(idp, authRequestId, tenant.alice.username, 'alice-pw')
  t.equal(done.status, 302)
  const back = new URL(done.headers.get('location') as string)
  t.equal(back.origin + back.pathname, REDIRECT_URI)
  t.equal(back.searchParams.get('state'), 'st-123')
  const code = back.searchParams.get('code') as string
  t.match(code, /^[A-Za-z0-9_-]{40,}$/)

  const tokens = await exchange(idp, { code, code_verifier: verifier, client_id: tenant.clientId })
  t.equal(tokens.status, 200)
  const body = await tokens.json() as Record<string, unknown>
  t.equal(body.token_type, 'Bearer')
  t.type(body.access_token, 'string')
  t.type(body.id_token, 'string')
  t.equal(body.expires_in, 43200)
  t.notOk('scope' in body, 'Zitadel answers the code exchange without scope')
})

t.test('the login page shows no script, cannot be framed and is not cached; what it reflects is escaped', async (t) => {
  const project = idp.addProject({ name: 'esc', roles: ['user'] })
  const app = idp.addApp({ projectId: project.id, name: '<script>alert("x")</script> & \'co\'', redirectUris: [REDIRECT_URI] })
  const { challenge } = pkcePair()
  const { html, authRequestId } = await openLogin(idp, authorizeParams(app.clientId, challenge))
  t.notMatch(html, /<script>/)
  t.match(html, '&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;co&#39;')

  const wrong = await submitLogin(idp, authRequestId, '"><img src=x onerror=alert(1)>', 'nope')
  t.equal(wrong.status, 401)
  t.equal(wrong.headers.get('location'), null)
  t.match(wrong.headers.get('content-security-policy'), /default-src 'none'/)
  t.match(wrong.headers.get('content-security-policy'), /frame-ancestors 'none'/)
  t.equal(wrong.headers.get('x-frame-options'), 'DENY')
  t.equal(wrong.headers.get('cache-control'), 'no-store')
  const again = await wrong.text()
  t.notMatch(again, /<img/)
  t.match(again, 'value="&#34;&#62;&#60;img src=x onerror=alert(1)&#62;"')
  t.match(again, 'Invalid username or password.')
})

t.test('a wrong password, an unknown user or a service user re-shows the form; the request stays usable', async (t) => {
  const tenant = addTenant(idp)
  const service = await idp.addServiceUser({ username: `svc-login-${tenant.projectId}` })
  const { challenge } = pkcePair()
  const { authRequestId } = await openLogin(idp, authorizeParams(tenant.clientId, challenge))
  for (const [username, password] of [[tenant.alice.username, 'bob-pw'], ['nobody', 'alice-pw'], [service.user.username, ''], [`${tenant.alice.username}@elsewhere.localhost`, 'alice-pw']] as const) {
    const res = await submitLogin(idp, authRequestId, username, password)
    t.equal(res.status, 401, `${username} is refused`)
    t.equal(res.headers.get('location'), null)
    t.match(await res.text(), 'Invalid username or password.')
  }
  const empty = await fetch(`${idp.issuer}/ui/login/login`, post({ authRequestID: authRequestId }))
  t.equal(empty.status, 401, 'no username or password')
  const ok = await submitLogin(idp, authRequestId, tenant.alice.username, 'alice-pw')
  t.equal(ok.status, 302)
})

t.test('the login name may carry the organisation domain (username@domain)', async (t) => {
  const tenant = addTenant(idp)
  const { challenge } = pkcePair()
  const { authRequestId } = await openLogin(idp, authorizeParams(tenant.clientId, challenge))
  const res = await submitLogin(idp, authRequestId, `${tenant.bob.username}@${tenant.orgDomain}`, 'bob-pw')
  t.equal(res.status, 302)
  t.ok(new URL(res.headers.get('location') as string).searchParams.get('code'))
})

t.test('a login request is used once, and unknown ones are an error page', async (t) => {
  const tenant = addTenant(idp)
  const { challenge } = pkcePair()
  const { authRequestId, loginUrl } = await openLogin(idp, authorizeParams(tenant.clientId, challenge))
  t.equal((await submitLogin(idp, authRequestId, tenant.bob.username, 'bob-pw')).status, 302)
  for (const res of [
    await submitLogin(idp, authRequestId, tenant.bob.username, 'bob-pw'),
    await fetch(loginUrl, { redirect: 'manual' }),
    await fetch(`${idp.issuer}/ui/login/login`, { redirect: 'manual' }),
    await fetch(`${idp.issuer}/ui/login/login`, post({ username: 'x', password: 'y' }))
  ]) {
    t.equal(res.status, 400)
    t.equal(res.headers.get('location'), null)
    t.match(await res.text(), 'Sign-in expired')
  }
})

t.test('a login request expires after 30 minutes', async (t) => {
  const tenant = addTenant(idp)
  const { challenge } = pkcePair()
  const { authRequestId } = await openLogin(idp, authorizeParams(tenant.clientId, challenge))
  const realNow = Date.now
  Date.now = () => realNow() + 1801_000
  t.teardown(() => { Date.now = realNow })
  const res = await submitLogin(idp, authRequestId, tenant.bob.username, 'bob-pw')
  t.equal(res.status, 400)
  // Creating another request forgets the expired ones.
  t.equal((await authorize(authorizeParams(tenant.clientId, challenge))).status, 302)
})

t.test('an unknown client, an API app or a client_id sent twice get an error page, never a redirect', async (t) => {
  const tenant = addTenant(idp)
  const api = idp.addApiApp({ projectId: tenant.projectId, name: 'api' })
  const { challenge } = pkcePair()
  const bad = [
    authorizeParams('no-such-client', challenge),
    authorizeParams(api.clientId, challenge),
    { ...authorizeParams(tenant.clientId, challenge), client_id: undefined }
  ]
  for (const params of bad) {
    const res = await authorize(params)
    t.equal(res.status, 400)
    t.equal(res.headers.get('location'), null)
    t.match(res.headers.get('content-type'), /^text\/html/)
    t.match(await res.text(), 'Unknown application')
  }
  const twice = await fetch(`${authorizeUrl(idp, authorizeParams(tenant.clientId, challenge))}&client_id=${encodeURIComponent(tenant.clientId)}`, { redirect: 'manual' })
  t.equal(twice.status, 400)
  t.equal(twice.headers.get('location'), null)
})

t.test('redirect_uri must equal a registered URI exactly: no prefix, normalisation or host alias', async (t) => {
  const tenant = addTenant(idp)
  const project = idp.addProject({ name: 'localhost-only', roles: [] })
  const localhostOnly = idp.addApp({ projectId: project.id, name: 'one form', redirectUris: [REDIRECT_URI] })
  const { challenge } = pkcePair()
  const variants = [
    `${REDIRECT_URI}/`,
    REDIRECT_URI.replace('.html', ''),
    `${REDIRECT_URI}?x=1`,
    REDIRECT_URI.replace('localhost', 'LOCALHOST'),
    REDIRECT_URI.replace('http:', 'https:'),
    REDIRECT_URI.replace(':8001', ':8001/.'),
    'http://localhost:8001.evil.example/docs/static/oauth2-redirect.html'
  ]
  for (const redirectUri of variants) {
    const res = await authorize(authorizeParams(tenant.clientId, challenge, { redirect_uri: redirectUri }))
    t.equal(res.status, 400, redirectUri)
    t.equal(res.headers.get('location'), null)
    t.match(await res.text(), 'Invalid redirect URI')
  }
  const missing = await authorize(authorizeParams(tenant.clientId, challenge, { redirect_uri: undefined }))
  t.equal(missing.status, 400)
  const ipForm = await authorize(authorizeParams(localhostOnly.clientId, challenge, { redirect_uri: REDIRECT_URI_IP }))
  t.equal(ipForm.status, 400, 'localhost and 127.0.0.1 are different redirect URIs')

  // Both forms registered: both work.
  for (const redirectUri of [REDIRECT_URI, REDIRECT_URI_IP]) {
    const { location } = await login(idp, tenant.clientId, tenant.bob.username, 'bob-pw', { redirect_uri: redirectUri })
    t.equal(location.origin + location.pathname, redirectUri)
  }
})

t.test('the error pages show what was received and what is registered, escaped', async (t) => {
  const tenant = addTenant(idp)
  const { challenge } = pkcePair()
  const evil = `${API_ORIGIN}/<script>alert("x")</script>`
  const wrongUri = await authorize(authorizeParams(tenant.clientId, challenge, { redirect_uri: evil }))
  t.equal(wrongUri.status, 400)
  t.match(wrongUri.headers.get('content-security-policy'), /default-src 'none'/)
  const page = await wrongUri.text()
  t.notMatch(page, /<script>/, 'nothing the request sent becomes markup')
  t.match(page, '<dt>redirect_uri received</dt><dd><code>http://localhost:8001/&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62;</code></dd>')
  t.match(page, `<dt>Registered for Swagger UI</dt><dd><code>${REDIRECT_URI}</code></dd><dd><code>${REDIRECT_URI_IP}</code></dd>`)

  const noUri = await (await authorize(authorizeParams(tenant.clientId, challenge, { redirect_uri: undefined }))).text()
  t.match(noUri, '<dt>redirect_uri received</dt><dd>(none)</dd>')

  const unknown = await authorize(authorizeParams('<b>263@x</b>', challenge))
  t.equal(unknown.status, 400)
  const unknownPage = await unknown.text()
  t.match(unknownPage, 'Unknown application')
  t.notMatch(unknownPage, /<b>/)
  t.match(unknownPage, '<dt>client_id received</dt><dd><code>&#60;b&#62;263@x&#60;/b&#62;</code></dd>')
  t.notMatch(unknownPage, tenant.clientId, 'an unknown client learns no other client id')
  const noClient = await (await authorize({ ...authorizeParams(tenant.clientId, challenge), client_id: undefined })).text()
  t.match(noClient, '<dt>client_id received</dt><dd>(none)</dd>')
})

t.test('PKCE is required of a public app, with S256 only', async (t) => {
  const tenant = addTenant(idp)
  const { challenge } = pkcePair()
  const cases: Array<[Record<string, string | undefined>, string, RegExp]> = [
    [{ code_challenge: undefined, code_challenge_method: undefined }, 'invalid_request', /code_challenge is required/],
    [{ code_challenge: undefined }, 'invalid_request', /code_challenge is required/],
    [{ code_challenge_method: 'plain' }, 'invalid_request', /S256/],
    [{ code_challenge_method: undefined }, 'invalid_request', /S256/],
    [{ code_challenge: 'too-short' }, 'invalid_request', /malformed/],
    [{ code_challenge: `${challenge}!` }, 'invalid_request', /malformed/]
  ]
  for (const [overrides, error, description] of cases) {
    const params = errorRedirect(t, await authorize(authorizeParams(tenant.clientId, challenge, overrides)))
    t.equal(params.get('error'), error, JSON.stringify(overrides))
    t.match(params.get('error_description'), description)
    t.equal(params.get('state'), 'st-123', 'the state goes back with the error')
  }
})

t.test('other request errors go back to the client with error and state (RFC 6749 §4.1.2.1)', async (t) => {
  const tenant = addTenant(idp)
  const { challenge } = pkcePair()
  const cases: Array<[Record<string, string | undefined>, string]> = [
    [{ response_type: 'token' }, 'unsupported_response_type'],
    [{ response_type: undefined }, 'unsupported_response_type'],
    [{ response_mode: 'fragment' }, 'invalid_request'],
    [{ scope: undefined }, 'invalid_request'],
    [{ prompt: 'none' }, 'login_required'],
    [{ request: 'eyJ.x.y' }, 'request_not_supported']
  ]
  for (const [overrides, error] of cases) {
    const params = errorRedirect(t, await authorize(authorizeParams(tenant.clientId, challenge, overrides)))
    t.equal(params.get('error'), error, JSON.stringify(overrides))
    t.equal(params.get('state'), 'st-123')
  }
  const noState = errorRedirect(t, await authorize(authorizeParams(tenant.clientId, challenge, { response_type: 'token', state: undefined })))
  t.equal(noState.get('error'), 'unsupported_response_type')
  t.notOk(noState.has('state'))
  const twice = errorRedirect(t, await fetch(`${authorizeUrl(idp, authorizeParams(tenant.clientId, challenge))}&scope=openid`, { redirect: 'manual' }))
  t.equal(twice.get('error'), 'invalid_request')
  t.match(twice.get('error_description'), /more than once/)
  const okModes = await authorize(authorizeParams(tenant.clientId, challenge, { response_mode: 'query', prompt: 'login consent' }))
  t.equal(okModes.status, 302)
  t.match(okModes.headers.get('location'), /\/ui\/login\/login\?/)
})

t.test('the authorization endpoint also takes POST', async (t) => {
  const tenant = addTenant(idp)
  const { challenge } = pkcePair()
  const params = authorizeParams(tenant.clientId, challenge) as Record<string, string>
  const res = await fetch(`${idp.issuer}/oauth/v2/authorize`, post(params))
  t.equal(res.status, 302)
  t.match(res.headers.get('location'), `${idp.issuer}/ui/login/login?authRequestID=`)
})

t.test('the code is checked against its verifier, client and redirect URI, and is good for one attempt', async (t) => {
  const tenant = addTenant(idp)
  const other = idp.addApp({ projectId: tenant.projectId, name: 'other', redirectUris: [REDIRECT_URI] })

  const first = await login(idp, tenant.clientId, tenant.bob.username, 'bob-pw')
  const wrongVerifier = await exchange(idp, { code: first.code, code_verifier: pkcePair().verifier, client_id: tenant.clientId })
  t.equal(wrongVerifier.status, 400)
  t.same(await wrongVerifier.json(), { error: 'invalid_grant', error_description: 'the code_verifier does not match the code_challenge' })
  const reuse = await exchange(idp, { code: first.code, code_verifier: first.verifier, client_id: tenant.clientId })
  t.equal(reuse.status, 400, 'a failed attempt spends the code')
  t.equal((await reuse.json() as { error: string }).error, 'invalid_grant')

  const second = await login(idp, tenant.clientId, tenant.bob.username, 'bob-pw')
  t.equal((await exchange(idp, { code: second.code, code_verifier: second.verifier, client_id: tenant.clientId })).status, 200)
  const replay = await exchange(idp, { code: second.code, code_verifier: second.verifier, client_id: tenant.clientId })
  t.equal(replay.status, 400, 'a used code is refused')
  t.equal((await replay.json() as { error: string }).error, 'invalid_grant')

  const cases: Array<[(c: { code: string, verifier: string }) => Record<string, string>, number, string]> = [
    [(c) => ({ code: c.code, code_verifier: c.verifier, client_id: other.clientId }), 400, 'invalid_grant'],
    [(c) => ({ code: c.code, code_verifier: c.verifier, client_id: tenant.clientId, redirect_uri: REDIRECT_URI_IP }), 400, 'invalid_grant'],
    [(c) => ({ code: c.code, code_verifier: c.verifier, client_id: tenant.clientId, redirect_uri: '' }), 400, 'invalid_grant'],
    [(c) => ({ code: c.code, client_id: tenant.clientId }), 400, 'invalid_request'],
    [(c) => ({ code: c.code, code_verifier: 'short', client_id: tenant.clientId }), 400, 'invalid_grant'],
    [(c) => ({ code_verifier: c.verifier, client_id: tenant.clientId }), 400, 'invalid_request'],
    [(c) => ({ code: c.code, code_verifier: c.verifier }), 400, 'invalid_request'],
    [(c) => ({ code: c.code, code_verifier: c.verifier, client_id: 'nobody' }), 400, 'invalid_client']
  ]
  for (const [fields, status, error] of cases) {
    const c = await login(idp, tenant.clientId, tenant.bob.username, 'bob-pw')
    const res = await exchange(idp, fields(c))
    t.equal(res.status, status, JSON.stringify(Object.keys(fields(c))))
    const body = await res.json() as { error: string, error_description: string }
    t.equal(body.error, error)
    t.type(body.error_description, 'string')
    t.equal(res.headers.get('cache-control'), 'no-store')
    t.equal(res.headers.get('www-authenticate'), null, 'no challenge: Zitadel answers 400 without one')
  }
})

t.test('a code expires after 60 seconds', async (t) => {
  const tenant = addTenant(idp)
  const { code, verifier } = await login(idp, tenant.clientId, tenant.bob.username, 'bob-pw')
  const realNow = Date.now
  Date.now = () => realNow() + 61_000
  t.teardown(() => { Date.now = realNow })
  const res = await exchange(idp, { code, code_verifier: verifier, client_id: tenant.clientId })
  t.equal(res.status, 400)
  t.equal((await res.json() as { error: string }).error, 'invalid_grant')
})

t.test('an app with a secret authenticates with it, by HTTP Basic or in the form; failures are 400 without a challenge', async (t) => {
  const tenant = addTenant(idp, { clientSecret: 'app-secret-1' })
  const run = async (headers: Record<string, string>, extra: Record<string, string> = {}) => {
    const c = await login(idp, tenant.clientId, tenant.bob.username, 'bob-pw')
    return exchange(idp, { code: c.code, code_verifier: c.verifier, ...extra }, headers)
  }
  const refused: Array<[string, Record<string, string>, Record<string, string>, string, RegExp]> = [
    ['client_id alone', {}, { client_id: tenant.clientId }, 'invalid_client', /empty client secret/],
    ['a wrong secret', { authorization: basic(tenant.clientId, 'wrong-secret') }, {}, 'invalid_client', /invalid secret/],
    ['a wrong secret in the form', {}, { client_id: tenant.clientId, client_secret: 'wrong-secret' }, 'invalid_client', /invalid secret/],
    ['an unknown client', { authorization: basic('nobody', 'app-secret-1') }, {}, 'invalid_client', /no active client/],
    ['malformed Basic', { authorization: 'Basic !!!' }, {}, 'invalid_client', /basic auth header/],
    ['Basic without a colon', { authorization: 'Basic ' + Buffer.from('no-colon').toString('base64') }, {}, 'invalid_client', /basic auth header/],
    ['bad percent-encoding', { authorization: 'Basic ' + Buffer.from('%E0%A4%A:x').toString('base64') }, {}, 'invalid_client', /basic auth header/],
    ['Basic and a form secret', { authorization: basic(tenant.clientId, 'app-secret-1') }, { client_id: tenant.clientId, client_secret: 'app-secret-1' }, 'invalid_request', /more than one method/],
    ['Basic and another client_id', { authorization: basic(tenant.clientId, 'app-secret-1') }, { client_id: 'someone-else' }, 'invalid_request', /does not match/]
  ]
  for (const [name, headers, extra, error, description] of refused) {
    const res = await run(headers, extra)
    t.equal(res.status, 400, `${name}: 400, not 401`)
    t.equal(res.headers.get('www-authenticate'), null, `${name}: no challenge`)
    const body = await res.json() as { error: string, error_description: string }
    t.equal(body.error, error, name)
    t.match(body.error_description, description, name)
  }
  t.equal((await run({ authorization: basic(tenant.clientId, 'app-secret-1') }, { client_id: tenant.clientId })).status, 200, 'client_secret_basic')
  t.equal((await run({}, { client_id: tenant.clientId, client_secret: 'app-secret-1' })).status, 200, 'client_secret_post')
  // A public app needs nothing but its client_id: a secret it does not have is ignored, as by Zitadel.
  const pub = addTenant(idp)
  const c = await login(idp, pub.clientId, pub.bob.username, 'bob-pw')
  t.equal((await exchange(idp, { code: c.code, code_verifier: c.verifier }, { authorization: basic(pub.clientId, 'anything') })).status, 200)
  // Another scheme in Authorization is not client authentication.
  const d = await login(idp, pub.clientId, pub.bob.username, 'bob-pw')
  t.equal((await exchange(idp, { code: d.code, code_verifier: d.verifier, client_id: pub.clientId }, { authorization: 'Bearer abc' })).status, 200)
})

t.test('a confidential app may skip PKCE; a challenge it sends must be S256 and is checked', async (t) => {
  const tenant = addTenant(idp, { clientSecret: 'app-secret-2' })
  const auth = { authorization: basic(tenant.clientId, 'app-secret-2') }
  const codeFor = async (overrides: Record<string, string | undefined>): Promise<string> => {
    const { authRequestId } = await openLogin(idp, authorizeParams(tenant.clientId, 'unused', overrides))
    const res = await submitLogin(idp, authRequestId, tenant.bob.username, 'bob-pw')
    return new URL(res.headers.get('location') as string).searchParams.get('code') as string
  }
  const noPkce = { code_challenge: undefined, code_challenge_method: undefined }
  t.equal((await exchange(idp, { code: await codeFor(noPkce) }, auth)).status, 200, 'no challenge, no verifier')
  const unexpected = await exchange(idp, { code: await codeFor(noPkce), code_verifier: pkcePair().verifier }, auth)
  t.equal(unexpected.status, 400)
  t.same(await unexpected.json(), { error: 'invalid_request', error_description: 'code_verifier unexpectedly provided' })

  const { verifier, challenge } = pkcePair()
  const withPkce = { code_challenge: challenge }
  t.equal((await exchange(idp, { code: await codeFor(withPkce), code_verifier: verifier }, auth)).status, 200, 'a verified challenge')
  const missing = await exchange(idp, { code: await codeFor(withPkce) }, auth)
  t.equal(missing.status, 400)
  t.equal((await missing.json() as { error: string }).error, 'invalid_request', 'a challenge wants its verifier')
  const wrong = await exchange(idp, { code: await codeFor(withPkce), code_verifier: pkcePair().verifier }, auth)
  t.equal((await wrong.json() as { error: string }).error, 'invalid_grant')
  const plain = errorRedirect(t, await authorize(authorizeParams(tenant.clientId, challenge, { code_challenge_method: 'plain' })))
  t.equal(plain.get('error'), 'invalid_request', 'plain is refused for confidential apps too')
})

t.test('CORS on the token endpoint: registered redirect origins only, never *', async (t) => {
  const tenant = addTenant(idp)
  const preflight = (origin: string) => fetch(`${idp.issuer}/oauth/v2/token`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' }
  })
  const ok = await preflight(API_ORIGIN)
  t.equal(ok.status, 204)
  t.equal(ok.headers.get('access-control-allow-origin'), API_ORIGIN)
  t.match(ok.headers.get('access-control-allow-methods'), /POST/)
  t.match(ok.headers.get('access-control-allow-headers'), /Content-Type/i)
  // Swagger UI's token request carries X-Requested-With: the preflight must allow it.
  t.match(ok.headers.get('access-control-allow-headers'), /X-Requested-With/i)
  t.match(ok.headers.get('vary'), /Origin/)
  t.equal((await preflight('http://127.0.0.1:8001')).headers.get('access-control-allow-origin'), 'http://127.0.0.1:8001')

  for (const origin of ['http://evil.example', 'http://localhost:8002', 'null']) {
    const no = await preflight(origin)
    t.equal(no.headers.get('access-control-allow-origin'), null, origin)
    t.equal(no.headers.get('access-control-allow-methods'), null)
    t.match(no.headers.get('vary'), /Origin/)
  }

  const c = await login(idp, tenant.clientId, tenant.bob.username, 'bob-pw')
  const res = await exchange(idp, { code: c.code, code_verifier: c.verifier, client_id: tenant.clientId }, { origin: API_ORIGIN })
  t.equal(res.status, 200)
  t.equal(res.headers.get('access-control-allow-origin'), API_ORIGIN)
  const evil = await exchange(idp, { code: 'x', client_id: tenant.clientId }, { origin: 'http://evil.example' })
  t.equal(evil.headers.get('access-control-allow-origin'), null)
})
