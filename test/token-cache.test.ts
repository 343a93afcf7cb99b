import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import type { ZitadelUser } from '../lib/index.js'
import { resolveOptions } from '../lib/options.js'
import { TokenCache } from '../lib/token-cache.js'
import { appFor, bearer, ES256_ONLY, issuerFor, type TestOptions } from './helpers/app.js'
import { accepted, refused } from './helpers/assertions.js'
import { FakeClock, kClock } from './helpers/clock.js'
import { CLIENT_ID, SUB, type IssuerKey, type TestIssuer } from '../fixtures/issuer.js'

/*
 * The verified-token cache: lib/token-cache.ts on its own, then through real
 * apps and a real issuer (lib/verify.ts owns the cache, lib/jwks.ts reports
 * keys that went away). A cache hit must never accept what a full check would
 * refuse. Every rule is checked with the cache on and, where it applies, off
 * (tokenCacheSize 0), which must give the same answers.
 *
 * Which answers came from the cache is seen through `app.zitadel.verify()`:
 * a hit returns the very user object of the first check, a miss a new one.
 * Time-based tests run the apps on a FakeClock (test/helpers/clock.ts): they
 * mint tokens whose exp is a second or two ahead and move the clock to it,
 * and refreshes happen when the clock passes them.
 *
 * The issuers sign with ES256 and the apps accept ES256 alone: its keys are
 * generated in a millisecond, and the cache does not depend on the algorithm.
 */

const CACHE_ON = { tokenCacheSize: 10_000 } as const
const CACHE_OFF = { tokenCacheSize: 0 } as const
const CACHE_MODES = [['cache on', CACHE_ON], ['cache off', CACHE_OFF]] as const

/** A route whose handler tries to change request.user in every way, and answers which tries a TypeError refused. */
function mutateRoute (issuer: TestIssuer) {
  return (app: FastifyInstance) => {
    app.get('/mutate', { preHandler: app.zitadel.requireAuth() }, async (req) => {
      const user = req.user as ZitadelUser
      const attempts: Record<string, () => void> = {
        'user.sub': () => { (user as unknown as Record<string, unknown>).sub = 'someone-else' },
        'a new field on the user': () => { (user as unknown as Record<string, unknown>).extra = 1 },
        'claims.sub': () => { user.claims.sub = 'someone-else' },
        'a new claim': () => { (user.claims as Record<string, unknown>).added = true },
        'an entry of aud': () => { (user.claims.aud as string[])[0] = 'evil' },
        'a push onto aud': () => { (user.claims.aud as string[]).push('evil') },
        'the role claim': () => { (user.claims[`urn:zitadel:iam:org:project:${issuer.projectId}:roles`] as Record<string, unknown>).owner = {} }
      }
      const refused: string[] = []
      for (const [name, attempt] of Object.entries(attempts)) {
        try {
          attempt()
        } catch (err) {
          if (err instanceof TypeError) refused.push(name)
        }
      }
      return { refused, user }
    })
  }
}

function me (app: FastifyInstance, token: string): Promise<LightMyRequestResponse> {
  return app.inject({ url: '/me', headers: bearer(token) })
}

/** The clock's wall time, in whole seconds since the epoch. */
function wallSeconds (clock: FakeClock): number {
  return Math.floor(clock.wallSeconds())
}

/** Moves the clock past `count` more scheduled refreshes (every `ttl` ms) and checks the issuer served them. */
async function refreshes (t: Test, clock: FakeClock, issuer: TestIssuer, ttl: number, count: number): Promise<void> {
  const target = issuer.requests.jwks + count
  await clock.advance(ttl * count)
  t.equal(issuer.requests.jwks, target, `${count} scheduled refresh${count === 1 ? '' : 'es'}`)
}

/**
 * An ES256 issuer, an app on a FakeClock of its own, and a token that app
 * has accepted twice: with the cache on, the second answer came from it.
 */
async function withCachedToken (t: Test, mode: string, options: TestOptions) {
  const issuer = await issuerFor(t, 'ES256')
  const clock = new FakeClock()
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, ...options, [kClock]: clock })
  const token = await issuer.token()
  accepted(t, await me(app, token), `${mode}: accepted`)
  accepted(t, await me(app, token), `${mode}: accepted again`)
  return { issuer, clock, app, token }
}

