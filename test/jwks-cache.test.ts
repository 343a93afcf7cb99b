import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import zitadelAuth, { type ZitadelAuthOptions } from '../lib/index.js'
import { parseMaxAge } from '../lib/jwks.js'
import { appFor, bearer, ES256_ONLY, FAST, issuerFor, type TestOptions } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'
import { STILL_WAITING, within } from './helpers/within.js'
import type { TestIssuer } from '../fixtures/issuer.js'

/*
 * The key cache (lib/jwks.ts) through real apps and a real issuer: rotation,
 * unknown key ids, cooldowns, stale-if-error, Cache-Control and shutdown.
 * Time is a FakeClock (test/helpers/clock.ts) that each test moves itself:
 * cooldowns, refreshes and stale bounds play out in an instant and exactly,
 * against the real issuer over HTTP. The assertions are about outcomes and
 * request counts, never about how long something took.
 *
 * The issuers sign with ES256: its keys are generated in a millisecond (RSA
 * takes a quarter of a second, which would blur the timelines below).
 */

function me (app: FastifyInstance, token: string) {
  return app.inject({ url: '/me', headers: bearer(token) })
}

/** Sends a valid token and checks it passes; once it did, the keys were loaded. */
async function accepted (t: Test, app: FastifyInstance, token: string, message = 'the token is accepted'): Promise<void> {
  const res = await me(app, token)
  t.equal(res.statusCode, 200, message)
}

/** An ES256-only appFor app on a FakeClock of its own; `start` is the clock's time when the app was ready. */
async function clockedAppFor (t: Test, issuer: TestIssuer, options: TestOptions = {}) {
  const clock = new FakeClock()
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, ...options, [kClock]: clock })
  return { app, clock, start: clock.now() }
}

function assertKeyUnknown (t: Test, res: LightMyRequestResponse, message = 'refused: unknown key'): void {
  t.equal(res.statusCode, 401, message)
  t.equal(res.json().code, 'ZITADEL_AUTH_KEY_UNKNOWN')
  t.match(res.headers['www-authenticate'], /^Bearer realm="api", error="invalid_token"/)
}

function assertUnavailable (t: Test, res: LightMyRequestResponse, message = 'status 503'): void {
  t.equal(res.statusCode, 503, message)
  t.equal(res.json().code, 'ZITADEL_AUTH_IDP_UNAVAILABLE')
  t.match(res.headers['retry-after'], /^[1-9]\d*$/, 'Retry-After is a whole number of seconds, at least 1')
}

t.test('parseMaxAge reads Cache-Control', async (t) => {
  t.equal(parseMaxAge(null), undefined, 'no header')
  t.equal(parseMaxAge('max-age=300'), 300)
  t.equal(parseMaxAge('public, max-age=300, must-revalidate'), 300, "Zitadel's web keys header")
  t.equal(parseMaxAge('MAX-AGE=5'), 5, 'directives are case-insensitive')
  t.equal(parseMaxAge('max-age="60"'), 60, 'a quoted value')
  t.equal(parseMaxAge('max-age=0'), 0)
  t.equal(parseMaxAge('no-store'), undefined, 'no-store (Zitadel\'s legacy keys): refresh at jwksCacheTtl, not every cooldown')
  t.equal(parseMaxAge('no-cache'), undefined)
  t.equal(parseMaxAge('max-age=300, no-cache'), 300, 'no-cache does not hide max-age')
  t.equal(parseMaxAge('s-maxage=300'), undefined, 's-maxage is for shared caches')
  t.equal(parseMaxAge('max-age=-1'), undefined)
  t.equal(parseMaxAge('max-age=soon'), undefined)
  t.equal(parseMaxAge('garbage, ;;; ='), undefined)
  t.equal(parseMaxAge(''), undefined)
})

