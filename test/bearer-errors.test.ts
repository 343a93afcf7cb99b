import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { bearerCredential, INVALID, isB64Token } from '../lib/bearer.js'
import * as errors from '../lib/errors.js'
import { createErrorFactory } from '../lib/errors.js'
import { appFor, bearer, setup } from './helpers/app.js'

type Asserts = Pick<typeof t, 'equal' | 'match' | 'ok' | 'fail'>

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const now = () => Math.floor(Date.now() / 1000)

/** RFC 9110 §5.6.4 quoted-string content without quoted-pair: printable ASCII except `"` and `\`. */
const QTEXT = '[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]+'
const CHALLENGE_WITH_ERROR = new RegExp(
  `^Bearer realm="${QTEXT}", error="(invalid_request|invalid_token|insufficient_scope)", error_description="(${QTEXT})"(, scope="${QTEXT}")?$`
)
const BEARER_CODE_BY_STATUS: Record<number, string> = { 400: 'invalid_request', 401: 'invalid_token', 403: 'insufficient_scope' }

// ---------------------------------------------------------------------------
// extractBearer: the plugin's two steps on a header, as one function
// ---------------------------------------------------------------------------

type BearerResult = { kind: 'none' } | { kind: 'invalid' } | { kind: 'token', token: string }

/** The token of a valid Bearer header, or why there is none: bearerCredential, then the b64token rule. */
function extractBearer (header: string | undefined): BearerResult {
  const credential = bearerCredential(header)
  if (typeof credential !== 'string') return credential
  return isB64Token(credential) ? { kind: 'token', token: credential } : INVALID
}

t.test('extractBearer: no header or another scheme is none', async (t) => {
  t.same(extractBearer(undefined), { kind: 'none' })
  t.same(extractBearer(''), { kind: 'none' })
  t.same(extractBearer('Basic dXNlcjpwYXNz'), { kind: 'none' })
  t.same(extractBearer('Digest username="a"'), { kind: 'none' })
  t.same(extractBearer('DPoP eyJ.eyJ.sig'), { kind: 'none' })
  t.same(extractBearer('Bear'), { kind: 'none' })
  t.same(extractBearer('BearerX abc'), { kind: 'none' }, '"BearerX" is another scheme')
  t.same(extractBearer('Bearerabc'), { kind: 'none' })
})

t.test('extractBearer: "Bearer" with nothing usable is invalid', async (t) => {
  for (const header of ['Bearer', 'bearer', 'Bearer ', 'Bearer    ', 'Bearer a b', 'Bearer {"alg":"none"}', 'Bearer a=b', 'Bearer =abc', 'Bearer a,b', 'Bearer tok"en']) {
    t.same(extractBearer(header), { kind: 'invalid' }, JSON.stringify(header))
  }
})

t.test('extractBearer: the scheme is case-insensitive', async (t) => {
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
    t.same(extractBearer(`${scheme} abc.def.ghi`), { kind: 'token', token: 'abc.def.ghi' }, scheme)
  }
})

t.test('extractBearer: b64token characters and trailing "=" are accepted', async (t) => {
  t.same(extractBearer('Bearer abc=='), { kind: 'token', token: 'abc==' })
  t.same(extractBearer('Bearer A-Za_z0.9~+/x='), { kind: 'token', token: 'A-Za_z0.9~+/x=' })
  t.same(extractBearer('Bearer\tabc'), { kind: 'token', token: 'abc' }, 'a tab separates too')
  t.same(extractBearer('Bearer abc '), { kind: 'token', token: 'abc' }, 'trailing whitespace is not part of the token')
})

// ---------------------------------------------------------------------------
// Through a real app
// ---------------------------------------------------------------------------

/** The checks every 4xx with an RFC 6750 error code must pass. */
function assertErrorShape (t: Asserts, res: LightMyRequestResponse, code: string, label = code): void {
  t.equal(res.statusCode >= 400 && res.statusCode < 500, true, `${label}: a 4xx (got ${res.statusCode})`)
  const body = res.json() as { statusCode?: number, code?: string, message?: string }
  t.equal(body.code, code, `${label}: body code`)
  t.equal(body.statusCode, res.statusCode, `${label}: body statusCode equals the HTTP status`)
  const header = res.headers['www-authenticate']
  if (typeof header !== 'string') {
    t.fail(`${label}: one WWW-Authenticate header expected, got ${JSON.stringify(header)}`)
    return
  }
  const m = CHALLENGE_WITH_ERROR.exec(header)
  t.ok(m, `${label}: header shape ${header}`)
  if (m === null) return
  t.equal(m[1], BEARER_CODE_BY_STATUS[res.statusCode], `${label}: error matches the status`)
  t.equal(m[2], body.message, `${label}: error_description is the body message`)
}

