import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import type { ZitadelAuthOptions } from '../lib/index.js'
import { appFor, bearer, ES256_ONLY, issuerFor } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'
import { STILL_WAITING, within } from './helpers/within.js'
import type { Fault } from '../fixtures/issuer.js'

/*
 * Discovery and the bounded HTTP client (lib/discovery.ts, lib/http.ts), seen
 * through real apps talking to a real issuer over HTTP. Whatever goes wrong on
 * the IdP's side, a request that carries a token gets 503 with Retry-After,
 * never a 401 (the token may be fine) nor a 500. Cooldowns pass on a
 * FakeClock (test/helpers/clock.ts); timeouts are real, as the sockets are.
 *
 * The issuers sign with ES256: its keys are generated in a millisecond (RSA
 * takes a quarter of a second), and nothing here depends on the algorithm.
 */

/** A bare HTTP server on 127.0.0.1 for answers the test issuer cannot give; counts requests per path. */
async function localServer (t: Test, handler: (path: string, res: ServerResponse, url: string) => void) {
  const sockets = new Set<Socket>()
  const hits = new Map<string, number>()
  let url = ''
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', url).pathname
    hits.set(path, (hits.get(path) ?? 0) + 1)
    handler(path, res, url)
  })
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url, hits }
}

function sendJson (res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

function assertUnavailable (t: Test, res: LightMyRequestResponse): void {
  t.equal(res.statusCode, 503, 'status 503, not 401 or 500')
  t.equal(res.json().code, 'ZITADEL_AUTH_IDP_UNAVAILABLE')
  const retryAfter = res.headers['retry-after']
  t.match(retryAfter, /^\d+$/, 'Retry-After is a whole number of seconds')
  t.ok(Number(retryAfter) >= 1, 'Retry-After is at least 1')
}

function me (app: FastifyInstance, token: string) {
  return app.inject({ url: '/me', headers: bearer(token) })
}

t.test('a discovery document that matches the issuer: tokens pass, discovery and JWKS are fetched once', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const { app } = await appFor(t, issuer, ES256_ONLY)
  const token = await issuer.token()

  const first = await me(app, token)
  t.equal(first.statusCode, 200)
  t.equal(first.json().sub, '263785111111111111')
  const second = await me(app, token)
  t.equal(second.statusCode, 200)
  t.same(issuer.requests, { discovery: 1, jwks: 1 })
})

t.test('discovery naming another issuer: 503 with Retry-After, the JWKS is never fetched, one error line names the issuer to configure', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const named = `http://localhost:${new URL(issuer.url).port}`
  issuer.discovery = { issuer: named }
  const { app, logs, lines } = await appFor(t, issuer, ES256_ONLY, { logs: true })

  const token = await issuer.token()
  const res = await me(app, token)
  assertUnavailable(t, res)
  t.equal(issuer.requests.jwks, 0, 'the jwks_uri of an impostor document is not followed')

  const errors = logs().filter((l) => l.level === 50 && l.plugin === 'fastify-zitadel-auth')
  t.equal(errors.length, 1, 'one error line: only the configuration can be at fault')
  t.match(errors[0], { msg: /issuer option looks wrong/, reason: /another issuer/, issuer: issuer.url })
  t.match(errors[0]?.hint, `names "${named}", not "${issuer.url}"; set "issuer" to exactly what the document names`)
  t.match(errors[0]?.hint, /localhost and 127\.0\.0\.1 differ/)
  await me(app, token)
  t.equal(logs().filter((l) => l.level === 50 && l.plugin === 'fastify-zitadel-auth').length, 1, 'a repeat is not an error again')
  t.notOk(lines.some((line) => line.includes(token)), 'no token in the log')
})

t.test('a hint repeats an issuer a discovery document names only when it is short and printable', async (t) => {
  for (const [name, documentIssuer, expected] of [
    ['with a control character', 'https://evil.example/\u001b[31m', /names no usable issuer/],
    ['not a string', 42, /names no usable issuer/],
    ['long', `https://${'a'.repeat(400)}.example`, new RegExp(`names "https://${'a'.repeat(248)}", not`)]
  ] as const) {
    const issuer = await issuerFor(t, 'ES256')
    issuer.discovery = { issuer: documentIssuer }
    const { app, logs } = await appFor(t, issuer, ES256_ONLY, { logs: true })
    assertUnavailable(t, await me(app, await issuer.token()))
    t.match(logs().find((l) => l.level === 50)?.hint, expected, name)
  }
})