/** A request whose kid is not at hand: time runs on through the look-up delay, if there is one. */
async function meThroughLookup (clock: FakeClock, app: FastifyInstance, token: string): Promise<LightMyRequestResponse> {
  return (await clock.throughTimer(() => me(app, token))).outcome
}

/** A distinct random token-like string of `length` base64url characters, ending in `ending` when given. */
function randomToken (length = 400, ending = ''): string {
  return randomBytes(length).toString('base64url').slice(0, length - ending.length) + ending
}

// ---------------------------------------------------------------------------
// lib/token-cache.ts

t.test('TokenCache: finds exactly the token it was given, nothing else', async (t) => {
  const cache = new TokenCache<string>(10)
  const token = randomToken()
  cache.set(token, 'value')
  t.equal(cache.get(token), 'value', 'the same token')
  t.equal(cache.get(token.split('').join('')), 'value', 'an equal string built separately (as each request brings)')
  t.equal(cache.get(`${token[0] === 'x' ? 'w' : 'x'}${token.slice(1)}`), undefined, 'one character changed at the start')
  const other = token[100] === 'y' ? 'z' : 'y' // a random token may hold 'y' there
  t.equal(cache.get(`${token.slice(0, 100)}${other}${token.slice(101)}`), undefined, 'one character changed in the middle')
  t.equal(cache.get(`a${token}`), undefined, 'a character added in front (same ending)')
  t.equal(cache.get(token.slice(1)), undefined, 'a character removed in front (same ending)')
  t.equal(cache.get(token.slice(-32)), undefined, 'only its ending')
  t.equal(cache.get(''), undefined, 'the empty string')
  t.equal(cache.size, 1)
})

t.test('TokenCache: two tokens with the same ending share a slot; the later replaces the earlier', async (t) => {
  const cache = new TokenCache<number>(10)
  const ending = randomToken(40)
  const first = randomToken(400, ending)
  const second = randomToken(400, ending)
  cache.set(first, 1)
  cache.set(second, 2)
  t.equal(cache.get(second), 2, 'the later token is found')
  t.equal(cache.get(first), undefined, 'the earlier one is gone: a miss, never the other token\'s value')
  t.equal(cache.size, 1)
  cache.set(second, 3)
  t.equal(cache.get(second), 3, 'setting the same token again replaces its value')
  t.equal(cache.size, 1)
  const short = 'abc'
  cache.set(short, 4)
  t.equal(cache.get(short), 4, 'a token shorter than the index key is its own key')
})

t.test('TokenCache: never holds more than maxEntries', async (t) => {
  for (const max of [1, 2, 7, 100]) {
    const cache = new TokenCache<number>(max)
    const tokens = Array.from({ length: max * 3 }, () => randomToken(64))
    let over = 0
    for (let i = 0; i < max * 20; i++) {
      const token = tokens[(i * 7919) % tokens.length] as string
      if (cache.get(token) === undefined) cache.set(token, i)
      if (i % 3 === 0) cache.get(tokens[i % tokens.length] as string)
      if (cache.size > max) over++
    }
    t.equal(over, 0, `max ${max}: never more than ${max} entries`)
    t.equal(cache.size, max, `max ${max}: full after the churn`)
    const found = tokens.filter((token) => cache.get(token) !== undefined).length
    t.equal(found, max, `max ${max}: exactly ${max} tokens can be found`)
  }
})