t.test('"Bearer" with nothing usable: 400 invalid_request, on a public route too', async (t) => {
  const { app, issuer } = await setup(t)
  for (const url of ['/me', '/public']) {
    for (const authorization of ['Bearer', 'Bearer    ', 'Bearer a b', 'Bearer {"sub":"x"}']) {
      const res = await app.inject({ url, headers: { authorization } })
      const label = `${url} ${JSON.stringify(authorization)}`
      t.equal(res.statusCode, 400, label)
      t.equal(res.json().code, 'ZITADEL_AUTH_BAD_REQUEST', label)
      t.equal(res.headers['www-authenticate'],
        'Bearer realm="api", error="invalid_request", error_description="The Authorization header is not a valid Bearer credential"', label)
    }
  }
  t.equal(issuer.requests.jwks <= 1, true, 'a bad request does not trigger key fetches beyond the warm-up')
})

t.test('no token on /me: 401 with a bare challenge (no error attribute)', async (t) => {
  const { app } = await setup(t)
  const res = await app.inject({ url: '/me' })
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'ZITADEL_AUTH_TOKEN_MISSING')
  t.equal(res.json().statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api"')
})

t.test('a Basic header: anonymous on /public, 401 without error attribute on /me', async (t) => {
  const { app } = await setup(t)
  const headers = { authorization: 'Basic dXNlcjpwYXNz' }
  const pub = await app.inject({ url: '/public', headers })
  t.equal(pub.statusCode, 200)
  t.same(pub.json(), { public: true, user: null })
  t.equal(pub.headers['www-authenticate'], undefined)

  const me = await app.inject({ url: '/me', headers })
  t.equal(me.statusCode, 401)
  t.equal(me.json().code, 'ZITADEL_AUTH_TOKEN_MISSING')
  t.equal(me.headers['www-authenticate'], 'Bearer realm="api"')
})

t.test('a garbage token is checked even on /public: 401 invalid_token TOKEN_MALFORMED', async (t) => {
  const { app } = await setup(t)
  for (const token of ['garbage', 'a.b', 'a.b.c.d', 'a..c', 'bm90anNvbg.e30.c2ln']) {
    for (const url of ['/public', '/me']) {
      const res = await app.inject({ url, headers: bearer(token) })
      const label = `${url} ${token}`
      t.equal(res.statusCode, 401, label)
      t.equal(res.json().code, 'ZITADEL_AUTH_TOKEN_MALFORMED', label)
      t.equal(res.headers['www-authenticate'],
        'Bearer realm="api", error="invalid_token", error_description="The access token is malformed"', label)
    }
  }
})

t.test('a token in the query string is ignored; the same token in the header works', async (t) => {
  const { app, issuer } = await setup(t)
  const token = await issuer.token()

  const me = await app.inject({ url: `/me?access_token=${token}` })
  t.equal(me.statusCode, 401)
  t.equal(me.json().code, 'ZITADEL_AUTH_TOKEN_MISSING')
  t.equal(me.headers['www-authenticate'], 'Bearer realm="api"')

  const pub = await app.inject({ url: `/public?access_token=${token}` })
  t.equal(pub.statusCode, 200)
  t.same(pub.json(), { public: true, user: null })

  const ok = await app.inject({ url: '/me', headers: bearer(token) })
  t.equal(ok.statusCode, 200, 'the token itself is good')
  t.equal(ok.json().sub, '263785111111111111')

  const lower = await app.inject({ url: '/me', headers: { authorization: `bearer ${token}` } })
  t.equal(lower.statusCode, 200, 'a lower-case scheme is accepted by the app too')
})

t.test('no echo: the token, its kid and its signature never appear in the response', async (t) => {
  const { app, issuer } = await setup(t)
  const unpublished = await issuer.addKey('RS256', { publish: false })
  const good = await issuer.token()
  const other = await issuer.token({ claims: { sub: 'someone-else' } })
  const goodParts = good.split('.')
  const otherSig = other.split('.')[2] as string

  const cases: Array<{ name: string, token: string, kid: string, code: string }> = [
    { name: 'bad signature', token: `${goodParts[0]}.${goodParts[1]}.${otherSig}`, kid: issuer.keys[0]!.kid, code: 'ZITADEL_AUTH_SIGNATURE_INVALID' },
    { name: 'wrong issuer', token: await issuer.token({ claims: { iss: 'https://evil.example.com' } }), kid: issuer.keys[0]!.kid, code: 'ZITADEL_AUTH_ISSUER_INVALID' },
    { name: 'malformed (four segments)', token: `${good}.x`, kid: issuer.keys[0]!.kid, code: 'ZITADEL_AUTH_TOKEN_MALFORMED' },
    { name: 'unknown kid', token: await issuer.token({ key: unpublished }), kid: unpublished.kid, code: 'ZITADEL_AUTH_KEY_UNKNOWN' }
  ]
  for (const c of cases) {
    const signature = c.token.split('.')[2] as string
    for (const url of ['/me', '/public']) {
      const res = await app.inject({ url, headers: bearer(c.token) })
      const label = `${c.name} ${url}`
      t.equal(res.statusCode, 401, label)
      assertErrorShape(t, res, c.code, label)
      const everything = [res.body, ...Object.entries(res.headers).flat().map(String)]
      for (const secret of [c.token, c.kid, signature, goodParts[1] as string]) {
        t.notOk(everything.some((s) => s.includes(secret)), `${label}: does not contain ${secret.slice(0, 12)}…`)
      }
    }
  }
})

