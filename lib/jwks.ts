import type { FastifyBaseLogger } from 'fastify'
import type { Clock, Timer } from './clock.js'
import type { Discovery } from './discovery.js'
import type { ErrorFactory } from './errors.js'
import { KeyUnknownError } from './errors.js'
import { observeFetch } from './diagnostics.js'
import { getJson, IdpFetchError, type HttpSettings } from './http.js'
import { importVerificationKey, type VerificationKey } from './jws.js'
import type { ResolvedOptions } from './options.js'

/** A JWKS with a handful of keys is 2-5 KiB; 512 KiB leaves room and bounds memory. */
const MAX_JWKS_BYTES = 512 * 1024
/**
 * Zitadel's legacy keys are created when a token is signed, so its JWKS can
 * lag a fresh `kid` by a moment. With good keys at hand, the fetch for an
 * unknown `kid` therefore starts this long after the `kid` is first seen: one fetch that finds a lagging key, where fetching at
 * once and again later would cost two per cooldown in an unknown-kid flood.
 */
const UNKNOWN_KID_DELAY_MS = 1000

/**
 * The issuer's signing keys, fetched lazily and shared by all requests.
 *
 * - One fetch in flight at a time; every request that needs keys awaits it.
 * - A key set is fresh for `jwksCacheTtl` (or the IdP's shorter
 *   `Cache-Control: max-age`, but never less than the cooldown). A timer
 *   replaces it when that time is up, so keys the IdP stopped publishing stop
 *   being accepted. `no-store` and `no-cache` (Zitadel's legacy keys, or web
 *   keys with the cache setting at 0) do not shorten it: new keys are found
 *   through their unknown `kid` instead, not by refetching every few seconds
 *   on every instance of the API.
 * - An unknown `kid` triggers a fetch that only adds keys: it cannot be used
 *   to keep a removed key alive, nor to make one vanish early. Such fetches,
 *   and failed fetches, are spaced by `jwksCooldown`; a successful scheduled
 *   refresh does not start the cooldown, so a key created just after it is
 *   found on its first token.
 * - Stale-if-error: when a refresh fails or returns no usable key, the last
 *   good keys stay in use for at most `jwksMaxStale` more seconds (logged).
 *   Past that, or when no key was ever fetched, requests get 503.
 */
export class JwksCache {
  readonly #opts: ResolvedOptions
  readonly #log: FastifyBaseLogger
  readonly #errors: ErrorFactory
  readonly #clock: Clock
  readonly #http: HttpSettings
  /** The plugin's: aborted when the app closes. */
  readonly #signal: AbortSignal

  readonly #discovery: Discovery
  #keys = new Map<string, VerificationKey>()
  // Times are on the monotonic clock (ms, clock.now()): a wall clock stepped
  // back by NTP or a VM resume must not stretch the cooldown or a key's life.
  /** When the key set should be replaced; 0: nothing fetched yet. */
  #freshUntil = 0
  /** After this, the keys may no longer be used, refreshed or not. */
  #usableUntil = 0
  /** When the last fetch for an unknown kid, or the last failed fetch, started: the cooldown runs from here. */
  #cooldownFrom = -Infinity
  #inflight: Promise<void> | undefined
  #timer: Timer | undefined
  #lastFailure: string | undefined
  /** Wall-clock seconds of the last fetch that worked. */
  #fetchedAt: number | undefined
  readonly #keysRemoved: Array<() => void> = []