t.test('TokenCache: the token not used for longest goes first; a token in use stays', async (t) => {
  const cache = new TokenCache<string>(3)
  const [a, b, c, d, e] = Array.from({ length: 5 }, () => randomToken(64)) as [string, string, string, string, string]
  cache.set(a, 'a')
  cache.set(b, 'b')
  cache.set(c, 'c')
  t.equal(cache.get(a), 'a', 'a is used')
  cache.set(d, 'd')
  cache.set(d, 'd') // admitted the second time (see the doorkeeper test)
  t.equal(cache.get(b), undefined, 'b (unused since it was stored) makes room for d')
  t.equal(cache.get(a), 'a', 'a, used since, is kept')
  t.equal(cache.get(c), 'c')
  t.equal(cache.get(d), 'd')
  cache.set(e, 'e')
  cache.set(e, 'e')
  t.equal(cache.size, 3)
  t.equal([a, c, d, e].filter((x) => cache.get(x) !== undefined).length, 3, 'one of the older tokens made room for e')
  t.equal(cache.get(e), 'e')

  const big = new TokenCache<number>(100)
  const hot = randomToken(64)
  big.set(hot, -1)
  let lost = 0
  for (let i = 0; i < 2000; i++) {
    const token = randomToken(64)
    big.set(token, i)
    big.set(token, i)
    if (big.get(hot) === undefined) lost++
  }
  t.equal(lost, 0, 'a token used between every new one is never evicted by 2000 new tokens (each stored twice)')
  t.equal(big.size, 100)
})

t.test('TokenCache: once full, a new token gets in the second time it is stored; one-off tokens evict nothing', async (t) => {
  const cache = new TokenCache<string>(4)
  const held = Array.from({ length: 4 }, () => randomToken(64))
  for (const token of held) t.equal(cache.set(token, token), true, 'stored at once while there is room')
  const newcomer = randomToken(64)
  t.equal(cache.set(newcomer, 'n'), false, 'full: the first time, a new token is not stored')
  t.equal(cache.get(newcomer), undefined)
  t.equal(cache.set(newcomer, 'n'), true, 'the second time it is')
  t.equal(cache.get(newcomer), 'n')
  t.equal(held.filter((token) => cache.get(token) !== undefined).length, 3, 'it took the place of one token')
  t.equal(cache.set(newcomer, 'm'), true, 'a token already held is replaced at once')
  t.equal(cache.get(newcomer), 'm')

  const kept = held.filter((token) => cache.get(token) !== undefined)
  let stored = 0
  for (let i = 0; i < 5000; i++) if (cache.set(randomToken(64), 'x')) stored++
  t.ok(stored <= 2, `5000 tokens stored once each: ${stored} got in (only on a fingerprint collision)`)
  t.equal([newcomer, ...kept].filter((token) => cache.get(token) !== undefined).length, 4 - stored, 'the tokens in use are still there')

  const again = randomToken(64)
  cache.set(again, 'a')
  cache.clear()
  for (const token of held) cache.set(token, token)
  t.equal(cache.set(again, 'a'), false, 'clear forgets what was noted too')
})

t.test('TokenCache with admission: false takes every new token at once, full or not', async (t) => {
  const cache = new TokenCache<string>(2, { admission: false })
  const [a, b, c] = [randomToken(64), randomToken(64), randomToken(64)]
  cache.set(a, 'a')
  cache.set(b, 'b')
  t.equal(cache.set(c, 'c'), true, 'full, and a new token is stored the first time')
  t.equal(cache.get(c), 'c')
  t.equal(cache.size, 2, 'still bounded')
  t.equal([a, b].filter((x) => cache.get(x) !== undefined).length, 1, 'one of the others made room')
})

t.test('TokenCache: clear forgets every token, and the cache fills again', async (t) => {
  const cache = new TokenCache<number>(3)
  const tokens = Array.from({ length: 5 }, () => randomToken(64))
  tokens.forEach((token, i) => cache.set(token, i))
  cache.clear()
  t.equal(cache.size, 0)
  t.equal(tokens.filter((token) => cache.get(token) !== undefined).length, 0, 'nothing is found after clear')
  tokens.forEach((token, i) => cache.set(token, i))
  t.equal(cache.size, 3, 'bounded again after clear')
  t.equal(cache.get(tokens[2] as string), 2)
  t.equal(cache.get(tokens[4] as string), undefined, 'the cache is full: a new token is only noted')
  t.equal(cache.set(tokens[4] as string, 4), true, '... and taken the second time')
  t.equal(cache.get(tokens[4] as string), 4)
})