t.test('no discovery document where the issuer points (a path, an HTML page): an error line says to fix the issuer option', async (t) => {
  for (const [name, fault, path] of [['HTTP 404 (an issuer with a path)', 'none', '/oauth/v2'], ['an HTML page', 'garbage', '']] as const) {
    const issuer = await issuerFor(t, 'ES256')
    issuer.fault = fault
    issuer.faultOn = 'discovery'
    const configured = `${issuer.url}${path}`
    const { app, logs } = await appFor(t, issuer, { ...ES256_ONLY, issuer: configured }, { logs: true })
    assertUnavailable(t, await app.inject({ url: '/me', headers: { authorization: `Bearer ${await issuer.token({ claims: { iss: configured } })}` } }))
    const line = logs().find((l) => l.level === 50)
    t.match(line, { msg: /issuer option looks wrong/, hint: `no OpenID discovery document at ${configured}/.well-known/openid-configuration; "issuer" must be the Zitadel instance URL without a path` }, name)
  }
})

t.test('discovery documents that fail the checks: 503, and the JWKS is never fetched', async (t) => {
  const cases: Array<[string, (url: string) => Record<string, unknown>]> = [
    ['names the issuer with a trailing slash', (url) => ({ issuer: `${url}/` })],
    ['names no issuer', () => ({ issuer: undefined })],
    ['has no jwks_uri', () => ({ jwks_uri: undefined })],
    ['has a jwks_uri that is not a string', () => ({ jwks_uri: 42 })],
    ['has a jwks_uri that is a list', (url) => ({ jwks_uri: [`${url}/oauth/v2/keys`] })],
    ['has a jwks_uri that is not a URL', () => ({ jwks_uri: 'not a url' })],
    ['has a relative jwks_uri', () => ({ jwks_uri: '/oauth/v2/keys' })],
    ['puts jwks_uri on localhost while the issuer is 127.0.0.1', (url) => ({ jwks_uri: `${url.replace('127.0.0.1', 'localhost')}/oauth/v2/keys` })],
    ['puts jwks_uri on https while the issuer is http', (url) => ({ jwks_uri: `${url.replace('http:', 'https:')}/oauth/v2/keys` })],
    ['hides another host behind a userinfo that looks like the issuer', (url) => ({ jwks_uri: `http://${new URL(url).host}@evil.example/oauth/v2/keys` })]
  ]
  for (const [name, override] of cases) {
    await t.test(name, async (t) => {
      const issuer = await issuerFor(t, 'ES256')
      issuer.discovery = override(issuer.url)
      const { app } = await appFor(t, issuer, ES256_ONLY)

      assertUnavailable(t, await me(app, await issuer.token()))
      t.equal(issuer.requests.discovery, 1)
      t.equal(issuer.requests.jwks, 0)
    })
  }
})

t.test('a jwks_uri on another port is never fetched, even when that server holds the right keys', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const other = await issuerFor(t, 'ES256')
  // Were the origin check missing, these keys would verify the token: 200 instead of 503.
  other.extraJwks = issuer.keys.map((k) => k.publicJwk)
  issuer.discovery = { jwks_uri: `${other.url}/oauth/v2/keys` }
  const { app } = await appFor(t, issuer, ES256_ONLY)

  assertUnavailable(t, await me(app, await issuer.token()))
  t.equal(other.requests.jwks, 0, 'the other origin is never contacted')
  t.equal(issuer.requests.jwks, 0)
})

t.test('a discovery document that is not a JSON object: 503', async (t) => {
  for (const body of [[], null, 'a string', 42]) {
    await t.test(JSON.stringify(body), async (t) => {
      const issuer = await issuerFor(t, 'ES256')
      const idp = await localServer(t, (_path, res) => sendJson(res, body))
      const { app } = await appFor(t, issuer, { ...ES256_ONLY, issuer: idp.url })

      assertUnavailable(t, await me(app, await issuer.token({ claims: { iss: idp.url } })))
      t.equal(idp.hits.get('/.well-known/openid-configuration'), 1)
      t.equal(idp.hits.size, 1, 'nothing else is requested')
    })
  }
})

