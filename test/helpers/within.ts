import { setTimeout as sleep } from 'node:timers/promises'

/** What `within` gives when the work has not settled in time. */
export const STILL_WAITING = 'still waiting'

/**
 * `work`'s outcome, or STILL_WAITING once `ms` of real time have passed: a
 * bound on a wait on real I/O that must end by itself (an abort, a
 * timeout). The timer is cancelled as soon as the work settles, so it never
 * keeps the test process alive after the test.
 */
export async function within<T> (ms: number, work: Promise<T>): Promise<T | typeof STILL_WAITING> {
  const bound = new AbortController()
  try {
    return await Promise.race([work, sleep<typeof STILL_WAITING>(ms, STILL_WAITING, { signal: bound.signal })])
  } finally {
    bound.abort()
  }
}
