import { createHook } from 'node:async_hooks'
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { closeSync, mkdtempSync, open, openSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setImmediate as turn } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { issuerFor, appFor } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'

/*
 * A signature check runs on libuv's thread pool (lib/jws.ts), and a JWKS
 * fetch may take the key away while it runs (lib/jwks.ts withKey). Such a
 * key vouches for nothing: the request is judged against the key set as it
 * is once the check is back, and nothing lands in the token cache.
 *
 * To hold the check on the pool while the fetch runs, every pool thread is
 * kept busy opening a FIFO that no one writes to yet; the check then waits
 * its turn, and the test lets the pool go once the fetch is done. No timing:
 * each step waits for the one before it.
 */

/** Every thread of libuv's pool busy until `release()`. */
function holdThreadPool (t: Test): { release: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fza-pool-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const fifo = join(dir, 'hold')
  execFileSync('mkfifo', [fifo])
  const threads = Number(process.env.UV_THREADPOOL_SIZE) || 4
  // Opening a FIFO for reading blocks (on a pool thread) until a writer opens it.
  for (let i = 0; i < threads; i++) open(fifo, 'r', (err, fd) => { if (err === null) closeSync(fd) })
  let released = false
  const release = () => {
    if (released) return
    released = true
    closeSync(openSync(fifo, 'w'))
  }
  t.teardown(release)
  return { release }
}

/** Counts the crypto jobs (signature checks) started while it is on. */
function countSignatureChecks (t: Test): { readonly started: number } {
  const seen = { started: 0 }
  const hook = createHook({ init (_id, type) { if (type === 'SIGNREQUEST') seen.started++ } }).enable()
  t.teardown(() => { hook.disable() })
  return seen
}

t.test('a key the issuer drops while a signature check is on the thread pool vouches for nothing', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const clock = new FakeClock()
  const { me } = await appFor(t, issuer, { jwksCacheTtl: 60, [kClock]: clock })

  t.equal((await me(await issuer.token())).statusCode, 200, 'the keys are loaded')
  const token = await issuer.token({ claims: { jti: randomUUID() } })
  await issuer.rotate()

  const pool = holdThreadPool(t)
  const checks = countSignatureChecks(t)
  const answer = me(token)
  for (let i = 0; i < 1000 && checks.started === 0; i++) await turn()
  t.equal(checks.started, 1, 'the signature check waits on the pool')

  // The scheduled refresh: the new key set no longer has the token's key.
  await clock.advance(60_000)
  t.equal(issuer.requests.jwks, 2, 'the key set was replaced while the check waited')
  pool.release()

  const res = await answer
  t.equal(res.statusCode, 401, 'refused once the check is back')
  t.equal(res.json().code, 'ZITADEL_AUTH_KEY_UNKNOWN', 'as a token of a key the issuer no longer publishes')
  // Not cached: the next request looks the kid up (after the wait an unknown kid gets) and is refused too.
  const { outcome: again } = await clock.throughTimer(() => me(token))
  t.equal(again.statusCode, 401, 'and not cached: the next request is refused too')
})