t.test('redirects are not followed: a 302 on discovery gives 503 and its target is never requested', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  let redirect = true
  // The target holds a valid document and keys: following the redirect would give 200.
  const idp = await localServer(t, (path, res, url) => {
    if (path === '/.well-known/openid-configuration' && redirect) {
      res.writeHead(302, { location: '/moved' })
      res.end()
    } else if (path === '/.well-known/openid-configuration' || path === '/moved') {
      sendJson(res, { issuer: url, jwks_uri: `${url}/keys` })
    } else {
      sendJson(res, { keys: issuer.keys.map((k) => k.publicJwk) })
    }
  })
  const clock = new FakeClock()
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, issuer: idp.url, jwksCooldown: 0.2, [kClock]: clock })
  const token = await issuer.token({ claims: { iss: idp.url } })

  assertUnavailable(t, await me(app, token))
  t.equal(idp.hits.get('/.well-known/openid-configuration'), 1)
  t.equal(idp.hits.get('/moved'), undefined, 'the redirect target is never requested')
  t.equal(idp.hits.get('/keys'), undefined)

  // The same server without the redirect is a working IdP: the 503 came from the redirect.
  redirect = false
  await clock.advance(300)
  t.equal((await me(app, token)).statusCode, 200)
  t.equal(idp.hits.get('/moved'), undefined)
})

t.test('IdP faults on discovery or on the JWKS endpoint give 503, never 401 or 500', async (t) => {
  const faults: Array<[Fault, Partial<ZitadelAuthOptions>]> = [
    ['down', {}],
    ['error', {}],
    ['garbage', {}],
    ['redirect', {}],
    ['huge', {}],
    ['slow', { httpTimeout: 0.2 }],
    ['empty', {}]
  ]
  for (const faultOn of ['discovery', 'jwks'] as const) {
    for (const [fault, options] of faults) {
      if (fault === 'empty' && faultOn === 'discovery') continue // an empty JWKS is a JWKS fault
      await t.test(`${fault} on ${faultOn}`, async (t) => {
        const issuer = await issuerFor(t, 'ES256')
        issuer.fault = fault
        issuer.faultOn = faultOn
        issuer.slowMs = 1000
        const { app } = await appFor(t, issuer, { ...ES256_ONLY, ...options })

        assertUnavailable(t, await me(app, await issuer.token()))
        t.equal(issuer.requests.discovery, 1)
        t.equal(issuer.requests.jwks, faultOn === 'jwks' ? 1 : 0)
      })
    }
  }
})

t.test('an IdP slower than usual but within httpTimeout is waited for', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  issuer.fault = 'slow'
  issuer.slowMs = 100
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, httpTimeout: 2 })

  t.equal((await me(app, await issuer.token())).statusCode, 200)
})

t.test('size caps: a valid document over the cap is refused, one under it is read', async (t) => {
  await t.test('discovery over 64 KiB (streamed): 503', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    issuer.discovery = { padding: 'x'.repeat(70 * 1024) }
    const { app } = await appFor(t, issuer, ES256_ONLY)
    assertUnavailable(t, await me(app, await issuer.token()))
    t.equal(issuer.requests.jwks, 0)
  })
  await t.test('discovery under 64 KiB: 200', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    issuer.discovery = { padding: 'x'.repeat(60 * 1024) }
    const { app } = await appFor(t, issuer, ES256_ONLY)
    t.equal((await me(app, await issuer.token())).statusCode, 200)
  })
  await t.test('JWKS over 512 KiB that holds the right key: 503', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    issuer.extraJwks = [{ kty: 'oct', kid: 'padding', k: 'x'.repeat(600 * 1024) }]
    const { app } = await appFor(t, issuer, ES256_ONLY)
    assertUnavailable(t, await me(app, await issuer.token()))
  })
  await t.test('discovery that declares a Content-Length over the cap: 503', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    const idp = await localServer(t, (_path, res, url) => {
      const body = JSON.stringify({ issuer: url, jwks_uri: `${url}/keys`, padding: 'x'.repeat(100 * 1024) })
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) })
      res.end(body)
    })
    const { app } = await appFor(t, issuer, { ...ES256_ONLY, issuer: idp.url })
    assertUnavailable(t, await me(app, await issuer.token({ claims: { iss: idp.url } })))
    t.equal(idp.hits.get('/keys'), undefined)
  })
})