t.test('TokenCache: maxEntries must be an integer of at least 1', async (t) => {
  for (const max of [0, -1, 1.5, Number.NaN, Infinity]) {
    t.throws(() => new TokenCache(max), RangeError, `refuses ${max}`)
  }
  const one = new TokenCache<string>(1)
  const [a, b] = [randomToken(64), randomToken(64)]
  one.set(a, 'a')
  one.set(b, 'b')
  one.set(b, 'b')
  t.equal(one.get(a), undefined, 'max 1: the second token replaces the first')
  t.equal(one.get(b), 'b')
})

// ---------------------------------------------------------------------------
// the tokenCacheSize option

t.test('tokenCacheSize: an integer from 0 to 1000000, default 10000', async (t) => {
  const base = { issuer: 'https://my-instance.zitadel.cloud', projectId: '263783958406348951' }
  t.equal(resolveOptions(base).tokenCacheSize, 10_000, 'default')
  for (const size of [0, 1, 500, 1_000_000]) {
    t.equal(resolveOptions({ ...base, tokenCacheSize: size }).tokenCacheSize, size, `${size} is kept`)
  }
  for (const size of [-1, 1.5, 1_000_001, Number.NaN, Infinity, '100', null, true]) {
    t.throws(() => resolveOptions({ ...base, tokenCacheSize: size }), {
      code: 'ZITADEL_AUTH_INVALID_OPTION',
      message: /option "tokenCacheSize" must be an integer from 0 \(no cache\) to 1000000/
    }, `refuses ${String(size)}`)
  }
})

// ---------------------------------------------------------------------------
// hits

t.test('a repeated token is answered from the cache, with the user a full check gives', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const { app: on } = await appFor(t, issuer, { ...ES256_ONLY, ...CACHE_ON })
  const { app: off } = await appFor(t, issuer, { ...ES256_ONLY, ...CACHE_OFF })
  const token = await issuer.token({ roles: ['admin'] })

  const first = await on.zitadel.verify(token)
  const again = await on.zitadel.verify(token)
  t.equal(again, first, 'cache on: the second check returns the very same user (a hit)')
  const offFirst = await off.zitadel.verify(token)
  const offAgain = await off.zitadel.verify(token)
  t.not(offAgain, offFirst, 'cache off: each check builds a new user')
  t.strictSame(offAgain, offFirst, '... equal to the first')
  t.strictSame(first, offFirst, 'the cached user equals what a full check gives')
  t.equal(first.token, token)
  t.equal(first.hasRole('admin'), true)

  const miss = await me(on, await issuer.token({ roles: ['admin'] }))
  const hitToken = await issuer.token({ roles: ['admin'] })
  const responses = [await me(on, hitToken), await me(on, hitToken), await me(off, hitToken)]
  for (const res of [miss, ...responses]) accepted(t, res, 'accepted')
  t.strictSame(responses[1]?.json(), responses[0]?.json(), 'request.user of a hit serialises as on the miss before it')
  t.strictSame(responses[2]?.json(), responses[0]?.json(), '... and as with the cache off')
  t.equal(await on.zitadel.verify(hitToken), await on.zitadel.verify(hitToken), 'the hook and verify() share the cache')
})

t.test('request.user is frozen all the way down, on a miss and on a hit, cache on or off', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  for (const [mode, options] of CACHE_MODES) {
    const { app } = await appFor(t, issuer, { ...ES256_ONLY, ...options }, { routes: mutateRoute(issuer) })
    const token = await issuer.token({ roles: ['admin'] })
    const attempts = ['user.sub', 'a new field on the user', 'claims.sub', 'a new claim', 'an entry of aud', 'a push onto aud', 'the role claim']
    for (const round of ['first request', 'second request']) {
      const res = await app.inject({ url: '/mutate', headers: bearer(token) })
      t.equal(res.statusCode, 200, `${mode}, ${round}: status 200`)
      t.strictSame(res.json().refused, attempts, `${mode}, ${round}: every change is refused with a TypeError`)
      t.equal(res.json().user.sub, SUB, `${mode}, ${round}: sub unchanged`)
      t.strictSame(res.json().user.claims.aud, [CLIENT_ID, issuer.projectId], `${mode}, ${round}: aud unchanged`)
      t.strictSame(Object.keys(res.json().user.roles), ['admin'], `${mode}, ${round}: roles unchanged`)
    }
  }
})

// ---------------------------------------------------------------------------
// time

