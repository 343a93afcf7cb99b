import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setMaxListeners } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import type { ZitadelAuthOptions } from '../lib/index.js'
import { FAST, type TestOptions } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'
import { SECRET, introspectedApi, opaqueTenant, type IntrospectedApi } from './helpers/introspection.js'
import { CLIENT_ASSERTION_TYPE, claimsOf, headerOf, startIdp } from './emulator/helpers.js'

/**
 * Introspection when the IdP misbehaves, and what the plugin sends it. The
 * emulator's fault modes cover discovery, JWKS and token only, so the
 * emulator runs behind a small HTTP front (a real server on 127.0.0.1, the
 * issuer the tokens and discovery name) that passes everything through and
 * can, on the introspection endpoint, drop the connection, answer slowly, with
 * an error status, with something that is not a JSON object or with far too
 * much, hold it until the test releases it, or change the answer; it can also change the discovery document. It
 * records every introspection request it sees. The plugin's cooldown and
 * cache bounds pass on a FakeClock (test/helpers/clock.ts); the front's slow
 * answers and the plugin's httpTimeout are real, as the sockets are.
 */

/**
 * `{ status, body }`: answers at once; the body defaults to Zitadel's refusal of the client, `{"error":"unauthorized_client"}`.
 * `held`: passes the call through once the test calls `release()`.
 */
type Mode = 'pass' | 'down' | 'slow' | 'held' | 'not-json' | 'array' | 'null' | 'huge' | 'huge-chunked' | { status: number, body?: string }

interface Front {
  readonly url: string
  /** Where the emulator listens. */
  target: string
  /** What /oauth/v2/introspect does. */
  mode: Mode
  /** Rewrites a passed-through introspection answer. */
  answer: ((body: Record<string, unknown>) => unknown) | undefined
  /** Rewrites the discovery document. */
  discovery: ((doc: Record<string, unknown>) => unknown) | undefined
  /** The introspection requests seen, whatever the mode. */
  readonly calls: Array<{ form: URLSearchParams, authorization: string | undefined }>
  /** Resolves once `calls` holds `count` requests. */
  callsReached (count: number): Promise<void>
  /** Lets the calls held so far (mode `held`) go on. */
  release (): void
  close (): Promise<void>
}

const FORWARDED_HEADERS = ['accept', 'authorization', 'content-type', 'origin']
const HUGE = JSON.stringify({ active: true, padding: 'x'.repeat(100_000) })
/** The answers of the modes that answer at once: status, body, and whether Content-Length says how long. */
const CANNED: Record<string, readonly [number, string, boolean] | undefined> = {
  'not-json': [200, '<html>Bad gateway</html>', true],
  array: [200, '[{"active":true}]', true],
  null: [200, 'null', true],
  huge: [200, HUGE, true],
  'huge-chunked': [200, HUGE, false]
}
const DROPPED_HEADERS = new Set(['connection', 'content-encoding', 'content-length', 'keep-alive', 'transfer-encoding'])