// Early in the file: the issuer's 3 s answer timer then runs out while later tests run.
t.test('close during an in-flight slow fetch: close resolves and the waiting request ends with 503', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  issuer.fault = 'slow'
  issuer.slowMs = 3000
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, httpTimeout: 10 })

  const pending = me(app, await issuer.token()) // waits for the warm-up fetch
  await sleep(50)
  // The fetch would take 3 s: only an abort ends it sooner.
  const outcome = await within(2000, Promise.all([app.close(), pending]).then(([, res]) => res))
  t.not(outcome, STILL_WAITING, 'close aborts the fetch in flight')
  if (typeof outcome !== 'string') assertUnavailable(t, outcome)
})

t.test('keys fetched before ready (zitadel.verify) are not fetched again by the warm-up', async (t) => {
  for (const settled of [false, true]) {
    await t.test(settled ? 'the early fetch has finished' : 'the early fetch is still in flight', async (t) => {
      const issuer = await issuerFor(t, 'ES256')
      const app = Fastify()
      t.teardown(() => app.close())
      await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, ...FAST, ...ES256_ONLY })
      app.get('/me', { preHandler: app.zitadel.requireAuth() }, async (req) => req.user)
      const token = await issuer.token()

      // A token checked outside HTTP (a queue consumer) before the server is ready.
      const early = app.zitadel.verify(token)
      if (settled) t.equal((await early).sub, '263785111111111111')
      await app.ready()
      t.equal((await early).sub, '263785111111111111')
      await accepted(t, app, token)
      t.same(issuer.requests, { discovery: 1, jwks: 1 })
    })
  }
})

t.test('key rotation: the new key is fetched on first sight, the old one works until the scheduled refresh', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const { app, clock, start } = await clockedAppFor(t, issuer, { jwksCacheTtl: 1.5, jwksCooldown: 0.2 })
  const oldToken = await issuer.token()
  await accepted(t, app, oldToken)

  await clock.advance(250)
  const newKey = await issuer.rotate()
  t.notOk(issuer.keys[0]?.published, 'rotate() unpublished the old key')
  const before = issuer.requests.jwks
  const newToken = await issuer.token({ key: newKey })
  const { outcome, delay } = await clock.throughTimer(() => me(app, newToken))
  t.equal(outcome.statusCode, 200, 'a token of the new key is accepted')
  t.equal(delay, 200, 'after the look-up delay, min(1 s, jwksCooldown)')
  t.equal(issuer.requests.jwks, before + 1, 'its unknown kid caused one fetch')
  await accepted(t, app, oldToken, 'the fetch for the new kid did not drop the old key')

  await clock.advanceTo(start + 1500 - 1)
  await accepted(t, app, oldToken, 'the old key still works just before the scheduled refresh')
  await clock.advanceTo(start + 1500) // the scheduled refresh replaces the set
  const { outcome: refused, delay: lookup } = await clock.throughTimer(() => me(app, oldToken))
  assertKeyUnknown(t, refused, 'the old key is refused after the scheduled refresh')
  t.equal(lookup, 200, 'its kid, unknown now, was looked up once more')
  await accepted(t, app, newToken, 'the new key still works')
})

t.test('an unknown kid is looked up once, a moment after it is first seen, so a key published just after the request started is found', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  // The look-up waits min(1 s, jwksCooldown) = 0.25 s.
  const { app, clock } = await clockedAppFor(t, issuer, { jwksCooldown: 0.25 })
  await accepted(t, app, await issuer.token())
  const never = await issuer.addKey('ES256', { publish: false })
  const late = await issuer.addKey('ES256', { publish: false })

  await clock.advance(300)
  let before = issuer.requests.jwks
  const { outcome, delay } = await clock.throughTimer(async () => me(app, await issuer.token({ key: never })))
  assertKeyUnknown(t, outcome)
  t.equal(delay, 250, 'the look-up waits 0.25 s')
  t.equal(issuer.requests.jwks, before + 1, 'an unknown kid is looked up once, not more')

  await clock.advance(300)
  before = issuer.requests.jwks
  const token = await issuer.token({ key: late })
  const lookup = clock.nextTimer()
  const pending = me(app, token)
  await lookup
  await clock.advance(100)
  late.published = true
  await clock.advance(150)
  const res = await pending
  t.equal(res.statusCode, 200, 'the key published 100 ms after the request arrived is found by the one look-up')
  t.equal(issuer.requests.jwks, before + 1)
})