t.test('a cached token is refused once its exp is reached, as with the cache off', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const clock = new FakeClock()
  const { app: on } = await appFor(t, issuer, { ...ES256_ONLY, ...CACHE_ON, [kClock]: clock })
  const { app: off } = await appFor(t, issuer, { ...ES256_ONLY, ...CACHE_OFF, [kClock]: clock })
  const exp = wallSeconds(clock) + 2
  const token = await issuer.token({ claims: { exp } })
  for (const app of [on, off]) {
    accepted(t, await me(app, token), 'accepted before exp')
    accepted(t, await me(app, token), 'accepted again before exp')
  }
  t.equal(await on.zitadel.verify(token), await on.zitadel.verify(token), 'answered from the cache before exp')
  await clock.advanceToWallSeconds(exp - 0.001)
  accepted(t, await me(on, token), 'cache on, a millisecond before exp')
  accepted(t, await me(off, token), 'cache off, a millisecond before exp')
  await clock.advanceToWallSeconds(exp)
  refused(t, await me(on, token), 'TOKEN_EXPIRED', 'cache on, at exp')
  refused(t, await me(off, token), 'TOKEN_EXPIRED', 'cache off, at exp')
  refused(t, await me(on, token), 'TOKEN_EXPIRED', 'cache on, again')
})

t.test('clockTolerance does not extend a cached entry: past exp every request is checked in full', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const clock = new FakeClock()
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, ...CACHE_ON, clockTolerance: 5, [kClock]: clock })
  const exp = wallSeconds(clock) + 2
  const token = await issuer.token({ claims: { exp } })
  const first = await app.zitadel.verify(token)
  t.equal(await app.zitadel.verify(token), first, 'a hit before exp')
  await clock.advanceToWallSeconds(exp)
  const late = await app.zitadel.verify(token)
  t.not(late, first, 'at exp the cached entry is not used')
  t.equal(late.sub, first.sub, 'the full check accepts the token within the tolerance')
  t.not(await app.zitadel.verify(token), late, 'a token accepted only thanks to the tolerance is not cached')
  accepted(t, await me(app, token), 'within the tolerance, the request is accepted')
  await clock.advanceToWallSeconds(exp + 5)
  refused(t, await me(app, token), 'TOKEN_EXPIRED', 'at exp plus the tolerance, refused')
})

t.test('a cached token is refused when the wall clock steps back before its nbf or iat', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const cases = [
    // Without clockTolerance, nbf and iat still get the 5 s every host needs (Zitadel sets both to its own now).
    { name: 'nbf and iat now, no tolerance', options: {}, claims: (now: number) => ({ iat: now, nbf: now }), back: 7 },
    { name: 'iat now, no nbf, no tolerance', options: {}, claims: (now: number) => ({ iat: now, nbf: undefined }), back: 7 },
    { name: 'nbf accepted only thanks to the 5 s', options: {}, claims: (now: number) => ({ iat: now, nbf: now + 4 }), back: 2 },
    { name: 'nbf accepted only thanks to the tolerance', options: { clockTolerance: 10 }, claims: (now: number) => ({ iat: now, nbf: now + 9 }), back: 2 },
    { name: 'iat accepted only thanks to the tolerance', options: { clockTolerance: 10 }, claims: (now: number) => ({ iat: now + 9, nbf: undefined }), back: 2 }
  ]
  for (const c of cases) {
    const clock = new FakeClock()
    const { app } = await appFor(t, issuer, { ...ES256_ONLY, ...CACHE_ON, ...c.options, [kClock]: clock })
    const token = await issuer.token({ claims: c.claims(wallSeconds(clock)) })
    const first = await app.zitadel.verify(token)
    t.equal(await app.zitadel.verify(token), first, `${c.name}: a hit`)
    clock.stepWall(-c.back)
    await t.rejects(app.zitadel.verify(token), { code: 'ZITADEL_AUTH_TOKEN_NOT_YET_VALID' }, `${c.name}: refused once the clock reads ${c.back} s earlier`)
    clock.stepWall(c.back)
    t.equal(await app.zitadel.verify(token), first, `${c.name}: the clock back to normal, the entry is used again`)
  }
})

