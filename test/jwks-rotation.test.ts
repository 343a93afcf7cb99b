import { randomUUID } from 'node:crypto'
import t from 'tap'
import { appFor, ES256_ONLY, issuerFor } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'

/*
 * A key Zitadel starts signing with at once (an administrator activates a web
 * key; a legacy key is created on demand) must cost no valid request a 401:
 * every request with the new kid waits for one shared fetch, whenever it
 * comes, including just after a scheduled refresh. Only a kid still absent
 * after that fetch is refused, and unknown kids still cost at most one fetch
 * per cooldown. ES256 keys: generated in a millisecond. Refreshes and the
 * wait before the look-up of a new kid pass on a FakeClock
 * (test/helpers/clock.ts).
 */

t.test('a new kid just after a scheduled refresh is fetched and accepted on its first request, with no-store as Zitadel\'s legacy keys send', async (t) => {
  for (const cacheControl of [undefined, 'no-store']) {
    const issuer = await issuerFor(t, 'ES256')
    issuer.cacheControl = cacheControl
    // A refresh every second, and a cooldown as long: the new kid comes well within the cooldown of the refresh.
    const clock = new FakeClock()
    const { me } = await appFor(t, issuer, { ...ES256_ONLY, jwksCacheTtl: 1, jwksCooldown: 1, [kClock]: clock })
    t.equal((await me(await issuer.token())).statusCode, 200, 'the warm-up loaded the keys')
    await clock.advance(1000)
    t.equal(issuer.requests.jwks, 2, 'the warm-up and one scheduled refresh')
    const before = issuer.requests.jwks
    const fresh = await issuer.addKey('ES256')
    const token = await issuer.token({ key: fresh })
    const { outcome: res } = await clock.throughTimer(() => me(token))
    t.equal(res.statusCode, 200, `${String(cacheControl)}: accepted on its first request`)
    t.equal(issuer.requests.jwks - before, 1, `${String(cacheControl)}: one fetch`)
  }
})

t.test('a sudden switch to a new key under concurrent load: every request waits for the one fetch and passes', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const clock = new FakeClock()
  const { me } = await appFor(t, issuer, { ...ES256_ONLY, jwksCooldown: 10, [kClock]: clock })
  const old = await issuer.token()
  t.equal((await me(old)).statusCode, 200)
  const before = issuer.requests.jwks
  const fresh = await issuer.addKey('ES256')
  const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => issuer.token({ key: fresh, claims: { jti: `new-${i}` } })))
  // 400 requests at once, each of the 50 tokens eight times, old tokens among them.
  const { outcome } = await clock.throughTimer(() => Promise.all(Array.from({ length: 400 }, (_, i) => me(i % 10 === 0 ? old : tokens[i % 50] as string))))
  const statuses = outcome.map((res) => res.statusCode)
  t.same(statuses.filter((s) => s !== 200), [], 'all 400 answered 200')
  t.equal(issuer.requests.jwks - before, 1, 'after one JWKS fetch')
})

t.test('a kid still absent after its fetch is refused, and a flood of unknown kids costs one fetch per cooldown', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const clock = new FakeClock()
  const { me } = await appFor(t, issuer, { ...ES256_ONLY, jwksCooldown: 10, [kClock]: clock })
  t.equal((await me(await issuer.token())).statusCode, 200)
  const before = issuer.requests.jwks
  const stranger = await issuer.addKey('ES256', { publish: false })
  const flood = await Promise.all(Array.from({ length: 100 }, () => issuer.token({ key: stranger, header: { kid: randomUUID() } })))
  const { outcome } = await clock.throughTimer(() => Promise.all(flood.map((token) => me(token))))
  const codes = outcome.map((res) => res.json().code)
  t.same([...new Set(codes)], ['ZITADEL_AUTH_KEY_UNKNOWN'], 'every unknown kid: 401 KEY_UNKNOWN')
  t.equal(issuer.requests.jwks - before, 1, 'one fetch for 100 unknown kids')
  // Within the cooldown, a key published later is not looked for yet: the bound holds.
  const late = await issuer.addKey('ES256')
  t.equal((await me(await issuer.token({ key: late }))).json().code, 'ZITADEL_AUTH_KEY_UNKNOWN', 'within the cooldown: refused without a fetch')
  t.equal(issuer.requests.jwks - before, 1, 'still one fetch')
})