t.test('a flood of random unknown kids: all 401 KEY_UNKNOWN, one JWKS fetch per cooldown', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const { app, clock } = await clockedAppFor(t, issuer, { jwksCooldown: 1 })
  await accepted(t, app, await issuer.token())
  await clock.advance(1050)
  const warm = issuer.requests.jwks
  const stranger = await issuer.addKey('ES256', { publish: false })
  const tokens = await Promise.all(Array.from({ length: 200 }, () => issuer.token({ key: stranger, header: { kid: randomUUID() } })))

  const { outcome: concurrent } = await clock.throughTimer(() => Promise.all(tokens.map((token) => me(app, token))))
  for (const res of concurrent.slice(0, 3)) assertKeyUnknown(t, res)
  t.same(concurrent.map((r) => r.json().code), Array(200).fill('ZITADEL_AUTH_KEY_UNKNOWN'), 'all 200 concurrent requests refused')
  for (const token of tokens.slice(0, 50)) {
    t.equal((await me(app, token)).json().code, 'ZITADEL_AUTH_KEY_UNKNOWN')
  }
  t.equal(issuer.requests.jwks - warm, 1, 'one JWKS fetch for 250 unknown kids')
  t.equal(issuer.requests.discovery, 1)
  await clock.advance(999)
  t.equal((await me(app, tokens[0] as string)).json().code, 'ZITADEL_AUTH_KEY_UNKNOWN')
  t.equal(issuer.requests.jwks - warm, 1, 'still one, just before the cooldown ends')
  await clock.advance(1)
  await clock.throughTimer(() => me(app, tokens[1] as string))
  t.equal(issuer.requests.jwks - warm, 2, 'once it has ended, the next unknown kid is looked up')
})

t.test('stale-if-error: while refreshes fail, the last good keys are used and a warning says so', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const clock = new FakeClock()
  const { app, logs } = await appFor(t, issuer, { ...ES256_ONLY, jwksCacheTtl: 0.25, jwksCooldown: 0.2, [kClock]: clock }, { logs: true })
  const token = await issuer.token()
  await accepted(t, app, token)

  issuer.fault = 'error'
  await clock.advance(500) // the refresh at 0.25 s fails, and its retry at 0.45 s
  t.ok(issuer.requests.jwks >= 2, 'the due refresh was tried')
  await accepted(t, app, token, 'the last good keys are still used')
  const warnings = logs().filter((l) => l.level === 40)
  t.equal(warnings.length, 1, 'one warning, repeats go to debug')
  t.match(warnings[0], { msg: /using the last good keys/, usingStaleKeys: true, reason: /HTTP 500/ })
  t.ok(Number(warnings[0]?.staleKeysUsableForSeconds) > 3000, 'it says how long the keys stay usable (jwksMaxStale 3600)')

  issuer.fault = 'none'
  const failed = issuer.requests.jwks
  await clock.advance(300)
  t.ok(issuer.requests.jwks > failed, 'the background retry goes on without requests')
  await accepted(t, app, token)
})

