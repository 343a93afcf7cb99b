import Fastify from 'fastify'
import t from 'tap'
import { clockOf, systemClock } from '../lib/clock.js'
import zitadelAuth from '../lib/index.js'
import { FakeClock, kClock } from './helpers/clock.js'

/*
 * lib/clock.ts: the system clock every app runs on, the Symbol-keyed option
 * through which the tests hand the plugin their own, and that clock
 * (test/helpers/clock.ts), on which the time-based tests rely.
 */

t.test('the system clock: performance.now(), Date.now() in seconds, and timers', async (t) => {
  const before = performance.now()
  const now = systemClock.now()
  t.ok(now >= before && now <= performance.now(), 'now() is performance.now()')
  const wall = systemClock.wallSeconds()
  t.ok(Math.abs(wall - Date.now() / 1000) < 1, 'wallSeconds() is Date.now() / 1000')
  t.not(wall, Math.floor(wall), 'fractional seconds')
  await new Promise<void>((resolve) => { systemClock.setTimeout(resolve, 1).unref() })
  let ran = false
  const cleared = systemClock.setTimeout(() => { ran = true }, 1)
  systemClock.clearTimeout(cleared)
  systemClock.clearTimeout(undefined)
  await new Promise<void>((resolve) => { systemClock.setTimeout(resolve, 5) })
  t.notOk(ran, 'a cleared timer does not run')
  t.ok(Object.isFrozen(systemClock))
})

t.test('the clock option: a Symbol key, read at registration, shown nowhere, and no way around the check of option names', async (t) => {
  const clock = new FakeClock()
  t.equal(clockOf({}), systemClock, 'without it, the system clock')
  t.equal(clockOf({ [kClock]: clock }), clock)
  const options = { issuer: 'http://127.0.0.1:1', projectId: '1', [kClock]: clock }
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, options)
  await app.ready()
  t.notOk(Object.getOwnPropertySymbols(app.zitadel.options).length, 'the resolved options carry no Symbol key')
  const other = Fastify()
  t.teardown(() => other.close())
  await t.rejects(async () => { await other.register(zitadelAuth, { ...options, clock } as never) }, { code: 'ZITADEL_AUTH_INVALID_OPTION', message: /unknown option "clock"/ }, 'a "clock" option by name is unknown')
})

t.test('FakeClock: time stands still until advanced; timers run in order, each at its own time', async (t) => {
  const wallStart = Date.UTC(2030, 0, 1)
  const clock = new FakeClock(wallStart)
  const start = clock.now()
  const seen: Array<[string, number, number]> = []
  // Both clocks, in ms since the start.
  const note = (name: string) => () => { seen.push([name, clock.now() - start, Math.round(clock.wallSeconds() * 1000 - wallStart)]) }
  clock.setTimeout(note('b'), 200).unref()
  clock.setTimeout(note('a'), 100)
  clock.setTimeout(note('a2'), 100)
  const cancelled = clock.setTimeout(note('never'), 150)
  clock.clearTimeout(cancelled)
  t.equal(clock.pending, 3)
  t.equal(clock.now(), start, 'no time passes by itself')
  await clock.advance(150)
  t.same(seen, [['a', 100, 100], ['a2', 100, 100]], 'due timers ran at their time, in the order they were set')
  t.equal(clock.now(), start + 150)
  await clock.advanceTo(start + 200)
  t.same(seen.at(-1), ['b', 200, 200])
  t.equal(clock.pending, 0)
  clock.stepWall(-600)
  t.equal(Math.round(clock.wallSeconds() * 1000 - wallStart), 200 - 600_000, 'the wall clock steps back alone')
  t.equal(clock.now(), start + 200, 'the monotonic clock does not')
  await t.rejects(clock.advance(-1), /only moves forward/)
})

t.test('FakeClock: advance waits for the work a timer returns, and for timers that work sets on the way', async (t) => {
  const clock = new FakeClock()
  const start = clock.now()
  const log: string[] = []
  const slowWork = async () => {
    await new Promise((resolve) => setTimeout(resolve, 20)) // real I/O stands in here
    log.push(`work done at ${clock.now() - start}`)
    clock.setTimeout(() => { log.push(`next at ${clock.now() - start}`) }, 100)
  }
  clock.setTimeout(slowWork, 100)
  await clock.advance(250)
  t.same(log, ['work done at 100', 'next at 200'], 'the work ran at the time its timer fell due, and its timer ran too')
})

t.test('FakeClock: a timer\'s work that waits for a later timer is waited for once that timer has run', async (t) => {
  const clock = new FakeClock()
  const start = clock.now()
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const log: string[] = []
  clock.setTimeout(async () => { await gate; log.push(`first done at ${clock.now() - start}`) }, 100)
  clock.setTimeout(() => { release(); log.push(`gate opened at ${clock.now() - start}`) }, 200)
  await clock.advance(300)
  t.same(log, ['gate opened at 200', 'first done at 200'])
})

t.test('FakeClock: nextTimer and throughTimer', async (t) => {
  const clock = new FakeClock()
  const next = clock.nextTimer()
  clock.setTimeout(() => {}, 10).unref()
  const cleared = clock.setTimeout(() => {}, 20)
  clock.clearTimeout(cleared)
  clock.setTimeout(() => {}, 70)
  t.same(await next, { delay: 70, due: clock.now() + 70 }, 'the first timer set that holds something up: background and cleared ones are passed over')

  const waited = await clock.throughTimer(() => new Promise<string>((resolve) => { clock.setTimeout(() => { resolve('done') }, 250) }))
  t.same(waited, { outcome: 'done', delay: 250 }, 'time ran on to the timer the work set')
  const immediate = await clock.throughTimer(async () => 'at once')
  t.same(immediate, { outcome: 'at once', delay: undefined }, 'work that sets no timer')
  await t.rejects(clock.throughTimer(async () => { throw new Error('failed') }), /failed/, 'a failure comes through')
})