async function listen (server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function stop (server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
}

async function startFront (): Promise<Front> {
  // One abort listener per slow call in flight; a flood has 64 of them.
  const closing = new AbortController()
  setMaxListeners(0, closing.signal)
  const server = createServer((req, res) => { handle(req, res).catch(() => res.destroy()) })
  let arrivals: Array<{ count: number, resolve: () => void }> = []
  let release = () => {}
  let held = new Promise<void>((resolve) => { release = resolve })
  const front: Front = {
    url: await listen(server),
    target: '',
    mode: 'pass',
    answer: undefined,
    discovery: undefined,
    calls: [],
    callsReached: (count) => new Promise((resolve) => {
      if (front.calls.length >= count) resolve()
      else arrivals.push({ count, resolve })
    }),
    release: () => {
      const opened = release
      held = new Promise<void>((resolve) => { release = resolve })
      opened()
    },
    close: async () => {
      closing.abort()
      front.release()
      await stop(server)
    }
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const path = new URL(req.url as string, front.url).pathname
    let rewrite: ((value: Record<string, unknown>) => unknown) | undefined
    if (path === '/oauth/v2/introspect') {
      front.calls.push({ form: new URLSearchParams(body.toString('utf8')), authorization: req.headers.authorization })
      const reached = arrivals.filter((a) => front.calls.length >= a.count)
      arrivals = arrivals.filter((a) => front.calls.length < a.count)
      for (const a of reached) a.resolve()
      const { mode } = front
      if (mode === 'down') {
        req.socket.destroy()
        return
      }
      if (mode === 'slow') await sleep(1500, undefined, { signal: closing.signal })
      if (mode === 'held') await held
      const canned = typeof mode === 'object'
        ? [mode.status, mode.body ?? '{"error":"unauthorized_client","error_description":"no"}', true] as const
        : CANNED[mode]
      if (canned !== undefined) {
        const [status, text, declared] = canned
        res.writeHead(status, { 'content-type': 'application/json', ...(declared ? { 'content-length': Buffer.byteLength(text) } : {}) }).end(text)
        return
      }
      rewrite = front.answer
    } else if (path === '/.well-known/openid-configuration') {
      rewrite = front.discovery
    }
    const headers: Record<string, string> = {}
    for (const name of FORWARDED_HEADERS) {
      const value = req.headers[name]
      if (typeof value === 'string') headers[name] = value
    }
    const upstream = await fetch(`${front.target}${req.url as string}`, {
      method: req.method,
      headers,
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
      redirect: 'manual'
    })
    let out = Buffer.from(await upstream.arrayBuffer())
    if (rewrite !== undefined && upstream.status === 200) out = Buffer.from(JSON.stringify(rewrite(JSON.parse(out.toString('utf8')))))
    const outHeaders: Record<string, string> = {}
    upstream.headers.forEach((value, name) => { if (!DROPPED_HEADERS.has(name)) outHeaders[name] = value })
    res.writeHead(upstream.status, outHeaders).end(out)
  }

  return front
}

const front = await startFront()
const idp = await startIdp({ issuer: front.url })
front.target = idp.url
t.teardown(async () => {
  await idp.close()
  await front.close()
})

const { tenant, keyApi, keyFile, basicApi, byKey: BY_KEY, bySecret: BY_SECRET } = await opaqueTenant(idp)

/** Each test starts with a front that passes everything and an emulator without faults. */
function reset (t: Test): void {
  const clean = () => {
    front.mode = 'pass'
    front.answer = undefined
    front.discovery = undefined
    idp.fault = 'none'
  }
  clean()
  t.teardown(clean)
}

function apiFor (t: Test, introspection: ZitadelAuthOptions['introspection'], options: TestOptions = {}): Promise<IntrospectedApi> {
  return introspectedApi(t, { issuer: idp.issuer, projectId: tenant.projectId, rolesScope: 'urn:zitadel:iam:org:projects:roles' }, introspection, options)
}

/** apiFor, on a FakeClock of its own. */
async function clockedApiFor (t: Test, introspection: ZitadelAuthOptions['introspection'], options: TestOptions = {}) {
  const clock = new FakeClock()
  return { ...await apiFor(t, introspection, { ...options, [kClock]: clock }), clock }
}

function opaqueToken (): Promise<string> {
  return idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
}

function refused (t: Test, res: LightMyRequestResponse, status: number, code: string, what = code): void {
  t.equal(res.statusCode, status, what)
  t.equal(res.json().code, code, what)
}

function unavailable (t: Test, res: LightMyRequestResponse, token: string, what = 'unavailable'): void {
  refused(t, res, 503, 'ZITADEL_AUTH_IDP_UNAVAILABLE', what)
  t.match(res.headers['retry-after'], /^[1-9]\d*$/, `${what}: Retry-After`)
  t.notOk(res.body.includes(token), `${what}: the token is not in the body`)
}

/** Just past the plugin's wait after a failed call (jwksCooldown), checking that a moment before it the IdP is not asked. */
async function afterCooldown (t: Test, api: IntrospectedApi & { clock: FakeClock }, token: string): Promise<void> {
  await api.clock.advance(FAST.jwksCooldown * 1000 - 1)
  const calls = front.calls.length
  t.equal((await api.me(token)).statusCode, 503, 'within the cooldown: 503')
  t.equal(front.calls.length, calls, 'within the cooldown: no call')
  await api.clock.advance(1)
}

t.test('the request: a form POST with the token and its hint, and a client assertion as Zitadel documents it, reused', async (t) => {
  reset(t)
  const api = await apiFor(t, BY_KEY)
  const from = front.calls.length
  const first = await opaqueToken()
  const second = await opaqueToken()
  t.equal((await api.me(first)).statusCode, 200)
  t.equal((await api.me(second)).statusCode, 200)
  const calls = front.calls.slice(from)
  t.equal(calls.length, 2)
  const [one, two] = calls as [typeof calls[0], typeof calls[0]]
  t.equal(one.form.get('token'), first)
  t.equal(one.form.get('token_type_hint'), 'access_token')
  t.equal(one.form.get('client_assertion_type'), CLIENT_ASSERTION_TYPE)
  t.equal(one.authorization, undefined, 'no Basic header')
  t.equal(one.form.get('client_secret'), null)
  const jwt = one.form.get('client_assertion') as string
  t.match(headerOf(jwt), { alg: 'RS256', kid: keyFile.keyId })
  const claims = claimsOf(jwt)
  t.match(claims, { iss: keyApi.clientId, sub: keyApi.clientId, aud: idp.issuer })
  const now = Date.now() / 1000
  t.ok(typeof claims.iat === 'number' && claims.iat <= now + 1 && claims.iat > now - 60, 'iat is now')
  t.ok(typeof claims.exp === 'number' && claims.exp > now && claims.exp - (claims.iat as number) <= 3600, 'a short lifetime, at most Zitadel\'s hour')
  t.equal(two.form.get('client_assertion'), jwt, 'the assertion is reused')
  t.equal(two.form.get('token'), second)
})

t.test('with Basic: the client id and secret form-encoded in the Authorization header, no assertion', async (t) => {
  reset(t)
  const api = await apiFor(t, BY_SECRET)
  const from = front.calls.length
  const token = await opaqueToken()
  t.equal((await api.me(token)).statusCode, 200, 'the emulator accepts the encoded secret')
  const [call] = front.calls.slice(from)
  t.equal(call?.form.get('token'), token)
  t.equal(call?.form.get('token_type_hint'), 'access_token')
  t.equal(call?.form.get('client_assertion'), null)
  t.equal(call?.form.get('client_secret'), null, 'the secret is not in the form')
  const sent = Buffer.from((call?.authorization as string).replace(/^Basic /, ''), 'base64').toString('utf8')
  const [id, secret] = sent.split(':').map((part) => decodeURIComponent(part.replace(/\+/g, ' ')))
  t.equal(id, basicApi.clientId)
  t.equal(secret, SECRET)
  t.not(sent.split(':')[1], SECRET, 'encoded, not raw')
})

t.test('the introspection endpoint down, failing, slow or answering no JSON object: 503 with Retry-After, then 200 once it works', async (t) => {
  const cases: Array<[string, Mode]> = [
    ['connection dropped', 'down'],
    ['HTTP 500', { status: 500 }],
    ['HTTP 502', { status: 502 }],
    ['HTTP 400', { status: 400 }],
    ['slower than httpTimeout', 'slow'],
    ['not JSON', 'not-json'],
    ['a JSON array', 'array'],
    ['JSON null', 'null'],
    ['an answer of 100 kB', 'huge'],
    ['an answer of 100 kB without Content-Length', 'huge-chunked']
  ]
  for (const [name, mode] of cases) {
    reset(t)
    const api = await clockedApiFor(t, BY_SECRET, { httpTimeout: 0.3 })
    const token = await opaqueToken()
    front.mode = mode
    const from = front.calls.length
    unavailable(t, await api.me(token), token, name)
    t.equal(front.calls.length, from + 1, `${name}: one call`)
    t.ok(api.pluginLogs().some((l) => l.level >= 40 && /introspection/i.test(l.msg)), `${name}: logged`)
    front.mode = 'pass'
    await afterCooldown(t, api, token)
    t.equal((await api.me(token)).statusCode, 200, `${name}: 200 once it works, the failure was not cached`)
    t.notOk(api.lines.some((line) => line.includes(token)), `${name}: the token is in no log line`)
  }
})

t.test('an outage is not met with a call per request: 503 without a call until jwksCooldown has passed; one warning, repeats at debug', async (t) => {
  reset(t)
  const api = await clockedApiFor(t, BY_SECRET)
  front.mode = { status: 500 }
  const from = front.calls.length
  const tokens = await Promise.all([opaqueToken(), opaqueToken(), opaqueToken()])
  unavailable(t, await api.me(tokens[0]), tokens[0], 'the first')
  unavailable(t, await api.me(tokens[1]), tokens[1], 'another token at once')
  t.equal(front.calls.length, from + 1, 'no second call within the cooldown')
  await afterCooldown(t, api, tokens[1])
  unavailable(t, await api.me(tokens[2]), tokens[2], 'after the cooldown')
  t.equal(front.calls.length, from + 2, 'asked again')
  const failures = api.pluginLogs().filter((l) => /introspection/i.test(l.msg))
  t.equal(failures.filter((l) => l.level === 40).length, 1, 'one warning')
  t.ok(failures.some((l) => l.level === 20), 'the repeat at debug')
  t.equal(failures.filter((l) => l.level >= 50).length, 0, 'a 500 is no configuration error')
  front.mode = 'pass'
  await afterCooldown(t, api, tokens[0])
  t.equal((await api.me(tokens[0])).statusCode, 200)
  t.ok(api.pluginLogs().some((l) => l.level === 30 && /introspection/i.test(l.msg)), 'that it works again is logged')
})

t.test('the API\'s credentials refused (Zitadel: HTTP 400 unauthorized_client or invalid_client; a proxy: 401 or 403): 503, one error line about the client authentication until it works again', async (t) => {
  // zitadel/oidc WriteError answers 400 for every OAuth error but server_error.
  const refusals: Array<[string, Mode]> = [
    ['400 unauthorized_client', { status: 400, body: '{"error":"unauthorized_client","error_description":"client authentication failed"}' }],
    ['400 invalid_client', { status: 400, body: '{"error":"invalid_client"}' }],
    ['401', { status: 401 }],
    ['403', { status: 403, body: '' }]
  ]
  for (const [status, refusal] of refusals) {
    reset(t)
    const api = await clockedApiFor(t, BY_KEY)
    const token = await opaqueToken()
    const errors = () => api.pluginLogs().filter((l) => l.level >= 50)
    front.mode = refusal
    unavailable(t, await api.me(token), token, `${status}`)
    t.equal(errors().length, 1, `${status}: one error line`)
    t.match(errors()[0]?.msg, /introspection/i)
    t.match(errors()[0]?.msg, /client authentication/i)
    await afterCooldown(t, api, token)
    unavailable(t, await api.me(token), token, `${status}: again`)
    t.equal(errors().length, 1, `${status}: the repeat is no error`)
    t.ok(api.pluginLogs().some((l) => l.level === 20 && /client authentication/i.test(l.msg)), `${status}: but a debug line`)

    front.mode = 'pass'
    t.equal((await api.me(token)).statusCode, 503, `${status}: no call within the cooldown`)
    await afterCooldown(t, api, token)
    t.equal((await api.me(token)).statusCode, 200, `${status}: works again`)
    front.mode = refusal
    const other = await opaqueToken()
    unavailable(t, await api.me(other), other, `${status}: fails again`)
    t.equal(errors().length, 2, `${status}: after it worked, a new failure is an error again`)
    t.notOk(api.lines.some((line) => line.includes(token) || line.includes(other)), 'no token in the log')
  }
})

t.test('the answer meets the claim rules of a JWT, and only active: true is active', async (t) => {
  reset(t)
  const api = await apiFor(t, BY_SECRET)
  const now = Math.floor(Date.now() / 1000)
  const cases: Array<[string, (body: Record<string, unknown>) => unknown, number, string]> = [
    ['another issuer', (b) => ({ ...b, iss: 'https://elsewhere.example' }), 401, 'ZITADEL_AUTH_ISSUER_INVALID'],
    ['no iss', (b) => ({ ...b, iss: undefined }), 401, 'ZITADEL_AUTH_ISSUER_INVALID'],
    ['another audience', (b) => ({ ...b, aud: ['another-project'] }), 401, 'ZITADEL_AUTH_AUDIENCE_INVALID'],
    ['aud a string', (b) => ({ ...b, aud: tenant.projectId }), 200, ''],
    ['expired', (b) => ({ ...b, exp: now - 5 }), 401, 'ZITADEL_AUTH_TOKEN_EXPIRED'],
    ['no exp', (b) => ({ ...b, exp: undefined }), 401, 'ZITADEL_AUTH_CLAIMS_INVALID'],
    ['not yet valid', (b) => ({ ...b, nbf: now + 600 }), 401, 'ZITADEL_AUTH_TOKEN_NOT_YET_VALID'],
    ['no sub', (b) => ({ ...b, sub: undefined }), 401, 'ZITADEL_AUTH_CLAIMS_INVALID'],
    ['active "true"', (b) => ({ ...b, active: 'true' }), 401, 'ZITADEL_AUTH_TOKEN_INACTIVE'],
    ['active 1', (b) => ({ ...b, active: 1 }), 401, 'ZITADEL_AUTH_TOKEN_INACTIVE'],
    ['no active', (b) => ({ ...b, active: undefined }), 401, 'ZITADEL_AUTH_TOKEN_INACTIVE'],
    ['an empty object', () => ({}), 401, 'ZITADEL_AUTH_TOKEN_INACTIVE']
  ]
  for (const [name, rewrite, status, code] of cases) {
    front.answer = rewrite
    const token = await opaqueToken()
    const res = await api.me(token)
    if (status === 200) t.equal(res.statusCode, 200, name)
    else refused(t, res, status, code, name)
    t.notOk(res.body.includes(token), `${name}: no token in the body`)
  }
})

t.test('an active answer is reused until the token\'s exp, never past it', async (t) => {
  reset(t)
  const { clock, ...api } = await clockedApiFor(t, BY_KEY)
  const exp = Math.floor(clock.wallSeconds()) + 2
  front.answer = (b) => ({ ...b, exp })
  const token = await opaqueToken()
  const from = front.calls.length
  t.equal((await api.me(token)).statusCode, 200)
  t.equal((await api.me(token)).statusCode, 200)
  t.equal(front.calls.length, from + 1, 'cached (cacheMaxAge is 60)')
  await clock.advanceToWallSeconds(exp - 0.001)
  t.equal((await api.me(token)).statusCode, 200)
  t.equal(front.calls.length, from + 1, 'still cached a millisecond before exp')
  await clock.advanceToWallSeconds(exp)
  front.answer = undefined
  t.equal((await api.me(token)).statusCode, 200, 'the real answer: active')
  t.equal(front.calls.length, from + 2, 'asked again once exp had passed')
})

t.test('active: false is not cached: the next request asks again', async (t) => {
  reset(t)
  const api = await apiFor(t, BY_KEY)
  const token = await opaqueToken()
  front.answer = () => ({ active: false })
  const from = front.calls.length
  refused(t, await api.me(token), 401, 'ZITADEL_AUTH_TOKEN_INACTIVE')
  front.answer = undefined
  t.equal((await api.me(token)).statusCode, 200)
  t.equal(front.calls.length, from + 2)
})

t.test('a discovery document without introspection_endpoint: 503 and a warning for opaque tokens; JWTs still pass', async (t) => {
  reset(t)
  front.discovery = (doc) => ({ ...doc, introspection_endpoint: undefined })
  const api = await apiFor(t, BY_KEY)
  const token = await opaqueToken()
  const from = front.calls.length
  unavailable(t, await api.me(token), token)
  t.equal(front.calls.length, from, 'nothing was sent')
  t.ok(api.pluginLogs().some((l) => l.level === 40 && /introspection/i.test(l.msg)), 'a warning')
  const jwt = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, type: 'jwt' })
  t.equal((await api.me(jwt)).statusCode, 200, 'a JWT is verified locally')
})