// ---------------------------------------------------------------------------
// keys

t.test('a token whose key stops being published is refused after the refresh, cache on or off', async (t) => {
  await Promise.all(CACHE_MODES.map(async ([mode, options]) => {
    const { issuer, clock, app, token: old } = await withCachedToken(t, mode, { ...options, jwksCacheTtl: 0.3, jwksCooldown: 0.2 })
    await issuer.rotate()
    const before = issuer.requests.jwks
    await clock.advance(299)
    accepted(t, await me(app, old), `${mode}: accepted until the refresh`)
    await clock.advance(1)
    t.equal(issuer.requests.jwks, before + 1, `${mode}: the scheduled refresh`)
    refused(t, await meThroughLookup(clock, app, old), 'KEY_UNKNOWN', `${mode}: refused right after the refresh that dropped its key`)
    accepted(t, await me(app, await issuer.token({ key: issuer.keys[1] })), `${mode}: a token of the new key is accepted`)
  }))
})

t.test('a key removed while a signature is checked on the thread pool: the token is judged again, refused and not cached', { skip: process.platform === 'win32' ? 'needs a named pipe (mkfifo)' : false }, async (t) => {
  // The signature check runs on libuv's thread pool. To hold it there while a
  // refresh removes its key, every thread of the pool is first kept busy
  // opening a named pipe, which blocks until something opens the other end.
  const dir = mkdtempSync(join(tmpdir(), 'zitadel-pool-'))
  const fifo = join(dir, 'hold')
  execFileSync('mkfifo', [fifo])
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4)

  const issuer = await issuerFor(t, 'ES256')
  const clock = new FakeClock()
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, jwksCacheTtl: 0.3, jwksCooldown: 0.2, [kClock]: clock })
  accepted(t, await me(app, await issuer.token()), 'keys loaded')
  const token = await issuer.token()
  const newKey = await issuer.rotate() // the old key is no longer published
  const fresh = await issuer.token({ key: newKey })

  const held = Array.from({ length: threads }, () => open(fifo, 'r'))
  const pending = me(app, token)
  await refreshes(t, clock, issuer, 300, 1) // the scheduled refresh dropped the key, while the check waits for a thread
  const writer = openSync(fifo, 'w') // releases the pool
  for (const handle of await Promise.all(held)) await handle.close()
  closeSync(writer)

  refused(t, await pending, 'KEY_UNKNOWN', 'the token of the removed key')
  refused(t, await meThroughLookup(clock, app, token), 'KEY_UNKNOWN', 'and it was not cached')
  accepted(t, await me(app, fresh), 'a token of the new key is accepted')
})

t.test('a routine refresh that keeps every key keeps the cache', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const clock = new FakeClock()
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, ...CACHE_ON, jwksCacheTtl: 0.3, jwksCooldown: 0.2, [kClock]: clock })
  const token = await issuer.token()
  const first = await app.zitadel.verify(token)
  await issuer.addKey('ES256')
  await refreshes(t, clock, issuer, 300, 2)
  t.equal(await app.zitadel.verify(token), first, 'still a hit after refreshes that only added a key or changed nothing')
})

/** Gives `key` the key material of a fresh key, keeping its kid (an IdP that reuses a kid). */
async function replaceMaterial (issuer: TestIssuer, key: IssuerKey): Promise<void> {
  const fresh = await issuer.addKey('ES256', { publish: false })
  issuer.keys.splice(issuer.keys.indexOf(fresh), 1)
  key.privateKey = fresh.privateKey
  key.publicJwk = { ...fresh.publicJwk, kid: key.kid }
}

t.test('a kid whose key material changes: cached tokens of the old material are refused (scheduled refresh)', async (t) => {
  await Promise.all(CACHE_MODES.map(async ([mode, options]) => {
    const { issuer, clock, app, token: old } = await withCachedToken(t, mode, { ...options, jwksCacheTtl: 0.3, jwksCooldown: 0.2 })
    const key = issuer.keys[0] as IssuerKey
    await replaceMaterial(issuer, key)
    await refreshes(t, clock, issuer, 300, 1)
    refused(t, await me(app, old), 'SIGNATURE_INVALID', `${mode}: the old material's token is refused after the refresh`)
    accepted(t, await me(app, await issuer.token()), `${mode}: a token of the new material is accepted`)
  }))
})