t.test('past jwksMaxStale the last good keys are no longer used: 503, then recovery', async (t) => {
  await t.test('jwksMaxStale 0.3', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    const { app, clock, start } = await clockedAppFor(t, issuer, { jwksCacheTtl: 0.25, jwksCooldown: 0.2, jwksMaxStale: 0.3 })
    const token = await issuer.token()
    await accepted(t, app, token)

    issuer.fault = 'error'
    await clock.advanceTo(start + 400)
    await accepted(t, app, token, 'past the ttl, within the stale bound: still accepted')
    await clock.advanceTo(start + 250 + 300 - 1)
    await accepted(t, app, token, 'just before the stale bound: still accepted')
    await clock.advanceTo(start + 250 + 300)
    assertUnavailable(t, await me(app, token), 'past the stale bound: 503')

    issuer.fault = 'none'
    await clock.advance(300)
    await accepted(t, app, token, 'recovers once the IdP answers')
  })
  await t.test('jwksMaxStale 0', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    const { app, clock, start } = await clockedAppFor(t, issuer, { jwksCacheTtl: 0.25, jwksCooldown: 0.2, jwksMaxStale: 0 })
    const token = await issuer.token()
    await accepted(t, app, token)

    issuer.fault = 'error'
    await clock.advanceTo(start + 400)
    assertUnavailable(t, await me(app, token), 'no stale keys at all: 503 as soon as the refresh fails')
  })
})

t.test('an empty JWKS', async (t) => {
  await t.test('on refresh: the old keys are kept', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    const { app, clock, start } = await clockedAppFor(t, issuer, { jwksCacheTtl: 0.25, jwksCooldown: 0.2 })
    const token = await issuer.token()
    await accepted(t, app, token)

    issuer.fault = 'empty'
    issuer.faultOn = 'jwks'
    await clock.advanceTo(start + 450)
    t.ok(issuer.requests.jwks >= 2, 'the empty set was fetched')
    await accepted(t, app, token, 'the empty set did not replace the keys')
  })
  await t.test('at first load: 503', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    issuer.fault = 'empty'
    const { app } = await appFor(t, issuer, ES256_ONLY)
    assertUnavailable(t, await me(app, await issuer.token()))
  })
  await t.test('of unusable keys only counts as empty: 503', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    const key = issuer.keys[0]
    if (key === undefined) throw new Error('the issuer has no key')
    key.published = false
    issuer.extraJwks = [
      { kty: 'oct', kid: 'symmetric', k: 'c2VjcmV0' },
      { ...key.publicJwk, kid: undefined },
      { ...key.publicJwk, use: 'enc' },
      'not a key'
    ]
    const { app } = await appFor(t, issuer, ES256_ONLY)
    assertUnavailable(t, await me(app, await issuer.token()))
  })
  await t.test('without a "keys" array: 503', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    // The discovery document is JSON, but not a key set.
    issuer.discovery = { jwks_uri: `${issuer.url}/.well-known/openid-configuration` }
    const { app } = await appFor(t, issuer, ES256_ONLY)
    assertUnavailable(t, await me(app, await issuer.token()))
  })
  await t.test('that is JSON null: 503', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    // The test issuer cannot send `null`: a bare server on 127.0.0.1 stands in for the IdP.
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(req.url === '/keys' ? 'null' : JSON.stringify({ issuer: url, jwks_uri: `${url}/keys` }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const { app } = await appFor(t, issuer, { ...ES256_ONLY, issuer: url })
    assertUnavailable(t, await me(app, await issuer.token({ claims: { iss: url } })))
  })
})

t.test('unusable keys are skipped, and a repeated kid keeps the first key', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const key = issuer.keys[0]
  if (key === undefined) throw new Error('the issuer has no key')
  const impostor = await issuer.addKey('ES256', { publish: false })
  issuer.extraJwks = [
    { kty: 'oct', kid: 'symmetric', k: 'c2VjcmV0' },
    { ...impostor.publicJwk, kid: key.kid }
  ]
  const { app, logs } = await appFor(t, issuer, ES256_ONLY, { logs: true })

  await accepted(t, app, await issuer.token(), 'the usable key of the set is used')
  const forged = await issuer.token({ key: impostor, header: { kid: key.kid } })
  const res = await me(app, forged)
  t.equal(res.statusCode, 401)
  t.equal(res.json().code, 'ZITADEL_AUTH_SIGNATURE_INVALID', 'the second key under the same kid is not used')
  t.ok(logs().some((l) => l.level === 20 && /skipped a key/.test(l.msg) && l.reason === 'unsupported kty'), 'the skipped key is logged at debug')
})

