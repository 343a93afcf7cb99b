/**
 * `now()` is monotonic, for the durations the plugin measures itself: a wall
 * clock stepped back by NTP or a VM resume must not stretch a cooldown, a key
 * set's life or `cacheMaxAge`. `wallSeconds()` is for token times (`exp`,
 * `nbf`, `iat`, RFC 7519 §4.1). The client assertion (judged by the IdP's
 * clock) and the HTTP timeout stay on the system's clocks.
 */
export interface Clock {
  now (): number
  wallSeconds (): number
  /**
   * `fn` may return a promise of the work it started, so that a test clock
   * moved past a scheduled refresh can wait for that refresh to finish.
   */
  setTimeout (fn: () => unknown, ms: number): Timer
  clearTimeout (timer: Timer | undefined): void
}

export interface Timer {
  unref (): unknown
}

export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  wallSeconds: () => Date.now() / 1000,
  setTimeout: (fn: () => unknown, ms: number): Timer => setTimeout(fn, ms),
  clearTimeout: (timer: Timer | undefined) => { clearTimeout(timer as NodeJS.Timeout | undefined) }
})

/**
 * The tests' way to hand the plugin a clock they move themselves:
 * `app.register(zitadelAuth, { issuer, projectId, [kClock]: clock })`. A
 * Symbol from an unexported module, so it is no public option: resolveOptions
 * checks string keys only, and `fastify.zitadel.options` never shows it.
 */
export const kClock = Symbol('fastify-zitadel-auth.clock')

export function clockOf (options: object): Clock {
  return (options as { [kClock]?: Clock })[kClock] ?? systemClock
}