t.test('a custom realm appears in every challenge', async (t) => {
  const { app } = await setup(t, { realm: 'orders API' })
  const missing = await app.inject({ url: '/me' })
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="orders API"')
  const bad = await app.inject({ url: '/public', headers: bearer('garbage') })
  t.equal(bad.headers['www-authenticate'], 'Bearer realm="orders API", error="invalid_token", error_description="The access token is malformed"')
  const req = await app.inject({ url: '/public', headers: { authorization: 'Bearer' } })
  t.match(req.headers['www-authenticate'], /^Bearer realm="orders API", error="invalid_request", /)
})

t.test('every 4xx error has a stable code, statusCode and a well-formed challenge', async (t) => {
  const { app, issuer } = await setup(t, {}, {
    routes: (app) => {
      app.get('/scoped', { preHandler: app.zitadel.requireScopes(['orders:read', 'orders:write']) }, async () => ({ ok: true }))
    }
  })
  const { app: strict } = await appFor(t, issuer, { allowedClientIds: ['another-client'] })
  const unpublished = await issuer.addKey('RS256', { publish: false })
  const n = now()
  const good = await issuer.token()
  const [h, p] = good.split('.') as [string, string, string]
  const kid = issuer.keys[0]!.kid

  const cases: Array<[string, string, string, FastifyInstance?]> = [
    ['/public', 'Bearer', 'ZITADEL_AUTH_BAD_REQUEST'],
    ['/public', 'Bearer garbage', 'ZITADEL_AUTH_TOKEN_MALFORMED'],
    ['/public', `Bearer ${b64({ alg: 'HS256', typ: 'JWT', kid })}.${p}.c2ln`, 'ZITADEL_AUTH_TOKEN_UNSUPPORTED'],
    ['/public', `Bearer ${b64({ alg: 'none', typ: 'JWT', kid })}.${p}.c2ln`, 'ZITADEL_AUTH_TOKEN_UNSUPPORTED'],
    ['/me', `Bearer ${await issuer.token({ key: unpublished })}`, 'ZITADEL_AUTH_KEY_UNKNOWN'],
    ['/me', `Bearer ${h}.${p}.${(await issuer.token({ claims: { sub: 'x' } })).split('.')[2]}`, 'ZITADEL_AUTH_SIGNATURE_INVALID'],
    ['/me', `Bearer ${await issuer.token({ claims: { exp: n - 60, iat: n - 120, nbf: n - 120 } })}`, 'ZITADEL_AUTH_TOKEN_EXPIRED'],
    ['/me', `Bearer ${await issuer.token({ claims: { nbf: n + 600 } })}`, 'ZITADEL_AUTH_TOKEN_NOT_YET_VALID'],
    ['/me', `Bearer ${await issuer.token({ claims: { iss: 'https://evil.example.com' } })}`, 'ZITADEL_AUTH_ISSUER_INVALID'],
    ['/me', `Bearer ${await issuer.token({ claims: { aud: ['another-project'] } })}`, 'ZITADEL_AUTH_AUDIENCE_INVALID'],
    ['/me', `Bearer ${await issuer.token({ claims: { sub: undefined } })}`, 'ZITADEL_AUTH_CLAIMS_INVALID'],
    ['/me', `Bearer ${good}`, 'ZITADEL_AUTH_CLIENT_NOT_ALLOWED', strict],
    ['/admin', `Bearer ${good}`, 'ZITADEL_AUTH_ROLE_REQUIRED'],
    ['/scoped', `Bearer ${good}`, 'ZITADEL_AUTH_SCOPE_REQUIRED']
  ]
  for (const [url, authorization, code, target = app] of cases) {
    const res = await target.inject({ url, headers: { authorization } })
    assertErrorShape(t, res, code, `${code} on ${url}`)
  }

  const scoped = await app.inject({ url: '/scoped', headers: bearer(good) })
  t.equal(scoped.statusCode, 403)
  t.match(scoped.headers['www-authenticate'], /, scope="orders:read orders:write"$/, 'the scope challenge names the route\'s scopes')

  const missing = await app.inject({ url: '/admin' })
  t.equal(missing.statusCode, 401)
  t.equal(missing.json().code, 'ZITADEL_AUTH_TOKEN_MISSING')
  t.equal(missing.json().statusCode, 401)
  t.match(missing.headers['www-authenticate'], new RegExp(`^Bearer realm="${QTEXT}"$`), 'token missing: realm only')
})