t.test('one malformed entry does not throw away the rest of the key set', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  // An `alg` that cannot be turned into a string (its toString is not a function):
  // the entry is unusable and should be skipped like any other bad entry.
  issuer.extraJwks = [{ kty: 'EC', kid: 'odd-alg', crv: 'P-256', alg: { toString: 1 } }]
  const { app } = await appFor(t, issuer, ES256_ONLY)

  await accepted(t, app, await issuer.token(), 'the good key of the set is used')
})

t.test('keys no longer published are refused after the next successful scheduled refresh, not earlier', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const [keyA] = issuer.keys
  if (keyA === undefined) throw new Error('the issuer has no key')
  const keyB = await issuer.addKey('ES256')
  const { app, clock, start } = await clockedAppFor(t, issuer, { jwksCacheTtl: 0.6, jwksCooldown: 0.2 })
  const tokenA = await issuer.token({ key: keyA })
  const tokenB = await issuer.token({ key: keyB })
  await accepted(t, app, tokenA)

  keyA.published = false
  await clock.advance(250)
  const stranger = await issuer.addKey('ES256', { publish: false })
  const before = issuer.requests.jwks
  assertKeyUnknown(t, (await clock.throughTimer(async () => me(app, await issuer.token({ key: stranger })))).outcome)
  t.equal(issuer.requests.jwks, before + 1, 'the unknown kid caused a fetch of a set without A')
  await accepted(t, app, tokenA, 'that fetch only added keys: A is still accepted')

  issuer.fault = 'error'
  await clock.advanceTo(start + 600 + 100)
  t.ok(issuer.requests.jwks >= before + 2, 'the scheduled refresh was tried')
  await accepted(t, app, tokenA, 'a failed refresh drops nothing')

  issuer.fault = 'none'
  await clock.advance(300) // the background retry, 0.2 s after the failed refresh, succeeds
  assertKeyUnknown(t, (await clock.throughTimer(() => me(app, tokenA))).outcome, 'A is refused after the successful refresh')
  await accepted(t, app, tokenB, 'B, still published, is kept')
})

t.test('a scheduled refresh that falls due during an unknown-kid fetch still happens', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const [keyA] = issuer.keys
  if (keyA === undefined) throw new Error('the issuer has no key')
  const { app, clock, start } = await clockedAppFor(t, issuer, { jwksCacheTtl: 0.5, jwksCooldown: 0.2, httpTimeout: 5 })
  const tokenA = await issuer.token({ key: keyA })
  await accepted(t, app, tokenA)

  await clock.advance(220)
  const keyB = await issuer.rotate() // A is no longer published
  // The fetch for B's kid starts 0.2 s after B is first seen (0.42 s) and is slow:
  // it is still in flight when the refresh falls due at 0.5 s.
  issuer.fault = 'slow'
  issuer.faultOn = 'jwks'
  issuer.slowMs = 500
  const tokenB = await issuer.token({ key: keyB })
  const lookup = clock.nextTimer()
  let answered = false
  const pending = me(app, tokenB).finally(() => { answered = true })
  await clock.advance((await lookup).delay) // the look-up starts
  t.notOk(answered, 'B is still being fetched when the refresh falls due')
  const due = clock.advanceTo(start + 500) // the refresh falls due, and waits for the fetch for B
  t.equal((await pending).statusCode, 200, 'B is found')
  issuer.fault = 'none'

  // The overdue refresh starts as soon as the fetch for B ends, maybe still slow (0.5 s).
  await due
  t.ok(issuer.requests.jwks >= 3, `a refresh followed the fetch for B (JWKS requests: ${issuer.requests.jwks})`)
  assertKeyUnknown(t, await me(app, tokenA), 'A, unpublished, is refused once the overdue refresh ran')
})