t.test('a body cut off or stalled half-way: 503, and the stalled one is given up after httpTimeout', async (t) => {
  await t.test('cut off', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    const idp = await localServer(t, (_path, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' })
      res.write('{"issuer": "http://')
      setTimeout(() => res.socket?.destroy(), 20)
    })
    const { app } = await appFor(t, issuer, { ...ES256_ONLY, issuer: idp.url })
    assertUnavailable(t, await me(app, await issuer.token({ claims: { iss: idp.url } })))
  })
  await t.test('stalled', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    // Headers at once, then silence until the server is closed: the timeout must cover the body too.
    const idp = await localServer(t, (_path, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"issuer": "http://')
    })
    const { app } = await appFor(t, issuer, { ...ES256_ONLY, issuer: idp.url, httpTimeout: 0.2 })
    const res = await within(5000, me(app, await issuer.token({ claims: { iss: idp.url } })))
    t.not(res, STILL_WAITING, 'the request does not hang on a stalled body')
    if (typeof res !== 'string') assertUnavailable(t, res)
  })
})

t.test('the IdP down at start: ready resolves, public routes answer, protected ones get 503 until it is back', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  issuer.fault = 'down'
  const clock = new FakeClock()
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, jwksCooldown: 0.2, [kClock]: clock })
  const token = await issuer.token()

  const pub = await app.inject('/public')
  t.equal(pub.statusCode, 200)
  t.same(pub.json(), { public: true, user: null })
  t.equal((await app.inject('/health')).statusCode, 200)
  assertUnavailable(t, await me(app, token))

  issuer.fault = 'none'
  await clock.advance(199)
  assertUnavailable(t, await me(app, token)) // within the cooldown of the failed fetch
  t.equal(issuer.requests.discovery, 1, 'not fetched again within the cooldown')
  await clock.advance(1) // the cooldown is over
  const res = await me(app, token)
  t.equal(res.statusCode, 200, 'recovers without a restart')
  t.equal(res.json().sub, '263785111111111111')
})

t.test('within the cooldown after a failure, requests get 503 without fetching again', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  issuer.fault = 'error'
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, jwksCooldown: 10 })
  const token = await issuer.token()

  assertUnavailable(t, await me(app, token)) // waits for the failed warm-up fetch
  const seen = { ...issuer.requests }
  t.same(seen, { discovery: 1, jwks: 0 })

  issuer.fault = 'none' // the IdP is back, but the cooldown has not passed
  const again = await Promise.all(Array.from({ length: 10 }, () => me(app, token)))
  for (const res of again) assertUnavailable(t, res)
  const retryAfter = Number(again[0]?.headers['retry-after'])
  t.ok(retryAfter > 1 && retryAfter <= 10, `Retry-After (${retryAfter}) tells the time left of the 10 s cooldown`)
  t.same(issuer.requests, seen, 'no fetch within the cooldown')
})

// After one failed fetch and the cooldown, only what failed is fetched again:
// a kept jwks_uri, or a discovery document that was never cached.
for (const c of [
  { name: 'a failing JWKS endpoint does not cause discovery to be fetched again', faultOn: 'jwks', discovery: 1, why: 'the jwks_uri is kept', jwks: 2 },
  { name: 'a failed discovery is retried after the cooldown, not cached', faultOn: 'discovery', discovery: 2, why: 'discovery is fetched again', jwks: 1 }
] as const) {
  t.test(c.name, async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    issuer.fault = 'error'
    issuer.faultOn = c.faultOn
    const clock = new FakeClock()
    const { app } = await appFor(t, issuer, { ...ES256_ONLY, jwksCooldown: 0.2, [kClock]: clock })
    const token = await issuer.token()

    assertUnavailable(t, await me(app, token))
    issuer.fault = 'none'
    await clock.advance(300)
    t.equal((await me(app, token)).statusCode, 200)
    t.equal(issuer.requests.discovery, c.discovery, c.why)
    t.equal(issuer.requests.jwks, c.jwks)
  })
}