// ---------------------------------------------------------------------------
// createErrorFactory
// ---------------------------------------------------------------------------

t.test('createErrorFactory: unavailable() rounds Retry-After up to whole seconds, at least 1', async (t) => {
  const f = createErrorFactory('api')
  for (const [seconds, expected] of [[0.2, '1'], [7.1, '8'], [0, '1'], [-3, '1'], [3, '3'], [59.999, '60']] as const) {
    const err = f.unavailable(seconds)
    t.equal(err.headers?.['retry-after'], expected, `${seconds} s`)
    t.equal(err.statusCode, 503)
    t.equal(err.code, 'ZITADEL_AUTH_IDP_UNAVAILABLE')
    t.equal(err.headers?.['www-authenticate'], undefined, 'a 503 carries no challenge')
  }
})

t.test('createErrorFactory: scope() names the scopes in the challenge', async (t) => {
  const err = createErrorFactory('api').scope(['a', 'b'])
  t.equal(err.statusCode, 403)
  t.equal(err.code, 'ZITADEL_AUTH_SCOPE_REQUIRED')
  t.equal(err.headers?.['www-authenticate'],
    'Bearer realm="api", error="insufficient_scope", error_description="The access token lacks a required scope", scope="a b"')
})

t.test('createErrorFactory: auth() carries the challenge of the realm; missing token has no error attribute', async (t) => {
  const f = createErrorFactory('shop')
  const missing = f.auth(errors.TokenMissingError)
  t.equal(missing.statusCode, 401)
  t.equal(missing.headers?.['www-authenticate'], 'Bearer realm="shop"')
  const expired = f.auth(errors.TokenExpiredError)
  t.equal(expired.headers?.['www-authenticate'], 'Bearer realm="shop", error="invalid_token", error_description="The access token has expired"')
  const role = f.auth(errors.RoleRequiredError)
  t.equal(role.statusCode, 403)
  t.equal(role.headers?.['www-authenticate'], 'Bearer realm="shop", error="insufficient_scope", error_description="The access token lacks a required role"')
  const bad = f.auth(errors.BadRequestError)
  t.equal(bad.statusCode, 400)
  t.match(bad.headers?.['www-authenticate'], /error="invalid_request"/)
  t.not(f.auth(errors.TokenExpiredError), expired, 'a new error per call')
})

t.test('error messages are fixed ASCII text', async (t) => {
  const expected: Record<string, [string, number]> = {
    TokenMissingError: ['Authentication required', 401],
    BadRequestError: ['The Authorization header is not a valid Bearer credential', 400],
    TokenMalformedError: ['The access token is malformed', 401],
    TokenUnsupportedError: ['The access token uses an unsupported type or algorithm', 401],
    KeyUnknownError: ['The access token was signed with an unknown key', 401],
    SignatureInvalidError: ['The access token signature is invalid', 401],
    TokenExpiredError: ['The access token has expired', 401],
    TokenNotYetValidError: ['The access token is not valid yet', 401],
    IssuerInvalidError: ['The access token was issued by another issuer', 401],
    AudienceInvalidError: ['The access token is not meant for this API', 401],
    ClientNotAllowedError: ['The access token was issued to a client this API does not accept', 401],
    ClaimsInvalidError: ['The access token claims are not accepted', 401],
    RoleRequiredError: ['The access token lacks a required role', 403],
    ScopeRequiredError: ['The access token lacks a required scope', 403],
    IdpUnavailableError: ['The identity provider cannot be reached; try again later', 503]
  }
  const f = createErrorFactory('api')
  for (const [name, [message, status]] of Object.entries(expected)) {
    const Err = (errors as unknown as Record<string, errors.ErrorConstructor>)[name]
    if (Err === undefined) {
      t.fail(`${name} is not exported`)
      continue
    }
    const err = f.auth(Err)
    t.equal(err.message, message, name)
    t.equal(err.statusCode, status, `${name} status`)
    t.match(err.message, /^[\x20\x21\x23-\x5b\x5d-\x7e]+$/, `${name}: printable ASCII, no quote or backslash`)
    t.match(err.code, /^ZITADEL_AUTH_[A-Z_]+$/, `${name}: stable code`)
    t.equal(err.stack?.split('\n').length ?? 1, 1, `${name}: no stack captured for request errors`)
  }
  const reasons = [f.unavailable(1), f.scope(['x'])]
  t.same(reasons.map((e) => e.message), [expected.IdpUnavailableError![0], expected.ScopeRequiredError![0]])
})