  constructor (opts: ResolvedOptions, log: FastifyBaseLogger, errors: ErrorFactory, discovery: Discovery, clock: Clock, http: HttpSettings) {
    this.#opts = opts
    this.#log = log
    this.#errors = errors
    this.#discovery = discovery
    this.#clock = clock
    this.#http = http
    this.#signal = http.signal
    http.signal.addEventListener('abort', () => { clock.clearTimeout(this.#timer) }, { once: true })
  }

  /**
   * Checks a token's signature with the issuer's key for `kid`, then runs
   * `accept` while that key is still the issuer's key for `kid`.
   *
   * - The key is used at once when at hand; otherwise after one fetch
   *   (cooldown permitting), shared with every request that waits for it.
   * - `check` rejects when the signature does not hold. It may wait on
   *   libuv's thread pool, and a fetch may remove or change the key
   *   meanwhile: what a key that went away vouched for no longer counts, so
   *   the check runs again against the key set as it is now.
   * - `accept` runs in the same tick as that last look at the key set: no
   *   fetch can slip in between, so nothing it caches outlives a key change.
   *
   * Every failure comes through the promise: the 401 or 503 the request should get.
   */
  async withKey<T> (kid: string, check: (key: VerificationKey) => Promise<void>, accept: () => T): Promise<T> {
    let key = this.#atHand(kid)
    if (key === undefined) {
      await this.#refreshFor(kid)
      key = this.#lookup(kid)
    }
    for (;;) {
      await check(key)
      if (this.#atHand(kid) === key) return accept()
      key = this.#lookup(kid)
    }
  }

  /** Whether the key set may be used now: fetched, and not past `jwksMaxStale`. */
  usable (): boolean {
    return this.#clock.now() < this.#usableUntil
  }

  /**
   * Calls `listener` whenever a fetch takes away a key that was in use: a
   * replace that no longer finds a `kid`, or any fetch that finds a `kid` with
   * other key material or another `alg`. Whatever those keys vouched for
   * must be checked again.
   */
  onKeysRemoved (listener: () => void): void {
    this.#keysRemoved.push(listener)
  }

  /**
   * Loads the keys (on `ready`), so the first request does not wait. Resolves
   * once that first fetch is over, whatever its outcome; never rejects.
   */
  warm (): Promise<void> {
    if (this.#inflight !== undefined) return this.#inflight
    if (this.#freshUntil !== 0) return Promise.resolve()
    this.#inflight = this.#run(async () => { await this.#fetch('replace') })
    return this.#inflight
  }

  /** The key set as a health route may show it; no key material, nothing a remote sent. */
  status (): KeySetStatus {
    const now = this.#clock.now()
    const usable = now < this.#usableUntil
    return {
      usable,
      keys: usable ? this.#keys.size : 0,
      fetchedAt: this.#fetchedAt === undefined ? undefined : new Date(this.#fetchedAt * 1000).toISOString(),
      stale: usable && now >= this.#freshUntil,
      lastFailure: this.#lastFailure
    }
  }

  /** The key for `kid` when it is known and the key set still usable. */
  #atHand (kid: string): VerificationKey | undefined {
    return this.#clock.now() < this.#usableUntil ? this.#keys.get(kid) : undefined
  }

  /**
   * Fetches keys for a `kid` that is not at hand, unless the cooldown
   * forbids; never rejects. A fetch already in flight is awaited first: it
   * may bring the key, and every request with the new `kid` then waits for
   * that one fetch instead of being refused. When it did not bring the key
   * (a scheduled refresh that started before the key was published), one
   * fetch for the `kid` follows, cooldown permitting; after a failed one, none.
   */
  async #refreshFor (kid: string): Promise<void> {
    if (this.#inflight !== undefined) {
      await this.#inflight
      // A failed fetch says nothing about the kid; the caller gets the failure's 503.
      if (this.#lastFailure !== undefined || this.#atHand(kid) !== undefined) return
    }
    if (this.#inflight === undefined && this.#cooldownLeft() === 0) {
      this.#inflight = this.#fetchForKid()
    }
    if (this.#inflight !== undefined) await this.#inflight
  }

  /** The key for `kid` in the key set as it is. Throws the 401 or 503 the request should get. */
  #lookup (kid: string): VerificationKey {
    if (this.#clock.now() >= this.#usableUntil) throw this.#errors.unavailable(this.#cooldownLeft() / 1000)
    const key = this.#keys.get(kid)
    if (key !== undefined) return key
    // While the IdP fails, an unknown kid may be a key it rotated in during the
    // outage: the token is not known to be bad, so the client should retry (503),
    // not drop it (401).
    if (this.#lastFailure !== undefined) throw this.#errors.unavailable(this.#cooldownLeft() / 1000)
    throw this.#errors.auth(KeyUnknownError)
  }

  #cooldownLeft (): number {
    return Math.max(0, this.#cooldownFrom + this.#opts.jwksCooldown * 1000 - this.#clock.now())
  }

  /** A due (or first) fetch replaces the set; one inside the freshness window only adds keys. */
  #mode (): 'replace' | 'merge' {
    return this.#clock.now() >= this.#freshUntil ? 'replace' : 'merge'
  }

  #fetchForKid (): Promise<void> {
    return this.#run(async () => {
      // Only when the keys at hand are good: with none yet, past jwksMaxStale or
      // after a failed fetch, waiting would only hold requests up.
      if (this.#lastFailure === undefined && this.#clock.now() < this.#usableUntil) {
        await delay(this.#clock, Math.min(UNKNOWN_KID_DELAY_MS, this.#opts.jwksCooldown * 1000), this.#signal)
      }
      // The cooldown runs from the fetch, not from the delay before it: the
      // requests that waited must not find it over and fetch a second time.
      this.#cooldownFrom = this.#clock.now()
      await this.#fetch(this.#mode())
    })
  }

  /** Runs one fetch episode as the shared in-flight promise; it never rejects. */
  async #run (episode: () => Promise<void>): Promise<void> {
    try {
      await episode()
    } finally {
      this.#inflight = undefined
    }
  }

  /** One fetch of discovery (the first time) and the JWKS; true when it worked. */
  async #fetch (mode: 'replace' | 'merge'): Promise<boolean> {
    if (this.#signal.aborted) return false
    const startedAt = this.#clock.now()
    let keys: Map<string, VerificationKey>
    let maxAge: number | undefined
    try {
      ({ keys, maxAge } = await this.#download())
    } catch (err) {
      this.#cooldownFrom = startedAt
      this.#failed(err, mode)
      return false
    }
    this.#lastFailure = undefined
    this.#fetchedAt = this.#clock.wallSeconds()
    const now = this.#clock.now()
    if (mode === 'merge') {
      let changed = 0
      for (const [kid, key] of keys) {
        const old = this.#keys.get(kid)
        if (old !== undefined && !sameKey(old, key)) changed++
        this.#keys.set(kid, key)
      }
      this.#log.debug({ keys: this.#keys.size }, 'zitadel: fetched keys for an unknown key id')
      if (changed > 0) this.#reportRemoved()
      return true
    }
    let removed = 0
    let changed = 0
    for (const [kid, old] of this.#keys) {
      const key = keys.get(kid)
      if (key === undefined) removed++
      else if (!sameKey(old, key)) changed++
    }
    const added = keys.size - (this.#keys.size - removed)
    this.#keys = keys
    if (removed + changed > 0) this.#reportRemoved()
    // Never below the cooldown, so a refresh always falls outside the cooldown of the last fetch.
    const ttl = Math.max(Math.min(this.#opts.jwksCacheTtl, maxAge ?? Infinity), this.#opts.jwksCooldown) * 1000
    this.#freshUntil = now + ttl
    this.#usableUntil = this.#freshUntil + this.#opts.jwksMaxStale * 1000
    // A change of keys is worth a line at info; the routine refresh is not.
    this.#log[added + removed + changed > 0 ? 'info' : 'debug']({ keys: keys.size, added, removed, changed, refreshInSeconds: ttl / 1000 }, 'zitadel: signing keys loaded')
    this.#schedule(ttl)
    return true
  }

  #reportRemoved (): void {
    for (const listener of this.#keysRemoved) listener()
  }

  async #download (): Promise<{ keys: Map<string, VerificationKey>, maxAge: number | undefined }> {
    const http = { ...this.#http, maxBytes: MAX_JWKS_BYTES }
    const { jwksUri } = await this.#discovery.endpoints()
    const { body, headers } = await observeFetch('keys', this.#opts.issuer, () => getJson(jwksUri, http))
    const list = (body as { keys?: unknown } | null)?.keys
    if (!Array.isArray(list)) throw new IdpFetchError('JWKS has no "keys" array')
    const keys = new Map<string, VerificationKey>()
    for (const jwk of list) {
      const key = importVerificationKey(jwk)
      if (typeof key === 'string') {
        this.#log.debug({ reason: key }, 'zitadel: skipped a key of the JWKS')
      } else if (!keys.has(key.kid)) {
        keys.set(key.kid, key)
      }
    }
    // zitadel/zitadel#7714: a misconfigured instance served {"keys": []}. An empty
    // set would lock everyone out, so it counts as a failed fetch.
    if (keys.size === 0) throw new IdpFetchError('JWKS holds no usable signing key')
    return { keys, maxAge: parseMaxAge(headers.get('cache-control')) }
  }

  #failed (err: unknown, mode: 'replace' | 'merge'): void {
    if (this.#signal.aborted) return
    // IdpFetchError messages are fixed text; a hint repeats at most the issuer a
    // discovery document names, cut short and printable only.
    const { message: reason, hint } = err as IdpFetchError
    const now = this.#clock.now()
    const usable = now < this.#usableUntil
    // Each new kind of failure is logged at warn (error when only the configuration
    // can be at fault), repeats at debug: an outage must not flood the log.
    const level = reason === this.#lastFailure ? 'debug' : hint === undefined ? 'warn' : 'error'
    this.#lastFailure = reason
    const message = hint !== undefined
      ? 'zitadel: could not fetch signing keys; the issuer option looks wrong (see hint)'
      : usable ? 'zitadel: could not refresh signing keys; using the last good keys' : 'zitadel: could not fetch signing keys'
    this.#log[level]({
      reason,
      ...(hint === undefined ? {} : { hint }),
      issuer: this.#opts.issuer,
      usingStaleKeys: usable,
      staleKeysUsableForSeconds: usable ? Math.round((this.#usableUntil - now) / 1000) : 0
    }, message)
    // A due refresh that failed is retried in the background while the last good
    // keys are still usable; a failed merge leaves the scheduled refresh alone.
    if (mode === 'replace' && this.#freshUntil !== 0 && usable) this.#schedule(this.#opts.jwksCooldown * 1000)
  }

  #schedule (ms: number): void {
    this.#clock.clearTimeout(this.#timer)
    // #refreshWhenDue never rejects: #fetch catches every failure of a fetch.
    this.#timer = this.#clock.setTimeout(() => this.#refreshWhenDue(), ms)
    this.#timer.unref()
  }

  /**
   * The scheduled replace. A fetch already in flight (say, for an unknown kid)
   * is awaited first and does not count: only a merge would have run, and a
   * due refresh must not be lost to it. The cooldown does not hold it back
   * either: it bounds fetches caused by unknown kids and failures, and an
   * attacker's stream of unknown kids must not postpone the refresh that drops
   * removed keys. Its period is never below the cooldown anyway.
   */
  async #refreshWhenDue (): Promise<void> {
    this.#timer = undefined
    while (this.#inflight !== undefined) await this.#inflight
    // A replace that ran meanwhile (or failed and set its retry) has scheduled the next one.
    if (this.#timer !== undefined || this.#signal.aborted) return
    this.#inflight = this.#run(async () => { await this.#fetch('replace') })
    // Resolves once the refresh is done: the timer's clock may wait for it (lib/clock.ts).
    await this.#inflight
  }
}

/** What `fastify.zitadel.status()` says of the signing keys. */
export interface KeySetStatus {
  /** Tokens can be checked now: a key set was fetched and is not past `jwksMaxStale`. */
  readonly usable: boolean
  /** How many keys are in use (0 when none is usable). */
  readonly keys: number
  /** When the last fetch that worked ended (ISO 8601), or undefined before the first. */
  readonly fetchedAt: string | undefined
  /** The keys in use are past their refresh time: refreshing failed, and they stay usable up to `jwksMaxStale`. */
  readonly stale: boolean
  /** Why the last fetch failed (fixed text, e.g. `answered HTTP 503`), or undefined when it worked. */
  readonly lastFailure: string | undefined
}

/** The same public key, bound to the same `alg`. */
function sameKey (a: VerificationKey, b: VerificationKey): boolean {
  return a.alg === b.alg && a.key.equals(b.key)
}

/**
 * `Cache-Control: max-age=N` in seconds, or undefined. `no-store` and
 * `no-cache` are not read as 0: they say "do not keep this response", and
 * honouring them would mean a fetch per cooldown forever; keys are refreshed
 * every `jwksCacheTtl` and found by their unknown `kid` in between.
 */
export function parseMaxAge (header: string | null): number | undefined {
  if (header === null) return undefined
  const directives = header.toLowerCase().split(',').map((d) => d.trim())
  for (const d of directives) {
    const m = /^max-age\s*=\s*"?(\d+)"?$/.exec(d)
    if (m !== null) return Number(m[1])
  }
  return undefined
}

function delay (clock: Clock, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
    function done () {
      clock.clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
  })
}