t.test('repeated failures of one kind warn once and then log at debug; a new kind warns again', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  issuer.fault = 'error'
  const clock = new FakeClock()
  const { app, logs } = await appFor(t, issuer, { ...ES256_ONLY, jwksCooldown: 0.2, [kClock]: clock }, { logs: true })
  const token = await issuer.token()
  const failures = () => logs().filter((l) => /could not fetch signing keys/.test(l.msg))

  assertUnavailable(t, await me(app, token))
  await clock.advance(300)
  assertUnavailable(t, await me(app, token))
  t.ok(issuer.requests.discovery >= 2, 'fetched again after the cooldown')
  t.same(failures().map((l) => l.level), Array(issuer.requests.discovery).fill(40).fill(20, 1), 'warn, then debug')

  issuer.fault = 'garbage'
  await clock.advance(300)
  assertUnavailable(t, await me(app, token))
  const last = failures().filter((l) => l.level >= 40).at(-1)
  t.match(last, { reason: /not JSON/ }, 'another kind of failure is logged loud again')
  t.equal(last?.level, 50, 'at error: a page that is not JSON where discovery should be is a configuration mistake')
})

t.test('50 concurrent requests right after ready share one discovery and one JWKS fetch', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const tokens = await Promise.all(Array.from({ length: 50 }, () => issuer.token()))
  const { app } = await appFor(t, issuer, ES256_ONLY)

  const results = await Promise.all(tokens.map((token) => me(app, token)))
  t.same(results.map((r) => r.statusCode), Array(50).fill(200))
  t.same(issuer.requests, { discovery: 1, jwks: 1 })
})

t.test('50 concurrent cold requests after a failed start share one discovery and one JWKS fetch', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  issuer.fault = 'error'
  const tokens = await Promise.all(Array.from({ length: 50 }, () => issuer.token()))
  const clock = new FakeClock()
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, jwksCooldown: 0.2, [kClock]: clock })
  assertUnavailable(t, await me(app, tokens[0] as string)) // no keys were ever loaded

  issuer.fault = 'none'
  await clock.advance(300)
  issuer.resetCounts()
  const results = await Promise.all(tokens.map((token) => me(app, token)))
  t.same(results.map((r) => r.statusCode), Array(50).fill(200))
  t.same(issuer.requests, { discovery: 1, jwks: 1 })
})

t.test('logs never contain the token, not even at debug level', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  issuer.fault = 'down'
  const clock = new FakeClock()
  const { app, lines } = await appFor(t, issuer, { ...ES256_ONLY, jwksCooldown: 0.2, [kClock]: clock }, { logs: true })
  const stranger = await issuer.addKey('ES256', { publish: false })
  const token = await issuer.token()
  const unknownKid = await issuer.token({ key: stranger })
  const expired = await issuer.token({ claims: { exp: Math.floor(clock.wallSeconds()) - 60 } })
  const [head, payload, signature] = token.split('.') as [string, string, string]
  const forged = `${head}.${payload}.${expired.split('.')[2]}`

  assertUnavailable(t, await me(app, token))
  issuer.fault = 'none'
  await clock.advance(300)
  t.equal((await me(app, token)).statusCode, 200)
  t.equal((await me(app, forged)).json().code, 'ZITADEL_AUTH_SIGNATURE_INVALID')
  t.equal((await me(app, expired)).json().code, 'ZITADEL_AUTH_TOKEN_EXPIRED')
  t.equal((await clock.throughTimer(() => me(app, unknownKid))).outcome.json().code, 'ZITADEL_AUTH_KEY_UNKNOWN')
  t.equal((await app.inject({ url: '/me', headers: { authorization: `Bearer ${token} trailing` } })).statusCode, 400)

  t.ok(lines.length > 10, 'the requests were logged')
  for (const secret of [token, payload, signature, unknownKid.split('.')[2] as string, expired.split('.')[2] as string]) {
    t.notOk(lines.some((line) => line.includes(secret)), 'no log line holds a token, payload or signature')
  }
})