t.test('a discovery document naming another issuer: introspection gets 503 and its warning carries the hint to fix the issuer option', async (t) => {
  reset(t)
  front.discovery = (doc) => ({ ...doc, issuer: `${String(doc.issuer)}/elsewhere` })
  const api = await apiFor(t, { keyFile, tokens: 'all' })
  const token = await opaqueToken()
  const from = front.calls.length
  unavailable(t, await api.me(token), token)
  t.equal(front.calls.length, from, 'nothing was sent')
  const line = api.pluginLogs().find((l) => l.level === 40 && /introspection failed/.test(l.msg))
  t.match(line?.hint, `names "${front.url}/elsewhere", not "${front.url}"`, 'the hint names the issuer the document names')
})

t.test('an introspection_endpoint on another origin is refused: the token is never sent there', async (t) => {
  reset(t)
  let stolen = 0
  const elsewhere = createServer((_req, res) => { stolen++; res.writeHead(200, { 'content-type': 'application/json' }).end('{"active":true}') })
  const url = await listen(elsewhere)
  t.teardown(() => stop(elsewhere))
  front.discovery = (doc) => ({ ...doc, introspection_endpoint: `${url}/oauth/v2/introspect` })
  const api = await apiFor(t, BY_SECRET)
  const token = await opaqueToken()
  unavailable(t, await api.me(token), token)
  t.equal(stolen, 0, 'no request reached the other origin')
  const jwt = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, type: 'jwt' })
  t.equal((await api.me(jwt)).statusCode, 200, 'JWTs still pass: a bad introspection_endpoint does not take the JWKS down')

  const plain = await introspectedApi(t, { issuer: idp.issuer, projectId: tenant.projectId, rolesScope: 'x' }, undefined)
  t.equal((await plain.me(jwt)).statusCode, 200, 'nor does it for an app without introspection')
})