t.test('an unknown-kid fetch that starts once the key set is due replaces it, and the refresh waiting for it does not fetch again', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const [keyA] = issuer.keys
  if (keyA === undefined) throw new Error('the issuer has no key')
  const { app, clock, start } = await clockedAppFor(t, issuer, { jwksCacheTtl: 0.6, jwksCooldown: 0.3 })
  const tokenA = await issuer.token({ key: keyA })
  await accepted(t, app, tokenA)
  const keyB = await issuer.rotate() // A is no longer published
  const tokenB = await issuer.token({ key: keyB })

  await clock.advanceTo(start + 400) // past the cooldown, before the refresh falls due at 0.6 s
  const before = issuer.requests.jwks
  // B's fetch starts 0.3 s after B is first seen, at 0.7 s: the set is due by then,
  // and the refresh that fell due at 0.6 s waits for it.
  const { outcome, delay } = await clock.throughTimer(() => me(app, tokenB))
  t.equal(outcome.statusCode, 200, 'B is found')
  t.equal(delay, 300)
  t.equal(issuer.requests.jwks, before + 1, 'one fetch: the due refresh that waited for it did not fetch again')
  assertKeyUnknown(t, await me(app, tokenA), 'that fetch replaced the set: A, unpublished, is refused')
})

t.test('Cache-Control on the JWKS shortens the refresh, down to the cooldown, never lengthens it', async (t) => {
  const cases: Array<{ name: string, header: string | undefined, options?: Partial<ZitadelAuthOptions>, check: (n: number) => boolean, expected: string }> = [
    { name: 'no header', header: undefined, check: (n) => n === 1, expected: 'exactly 1 (the 600 s ttl)' },
    { name: 'max-age=0', header: 'max-age=0', check: (n) => n === 7, expected: 'one per 0.2 s cooldown: 7' },
    { name: 'no-store', header: 'no-store', check: (n) => n === 1, expected: 'exactly 1 (the 600 s ttl, not the 0.2 s cooldown)' },
    { name: 'no-cache', header: 'no-cache, no-store, must-revalidate', check: (n) => n === 1, expected: 'exactly 1 (the 600 s ttl)' },
    { name: 'max-age=1', header: 'public, max-age=1, must-revalidate', check: (n) => n === 2, expected: 'one per second: 2' },
    { name: 'max-age=3600 with a 0.3 s ttl', header: 'max-age=3600', options: { jwksCacheTtl: 0.3 }, check: (n) => n === 5, expected: 'one per 0.3 s ttl: 5' }
  ]
  const setups = await Promise.all(cases.map(async (c) => {
    const issuer = await issuerFor(t, 'ES256')
    issuer.cacheControl = c.header
    const { app, clock } = await clockedAppFor(t, issuer, { jwksCacheTtl: 600, jwksCooldown: 0.2, ...c.options })
    await accepted(t, app, await issuer.token(), `${c.name}: the keys are loaded`)
    return { ...c, issuer, clock }
  }))
  await Promise.all(setups.map(({ clock }) => clock.advance(1200)))
  for (const { name, issuer, check, expected } of setups) {
    const n = issuer.requests.jwks
    t.ok(check(n), `${name}: ${n} JWKS requests in 1.2 s, expected ${expected}`)
  }
})

t.test('after close, no further JWKS requests', async (t) => {
  await t.test('the scheduled refresh is cancelled', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    const { app, clock } = await clockedAppFor(t, issuer, { jwksCacheTtl: 0.2, jwksCooldown: 0.2 })
    await accepted(t, app, await issuer.token())
    t.equal(clock.pending, 1, 'the refresh is scheduled')
    await app.close()
    t.equal(clock.pending, 0, 'close cleared its timer')
    const seen = issuer.requests.jwks
    await clock.advance(400) // two ttl
    t.equal(issuer.requests.jwks, seen)
  })
  await t.test('a close during the wait before the look-up of an unknown kid', async (t) => {
    const issuer = await issuerFor(t, 'ES256')
    const { app, clock } = await clockedAppFor(t, issuer, { jwksCooldown: 0.25 })
    await accepted(t, app, await issuer.token())
    const stranger = await issuer.addKey('ES256', { publish: false })
    await clock.advance(300)
    const before = issuer.requests.jwks
    const lookup = clock.nextTimer()
    const pending = me(app, await issuer.token({ key: stranger }))
    await lookup
    await clock.advance(80) // the look-up is 0.25 s after the kid was first seen
    await app.close()
    assertKeyUnknown(t, await pending)
    t.equal(clock.pending, 0, 'close cleared the wait and the refresh timer')
    await clock.advance(250)
    t.equal(issuer.requests.jwks, before, 'the look-up never happened')
  })
})

