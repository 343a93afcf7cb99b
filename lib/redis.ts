import type { FastifyBaseLogger } from 'fastify'
import type { Clock, Timer } from './clock.js'
import type { Revocation } from './revocations.js'
import { isPlainObject } from './values.js'

/**
 * The parts of an ioredis client (or one with its API, such as a Valkey
 * client's ioredis mode) the plugin uses. Pass the client you have, as to
 * `@fastify/rate-limit`: the plugin makes one more connection from it for
 * pub/sub (`duplicate()`), and closes only that one.
 */
export interface RedisClient {
  /** ioredis: `'ready'` while connected. */
  readonly status: string
  get (key: string): Promise<string | null>
  set (key: string, value: string, mode: 'PX', milliseconds: number): Promise<unknown>
  del (key: string): Promise<unknown>
  zadd (key: string, score: number, member: string): Promise<unknown>
  zrangebyscore (key: string, min: number | string, max: number | string): Promise<string[]>
  zremrangebyscore (key: string, min: number | string, max: number | string): Promise<unknown>
  publish (channel: string, message: string): Promise<unknown>
  duplicate (): RedisSubscriber
  on (event: 'ready', listener: () => void): unknown
  off (event: 'ready', listener: () => void): unknown
}

/** The pub/sub connection made with `duplicate()`. */
export interface RedisSubscriber {
  subscribe (channel: string): Promise<unknown>
  on (event: 'message', listener: (channel: string, message: string) => void): unknown
  on (event: 'ready', listener: () => void): unknown
  on (event: 'error', listener: (err: Error) => void): unknown
  quit (): Promise<unknown>
}

/**
 * No request waits longer than this on Redis: past it, Redis counts as away,
 * and the plugin goes on without it until a retry works.
 */
const REDIS_TIMEOUT_MS = 250
/** While Redis is away, or revocations wait to be written, it is tried again this often. */
const RETRY_MS = 2000
/** Grants are remembered this long (their user is named only when they are added). */
const GRANT_TTL_MS = 400 * 86_400_000

/**
 * What instances share through Redis: revocations (a sorted set by expiry,
 * and a pub/sub channel that tells every instance at once), introspection
 * answers (sealed by introspection.ts) and whose grant is whose (for
 * zitadelEvents). While Redis is away, or too slow, each instance works on
 * its own state, logs it once and skips Redis; a retry every few seconds
 * writes what was made meanwhile, subscribes again and reloads the list.
 */