t.test('a flood of new tokens: at most 64 calls in flight; beyond that 503 at once, without a call', async (t) => {
  reset(t)
  front.mode = 'held'
  const api = await apiFor(t, BY_SECRET, { httpTimeout: 5 })
  const from = front.calls.length
  const made = Array.from({ length: 70 }, (_, i) => `made-up-opaque-token-${i}-${'x'.repeat(40)}`)
  const answers = made.map((token) => api.me(token))
  await front.callsReached(from + 64)
  t.equal(front.calls.length - from, 64, '64 calls reached the IdP')
  front.mode = 'pass'
  front.release()
  const results = await Promise.all(answers)
  t.equal(results.filter((r) => r.statusCode === 503).length, 6, 'the other 6 got 503')
  t.equal(results.filter((r) => r.statusCode === 401).length, 64, 'the 64 asked got their answer: not active')
  t.equal(front.calls.length - from, 64, 'and no more calls were made')
})

t.test('a credential longer than 4096 characters is refused before any call', async (t) => {
  reset(t)
  const api = await apiFor(t, BY_SECRET)
  const from = front.calls.length
  refused(t, await api.me('a'.repeat(4097)), 401, 'ZITADEL_AUTH_TOKEN_MALFORMED')
  t.equal(front.calls.length, from, 'nothing was sent')
})