t.test('a kid whose key material changes: a fetch for an unknown kid empties the cache too', async (t) => {
  await Promise.all(CACHE_MODES.map(async ([mode, options]) => {
    const { issuer, clock, app, token: old } = await withCachedToken(t, mode, { ...options, jwksCacheTtl: 600, jwksCooldown: 0.2 })
    const key = issuer.keys[0] as IssuerKey
    await replaceMaterial(issuer, key)
    const added = await issuer.addKey('ES256')
    await clock.advance(250)
    accepted(t, await meThroughLookup(clock, app, await issuer.token({ key: added })), `${mode}: a new kid is fetched and accepted`)
    refused(t, await me(app, old), 'SIGNATURE_INVALID', `${mode}: that fetch saw the changed material: the old token is refused`)
  }))
})

t.test('past jwksMaxStale a cached token gets 503, as with the cache off; then recovers', async (t) => {
  await Promise.all(CACHE_MODES.map(async ([mode, options]) => {
    const { issuer, clock, app, token } = await withCachedToken(t, mode, { ...options, jwksCacheTtl: 0.25, jwksCooldown: 0.2, jwksMaxStale: 0.3 })
    issuer.fault = 'down'
    await clock.advance(549)
    accepted(t, await me(app, token), `${mode}: accepted on stale keys until jwksMaxStale has passed`)
    await clock.advance(151)
    const res = await me(app, token)
    t.equal(res.statusCode, 503, `${mode}: 503 once the keys may no longer be used`)
    t.equal(res.json().code, 'ZITADEL_AUTH_IDP_UNAVAILABLE', mode)
    t.match(res.headers['retry-after'], /^[1-9]\d*$/, `${mode}: Retry-After`)
    issuer.fault = 'none'
    await clock.advance(250) // the cooldown after the failed fetch
    accepted(t, await me(app, token), `${mode}: accepted again once the keys are back`)
  }))
})

// ---------------------------------------------------------------------------
// failures and bounds

t.test('failures are never cached: a refused token is checked again every time', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const clock = new FakeClock()
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, ...CACHE_ON, [kClock]: clock })
  const unpublished = await issuer.addKey('ES256', { publish: false })
  const token = await issuer.token({ key: unpublished })
  refused(t, await meThroughLookup(clock, app, token), 'KEY_UNKNOWN', 'its key is not published yet')
  unpublished.published = true
  await clock.advance(250) // the cooldown
  accepted(t, await meThroughLookup(clock, app, token), 'the same token is accepted once its key is published: no negative cache')

  const valid = await issuer.token()
  const forged = `${valid.slice(0, valid.lastIndexOf('.'))}.${Buffer.alloc(64, 7).toString('base64url')}`
  accepted(t, await me(app, valid), 'the genuine token is cached')
  refused(t, await me(app, forged), 'SIGNATURE_INVALID', 'its header and payload with another signature')
  refused(t, await me(app, forged), 'SIGNATURE_INVALID', 'again')
  const wrongAudience = await issuer.token({ claims: { aud: 'another-project' } })
  refused(t, await me(app, wrongAudience), 'AUDIENCE_INVALID', 'a token for another API')
  refused(t, await me(app, wrongAudience), 'AUDIENCE_INVALID', 'again')
})