export class RedisShared {
  readonly #redis: RedisClient
  readonly #log: FastifyBaseLogger
  readonly #clock: Clock
  readonly #revocationsKey: string
  readonly #prefix: string
  /** Revocations made here that Redis does not have yet. */
  readonly #unsent = new Set<Revocation>()
  /** A connection came (back): Redis may have restarted without the revocations, and messages were missed. */
  readonly #onReady = () => {
    this.#writeBack = true
    this.#reload = true
    this.#sync().catch(() => {})
  }

  #writeBack = false
  /** Load the list: at start, and after the connection was lost (pub/sub messages do not wait). */
  #reload = true
  #receive: (entry: Revocation) => void = () => {}
  #local: () => Revocation[] = () => []
  #subscriber: RedisSubscriber | undefined
  #subscribed = false
  #syncing: Promise<void> | undefined
  #retry: Timer | undefined
  #down = false
  #closed = false

  constructor (redis: RedisClient, namespace: string, log: FastifyBaseLogger, clock: Clock) {
    this.#redis = redis
    this.#log = log
    this.#clock = clock
    this.#revocationsKey = `${namespace}revocations`
    this.#prefix = namespace
  }

  /**
   * Listens for other instances' revocations (`receive`) and loads those in
   * effect; `local` lists this instance's, written back to a Redis that lost them.
   */
  async start (receive: (entry: Revocation) => void, local: () => Revocation[]): Promise<void> {
    this.#receive = receive
    this.#local = local
    const subscriber = this.#redis.duplicate()
    this.#subscriber = subscriber
    subscriber.on('message', (channel, message) => {
      const entry = channel === this.#revocationsKey ? readRevocation(message) : undefined
      if (entry !== undefined) receive(entry)
    })
    // Reported once by #lost: ioredis reconnects by itself.
    subscriber.on('error', () => {})
    subscriber.on('ready', this.#onReady)
    this.#redis.on('ready', this.#onReady)
    await this.#sync()
  }

  /** Shares a revocation made here. Never rejects: while Redis is away it is written on a retry. */
  async share (entry: Revocation): Promise<void> {
    this.#unsent.add(entry)
    await this.#sync()
  }

  /** The value at `key` (under the namespace), or undefined: none, or Redis away. */
  async get (key: string): Promise<string | undefined> {
    if (!this.#usable()) return undefined
    try {
      return (await bounded(this.#redis.get(this.#prefix + key))) ?? undefined
    } catch (err) {
      this.#lost(err)
      return undefined
    }
  }

  /** Stores `value` at `key` (under the namespace) for `ms` milliseconds. Never rejects. */
  async set (key: string, value: string, ms: number = GRANT_TTL_MS): Promise<void> {
    if (!this.#usable() || ms < 1) return
    try {
      await bounded(this.#redis.set(this.#prefix + key, value, 'PX', Math.floor(ms)))
    } catch (err) {
      this.#lost(err)
    }
  }

  /** Removes `key` (under the namespace). Never rejects. */
  async delete (key: string): Promise<void> {
    if (!this.#usable()) return
    try {
      await bounded(this.#redis.del(this.#prefix + key))
    } catch (err) {
      this.#lost(err)
    }
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#clock.clearTimeout(this.#retry)
    this.#redis.off('ready', this.#onReady)
    await this.#subscriber?.quit().catch(() => {})
  }

  /** Redis is connected and answered the last call in time. */
  #usable (): boolean {
    return !this.#closed && !this.#down && this.#redis.status === 'ready'
  }

  /** One at a time: the subscription, what waits to be written, then the list. */
  #sync (): Promise<void> {
    this.#syncing ??= this.#syncOnce().finally(() => { this.#syncing = undefined })
    return this.#syncing
  }

  async #syncOnce (): Promise<void> {
    if (this.#closed || this.#redis.status !== 'ready') {
      this.#later()
      return
    }
    try {
      // Again after a start without Redis: ioredis resubscribes only what it once subscribed.
      if (!this.#subscribed) {
        await bounded((this.#subscriber as RedisSubscriber).subscribe(this.#revocationsKey))
        this.#subscribed = true
      }
      const now = this.#clock.wallSeconds()
      for (const entry of this.#unsent) {
        if (entry.until > now) {
          const member = JSON.stringify(entry)
          await bounded(this.#redis.zadd(this.#revocationsKey, entry.until, member))
          await bounded(this.#redis.publish(this.#revocationsKey, member))
        }
        this.#unsent.delete(entry)
      }
      if (this.#writeBack || this.#down) {
        for (const entry of this.#local()) await bounded(this.#redis.zadd(this.#revocationsKey, entry.until, JSON.stringify(entry)))
        this.#writeBack = false
      }
      if (this.#reload || this.#down) {
        await bounded(this.#redis.zremrangebyscore(this.#revocationsKey, '-inf', now))
        // After the subscription: nothing published meanwhile is missed.
        for (const member of await bounded(this.#redis.zrangebyscore(this.#revocationsKey, now, '+inf'))) {
          const entry = readRevocation(member)
          if (entry !== undefined) this.#receive(entry)
        }
        this.#reload = false
      }
      this.#back()
    } catch (err) {
      this.#lost(err)
      this.#later()
    }
  }

  /** A retry, unless one is set or the app is closing. */
  #later (): void {
    if (this.#closed || this.#retry !== undefined) return
    this.#retry = this.#clock.setTimeout(() => {
      this.#retry = undefined
      return this.#sync()
    }, RETRY_MS)
    this.#retry.unref()
  }

  #lost (err: unknown): void {
    if (this.#closed) return
    this.#later()
    if (this.#down) return
    this.#down = true
    this.#log.warn({ reason: (err as Error).message }, 'zitadel: Redis cannot be reached in time; this instance goes on with its own revocations and introspection cache, and catches up when Redis answers again')
  }

  #back (): void {
    if (!this.#down) return
    this.#down = false
    this.#log.info('zitadel: Redis answers again; revocations are shared again')
  }
}

/** Redis holds what any client may have written: only well-formed entries are taken (revoke.ts bounds their times). */
function readRevocation (text: string): Revocation | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!isPlainObject(value) || typeof value.until !== 'number' || !Number.isFinite(value.until)) return undefined
  const { kind, until } = value
  if (kind === 'subject' && typeof value.sub === 'string' && value.sub !== '' && typeof value.before === 'number' && Number.isFinite(value.before)) {
    return { kind, sub: value.sub, before: value.before, until }
  }
  if (kind === 'token' && typeof value.digest === 'string' && value.digest !== '') return { kind, digest: value.digest, until }
  if (kind === 'tokenId' && typeof value.jti === 'string' && value.jti !== '') return { kind, jti: value.jti, until }
  return undefined
}

/** A Redis call that does not answer in time counts as failed: ioredis queues commands while it reconnects. */
function bounded<T> (call: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new Error(`no answer within ${REDIS_TIMEOUT_MS} ms`)) }, REDIS_TIMEOUT_MS)
    timer.unref()
  })
  return Promise.race([call, timeout]).finally(() => { clearTimeout(timer) })
}