t.test('any other 400 from the introspection endpoint is about that request: 503 (never 401 or 500), and no cooldown for the next one', async (t) => {
  for (const [name, body] of [
    ['invalid_request', '{"error":"invalid_request","error_description":"token missing"}'],
    ['no JSON', '<html>Bad Request</html>'],
    ['no body', ''],
    ['an error code that is no OAuth word', '{"error":"Unauthorized Client <script>"}'],
    ['JSON null', 'null']
  ]) {
    reset(t)
    front.mode = { status: 400, body }
    const api = await apiFor(t, BY_SECRET, { jwksCooldown: 30 })
    const token = await opaqueToken()
    unavailable(t, await api.me(token), token, name)
    t.notOk(api.pluginLogs().some((l) => l.level >= 50), `${name}: no error line (nothing says the credentials are wrong)`)
    front.mode = 'pass'
    t.equal((await api.me(token)).statusCode, 200, `${name}: the next request is asked at once`)
  }
})

t.test('a refused client assertion is not reused: the next call signs a new one', async (t) => {
  reset(t)
  front.mode = { status: 401 }
  const api = await clockedApiFor(t, BY_KEY)
  const from = front.calls.length
  const token = await opaqueToken()
  unavailable(t, await api.me(token), token)
  front.mode = 'pass'
  await afterCooldown(t, api, token)
  t.equal((await api.me(token)).statusCode, 200)
  const [refusedCall, nextCall] = front.calls.slice(from)
  t.not(nextCall?.form.get('client_assertion'), refusedCall?.form.get('client_assertion'), 'a new assertion after the 401')
})

