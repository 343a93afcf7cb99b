import { setImmediate as turn, setTimeout as sleep } from 'node:timers/promises'
import type { Clock, Timer } from '../../lib/clock.js'

export { kClock } from '../../lib/clock.js'

interface FakeTimer extends Timer {
  readonly due: number
  readonly delay: number
  readonly seq: number
  readonly fn: () => unknown
  /** unref() was called: a background timer nothing waits for. */
  background: boolean
}

/** A pending timer set after a `nextTimer()` call, and the delay it was set with. */
export interface ScheduledTimer { readonly delay: number, readonly due: number }

interface Waiter {
  /** Timers set from this sequence number on. */
  readonly from: number
  readonly resolve: (timer: ScheduledTimer) => void
}

/**
 * A clock the test moves by hand (lib/clock.ts), handed to the plugin under
 * `kClock`: cooldowns, key set lifetimes and token expiry pass in an
 * instant and exactly, while the network (the test issuer, the emulator)
 * stays real. Time stands still until `advance` moves it; the wall clock
 * starts at the real time, so tokens minted now are current.
 *
 * `advance(ms)` runs every timer that falls due on the way, in order, each at
 * its own time, and waits for the work a timer's callback returns (a
 * scheduled refresh and its fetch). While another timer is due on the way, a
 * callback's work is waited for only once that timer has run too: the work
 * may be waiting for it (a refresh that falls due during the delay before
 * the look-up of an unknown kid waits for that look-up).
 *
 * Use one clock per app: timers of several apps on one clock would run
 * between each other's work.
 */
export class FakeClock implements Clock {
  #now = 1000
  #wallMs: number
  #seq = 0
  readonly #timers = new Set<FakeTimer>()
  #waiters: Waiter[] = []

  constructor (wallMs = Date.now()) {
    this.#wallMs = wallMs
  }

  now (): number {
    return this.#now
  }

  wallSeconds (): number {
    return this.#wallMs / 1000
  }

  setTimeout (fn: () => unknown, ms: number): Timer {
    const timer: FakeTimer = {
      due: this.#now + Math.max(0, ms),
      delay: Math.max(0, ms),
      seq: this.#seq++,
      fn,
      background: false,
      unref: () => {
        timer.background = true
        return timer
      }
    }
    this.#timers.add(timer)
    // Once the caller has had the chance to unref it.
    queueMicrotask(() => { this.#offer(timer) })
    return timer
  }

  clearTimeout (timer: Timer | undefined): void {
    this.#timers.delete(timer as FakeTimer)
  }

  /** How many timers are set and have not run. */
  get pending (): number {
    return this.#timers.size
  }

  /** Moves both clocks forward by `ms`, running the timers that fall due (see the class). */
  async advance (ms: number): Promise<void> {
    if (!(ms >= 0)) throw new Error(`advance(${ms}): time only moves forward`)
    const target = this.#now + ms
    const work: Array<Promise<unknown>> = []
    for (;;) {
      const timer = this.#next(target)
      if (timer === undefined) {
        if (work.length === 0) break
        await settle(work.splice(0))
        continue
      }
      this.#moveTo(timer.due)
      this.#timers.delete(timer)
      const result = timer.fn()
      if (result instanceof Promise) work.push(result)
      // What the callback set going runs before time moves on.
      await turn()
    }
    this.#moveTo(target)
  }

  /** `advance` to the monotonic time `time` (a value `now()` gave). */
  advanceTo (time: number): Promise<void> {
    return this.advance(Math.max(0, time - this.#now))
  }

  /** `advance` until the wall clock reads `seconds` since the epoch, exactly (a whole number of ms). */
  advanceToWallSeconds (seconds: number): Promise<void> {
    return this.advance(Math.max(0, Math.round(seconds * 1000) - this.#wallMs))
  }

  /** Steps the wall clock alone by `seconds` (back when negative), as NTP or a VM resume would. */
  stepWall (seconds: number): void {
    this.#wallMs += seconds * 1000
  }

  /**
   * Resolves when the next timer that holds something up is set (from this
   * call on), with its delay and due time. Background timers, the ones
   * unref()'d (the plugin's scheduled refreshes), are passed over.
   */
  nextTimer (): Promise<ScheduledTimer> {
    return new Promise((resolve) => { this.#waiters.push({ from: this.#seq, resolve }) })
  }

  /**
   * Starts `start()` and, if it sets a timer that holds it up before it
   * settles (a request with an unknown kid: the delay before its look-up),
   * runs time on to that timer. The outcome, with that timer's delay, or
   * undefined when the work settled without setting one.
   */
  async throughTimer<T> (start: () => Promise<T>): Promise<{ outcome: T, delay: number | undefined }> {
    const next = this.nextTimer()
    const work = start()
    const first = await Promise.race([next, work.then(() => undefined, () => undefined)])
    if (first !== undefined) await this.advanceTo(first.due)
    return { outcome: await work, delay: first?.delay }
  }

  #offer (timer: FakeTimer): void {
    if (timer.background || !this.#timers.has(timer)) return
    const scheduled = { delay: timer.delay, due: timer.due }
    const waiting = this.#waiters
    this.#waiters = waiting.filter((w) => w.from > timer.seq)
    for (const w of waiting) if (w.from <= timer.seq) w.resolve(scheduled)
  }

  #next (target: number): FakeTimer | undefined {
    let first: FakeTimer | undefined
    for (const timer of this.#timers) {
      if (timer.due <= target && (first === undefined || timer.due < first.due || (timer.due === first.due && timer.seq < first.seq))) first = timer
    }
    return first
  }

  #moveTo (time: number): void {
    if (time <= this.#now) return
    this.#wallMs += time - this.#now
    this.#now = time
  }
}

/**
 * The work of the timers that ran, and what it set going. A real-time guard
 * turns a test that waits for work that cannot finish (work waiting for a
 * timer past the end of the advance) into an error instead of a hang.
 */
async function settle (work: Array<Promise<unknown>>): Promise<void> {
  const guard = new AbortController()
  const stuck = sleep(10_000, undefined, { signal: guard.signal, ref: false }).then(() => {
    throw new Error('advance: the work of a timer did not finish within 10 s; is it waiting for a timer due after the advance?')
  }, () => undefined)
  try {
    await Promise.race([Promise.all(work), stuck])
  } finally {
    guard.abort()
  }
  await turn()
}
