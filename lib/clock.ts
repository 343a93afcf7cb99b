/**
 * Where the plugin reads the time: the cooldowns and the key set's life
 * (lib/jwks.ts), the token cache's expiry checks and the claims' time rules
 * (lib/verify.ts), and introspection's cooldown and cache (lib/introspection.ts).
 *
 * Two clocks, as in the code they replace: `now()` is monotonic, for every
 * duration the plugin measures itself, because a wall clock stepped back by
 * NTP or a VM resume must not stretch a cooldown, a key set's life or
 * `cacheMaxAge`; `wallSeconds()` is the wall clock, for what tokens state in
 * epoch seconds (`exp`, `nbf`, `iat`, RFC 7519 §4.1).
 *
 * Not from here: what the IdP reads or what guards real I/O. The client
 * assertion's `iat` and `exp` (lib/client-assertion.ts) are judged by the
 * IdP against its own clock, and the request timeout (lib/http.ts) bounds a
 * real socket; both stay on the system's clocks.
 */
export interface Clock {
  /** Milliseconds on a monotonic clock, as `performance.now()`. */
  now (): number
  /** Seconds since the epoch on the wall clock, fractional, as `Date.now() / 1000`. */
  wallSeconds (): number
  /**
   * Runs `fn` once, `ms` milliseconds from now on the monotonic clock. `fn`
   * may return a promise of the work it started: the system clock ignores it;
   * a test's clock can wait for it, so that moving time past a scheduled
   * refresh ends once that refresh is done.
   */
  setTimeout (fn: () => unknown, ms: number): Timer
  /** Cancels a timer of this clock; undefined, or a timer that has run, is fine. */
  clearTimeout (timer: Timer | undefined): void
}

/** A timer of a Clock. `unref()`: the timer alone does not keep the process alive. */
export interface Timer {
  unref (): unknown
}

/**
 * The clock of every app: the system's. Each method is one call away from
 * the built-in it wraps, so a token-cache hit reads the time as before.
 */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  wallSeconds: () => Date.now() / 1000,
  setTimeout: (fn: () => unknown, ms: number): Timer => setTimeout(fn, ms),
  clearTimeout: (timer: Timer | undefined) => { clearTimeout(timer as NodeJS.Timeout | undefined) }
})

/**
 * The option key under which this repository's tests hand the plugin a
 * clock they move themselves, so that cooldowns and expiry pass without
 * waiting: `app.register(zitadelAuth, { issuer, projectId, [kClock]: clock })`.
 *
 * A Symbol, and exported from this module only, so that it stays out of the
 * public API: the package's `exports` map names lib/index.ts and the
 * emulator, never this file, and registration's check of option names
 * (resolveOptions, which refuses unknown names) lists string keys only, so
 * the key passes it without being an option a user can find or misspell,
 * and `fastify.zitadel.options` never shows it.
 */
export const kClock = Symbol('fastify-zitadel-auth.clock')

/** The clock under `kClock` in the registration options, or the system's. */
export function clockOf (options: object): Clock {
  return (options as { [kClock]?: Clock })[kClock] ?? systemClock
}