t.test('cacheMaxAge is measured on the monotonic clock: a wall clock stepped back does not stretch it', async (t) => {
  reset(t)
  const { clock, ...api } = await clockedApiFor(t, { ...BY_SECRET, cacheMaxAge: 0.3 })
  const token = await opaqueToken()
  t.equal((await api.me(token)).statusCode, 200)
  const from = front.calls.length
  t.equal((await api.me(token)).statusCode, 200)
  t.equal(front.calls.length, from, 'within cacheMaxAge: from the cache')
  clock.stepWall(-600)
  await clock.advance(300)
  // What the answer then says (its iat is now in the future) does not matter here.
  await api.me(token)
  t.equal(front.calls.length, from + 1, 'past cacheMaxAge, the IdP is asked again although the wall clock went back ten minutes')
})

t.test('the emulator\'s faults on discovery (down, error, slow): 503 with Retry-After, then 200 after recovery', async (t) => {
  for (const fault of ['down', 'error', 'slow'] as const) {
    reset(t)
    idp.fault = fault
    idp.slowMs = 1000
    t.teardown(() => { idp.slowMs = 1000 })
    const api = await clockedApiFor(t, BY_SECRET, { httpTimeout: 0.2 })
    const token = await opaqueToken()
    const from = front.calls.length
    unavailable(t, await api.me(token), token, fault)
    t.equal(front.calls.length, from, `${fault}: introspection was not reached`)
    idp.fault = 'none'
    await afterCooldown(t, api, token)
    t.equal((await api.me(token)).statusCode, 200, `${fault}: 200 after recovery`)
  }
})