// ---------------------------------------------------------------------------
// Findings of the review before release (see the commit that added these).

t.test('a failed fetch is not retried for a fresh kid: the failure starts the cooldown', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  issuer.fault = 'error'
  const { app, clock } = await clockedAppFor(t, issuer, { jwksCooldown: 0.2 })
  assertUnavailable(t, await me(app, await issuer.token()), 'the warm-up on ready failed')
  await clock.advance(300) // its cooldown is over
  issuer.resetCounts()
  await t.rejects(app.zitadel.verify(await issuer.token()), { code: 'ZITADEL_AUTH_IDP_UNAVAILABLE' })
  t.equal(issuer.requests.discovery, 1, 'one failed attempt, no second look-up after it')
  issuer.resetCounts()
  assertUnavailable(t, await me(app, await issuer.token()))
  t.equal(issuer.requests.discovery, 0, 'inside the cooldown of that failure: no fetch at all')
})

t.test('an unknown kid while the IdP fails gets 503 (retry later), not 401, even with usable stale keys', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const { app, clock } = await clockedAppFor(t, issuer, { jwksCooldown: 0.2 })
  await accepted(t, app, await issuer.token())
  const rotated = await issuer.addKey('ES256')
  issuer.fault = 'error'
  await clock.advance(250)
  const { outcome: res } = await clock.throughTimer(async () => me(app, await issuer.token({ key: rotated })))
  assertUnavailable(t, res, 'a key rotated in during the outage: 503')
  await accepted(t, app, await issuer.token(), 'known keys keep working meanwhile')

  issuer.fault = 'none'
  await clock.advance(250)
  t.equal((await me(app, await issuer.token({ key: rotated }))).statusCode, 200, 'once the IdP answers, the new key is fetched')
  const stranger = await issuer.addKey('ES256', { publish: false })
  await clock.advance(250)
  const { outcome: unknown } = await clock.throughTimer(async () => me(app, await issuer.token({ key: stranger })))
  assertKeyUnknown(t, unknown, 'with the IdP healthy an unknown kid is 401 again')
})

t.test('a jwksCacheTtl below the cooldown refreshes at the cooldown, so keys never lapse while the IdP is healthy', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const { app, clock, start } = await clockedAppFor(t, issuer, { jwksCacheTtl: 0.1, jwksCooldown: 0.4, jwksMaxStale: 0 })
  const token = await issuer.token()
  const stranger = await issuer.addKey('ES256', { publish: false })
  const statuses: number[] = []
  while (clock.now() < start + 1500) {
    statuses.push((await me(app, token)).statusCode)
    // Unknown kids keep starting fetches; they must not starve the scheduled refresh.
    await clock.throughTimer(async () => me(app, await issuer.token({ key: stranger, header: { kid: randomUUID() } })))
    await clock.advance(40)
  }
  t.same([...new Set(statuses)], [200], `every one of ${statuses.length} valid requests is accepted`)
  t.ok(issuer.requests.jwks >= 3, 'the key set was refreshed several times meanwhile')
})

t.test('a failed fetch gives a log reason with the system error code, never remote text', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const token = await issuer.token()
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  const { app, logs } = await appFor(t, issuer, { ...ES256_ONLY, issuer: `http://127.0.0.1:${port}` }, { logs: true })
  assertUnavailable(t, await me(app, token))
  const warn = logs().find((l) => l.level === 40)
  t.match(warn, { reason: 'the request failed (ECONNREFUSED)' }, 'the reason names the system error')
})