t.test('the cache holds at most tokenCacheSize tokens; tokenCacheSize 0 checks every request', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const tokens = await Promise.all([1, 2, 3].map(() => issuer.token()))
  const [a, b, c] = tokens as [string, string, string]

  const { app: two } = await appFor(t, issuer, { ...ES256_ONLY, tokenCacheSize: 2 })
  const userA = await two.zitadel.verify(a)
  const userB = await two.zitadel.verify(b)
  t.equal(await two.zitadel.verify(a), userA, 'size 2: two tokens are both held')
  const userC = await two.zitadel.verify(c)
  t.not(await two.zitadel.verify(c), userC, 'full: a third token is checked in full again the second time ...')
  t.equal(await two.zitadel.verify(c), await two.zitadel.verify(c), '... and held from then on')
  t.equal(await two.zitadel.verify(a), userA, 'it evicted b, not a, which was used since it was stored')
  t.not(await two.zitadel.verify(b), userB, 'b is checked in full again')

  const { app: one } = await appFor(t, issuer, { ...ES256_ONLY, tokenCacheSize: 1 })
  const first = await one.zitadel.verify(a)
  t.equal(await one.zitadel.verify(a), first, 'size 1: held')
  await one.zitadel.verify(b)
  t.equal(await one.zitadel.verify(a), first, 'size 1: a token seen once does not evict the one held')
  await one.zitadel.verify(b)
  t.not(await one.zitadel.verify(a), first, 'size 1: seen twice, the second token evicted the first, which is checked in full again')

  const { app: off } = await appFor(t, issuer, { ...ES256_ONLY, ...CACHE_OFF })
  const o1 = await off.zitadel.verify(a)
  t.not(await off.zitadel.verify(a), o1, 'size 0: nothing is held')
})

// ---------------------------------------------------------------------------
// the hook's order of checks

t.test('the Authorization header is judged the same for cached tokens', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, ...CACHE_ON })
  const token = await issuer.token()
  accepted(t, await me(app, token), 'cached')
  const cases: Array<[string, string, number, string]> = [
    ['a space inside', `Bearer ${token.slice(0, 20)} ${token.slice(20)}`, 400, 'BAD_REQUEST'],
    ['a character outside b64token after it', `Bearer ${token}!`, 400, 'BAD_REQUEST'],
    ['a b64token character that base64url lacks after it', `Bearer ${token}~`, 401, 'TOKEN_MALFORMED'],
    ['padding after it', `Bearer ${token}==`, 401, 'TOKEN_MALFORMED'],
    ['nothing after the scheme', 'Bearer', 400, 'BAD_REQUEST'],
    ['only spaces after the scheme', 'Bearer    ', 400, 'BAD_REQUEST']
  ]
  for (const [name, authorization, status, code] of cases) {
    const res = await app.inject({ url: '/me', headers: { authorization } })
    t.equal(res.statusCode, status, `${name}: ${status}`)
    t.equal(res.json().code, `ZITADEL_AUTH_${code}`, name)
    t.match(res.headers['www-authenticate'], /^Bearer realm="api", error="invalid_(request|token)"/, `${name}: challenge`)
  }
  for (const authorization of [`bearer ${token}`, `Bearer\t${token}`, `Bearer   ${token}  `]) {
    accepted(t, await app.inject({ url: '/me', headers: { authorization } }), `${JSON.stringify(authorization.slice(0, 9))}…: the cached token`)
  }
  const none = await app.inject({ url: '/public', headers: { authorization: `Basic ${token}` } })
  t.strictSame(none.json(), { public: true, user: null }, 'another scheme is not ours, even with a cached token')
})

t.test('headers are remembered once they pass, never when they fail, and many distinct headers change nothing', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const { app } = await appFor(t, issuer, { ...ES256_ONLY, ...CACHE_ON })
  const untyped = await issuer.token({ header: { typ: 'id+jwt' } })
  refused(t, await me(app, untyped), 'TOKEN_UNSUPPORTED', 'a header with another typ')
  refused(t, await me(app, untyped), 'TOKEN_UNSUPPORTED', 'again')
  // More distinct headers (each with its own extra parameter) than are remembered.
  const tokens = await Promise.all(Array.from({ length: 80 }, (_, i) => issuer.token({ header: { 'x-n': i } })))
  const results = await Promise.all(tokens.map((token) => me(app, token)))
  t.equal(results.filter((res) => res.statusCode === 200).length, 80, 'every one of 80 distinct headers is accepted')
  for (const token of tokens.slice(0, 3)) {
    const forged = `${token.slice(0, token.lastIndexOf('.'))}.${Buffer.alloc(64, 1).toString('base64url')}`
    refused(t, await me(app, forged), 'SIGNATURE_INVALID', 'a remembered header does not vouch for a signature')
  }
  refused(t, await me(app, untyped), 'TOKEN_UNSUPPORTED', 'the header with another typ is still refused')
})
