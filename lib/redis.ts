import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from './clock.js'
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
  zadd (key: string, score: number, member: string): Promise<unknown>
  zrangebyscore (key: string, min: number | string, max: number | string): Promise<string[]>
  zremrangebyscore (key: string, min: number | string, max: number | string): Promise<unknown>
  publish (channel: string, message: string): Promise<unknown>
  duplicate (): RedisSubscriber
  on (event: 'ready', listener: () => void): unknown
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
 * No request waits longer than this on Redis: past it, the plugin goes on
 * as without Redis (introspection asks Zitadel).
 */
const REDIS_TIMEOUT_MS = 500

/**
 * What instances share through Redis: revocations (a sorted set by expiry,
 * and a pub/sub channel that tells every instance at once) and introspection
 * answers (by the token's SHA-256, expiring with the answer). While Redis is
 * away, each instance works on its own state and logs it once; revocations
 * made meanwhile are written once Redis is back, and each instance reloads
 * the list then, so none is lost.
 */
export class RedisShared {
  readonly #redis: RedisClient
  readonly #log: FastifyBaseLogger
  readonly #clock: Clock
  readonly #revocationsKey: string
  readonly #answersPrefix: string
  /** Revocations made here that Redis does not have yet. */
  readonly #unsent: Revocation[] = []
  #subscriber: RedisSubscriber | undefined
  /** This instance's revocations in effect: written back to a Redis that lost them (restarted without persistence). */
  #local: () => Revocation[] = () => []
  #down = false
  #closed = false

  constructor (redis: RedisClient, namespace: string, log: FastifyBaseLogger, clock: Clock) {
    this.#redis = redis
    this.#log = log
    this.#clock = clock
    this.#revocationsKey = `${namespace}revocations`
    this.#answersPrefix = `${namespace}introspection:`
  }

  /**
   * Listens for other instances' revocations and loads those in effect;
   * again each time the connection comes back, with what was made here meanwhile.
   */
  async start (receive: (entry: Revocation) => void, local: () => Revocation[]): Promise<void> {
    this.#local = local
    const subscriber = this.#redis.duplicate()
    this.#subscriber = subscriber
    subscriber.on('message', (channel, message) => {
      const entry = channel === this.#revocationsKey ? readRevocation(message) : undefined
      if (entry !== undefined) receive(entry)
    })
    // Logged by the 'ready' events below: ioredis reconnects by itself.
    subscriber.on('error', () => {})
    // The subscription first, then the list: nothing published in between is missed.
    subscriber.on('ready', () => { this.#catchUp(receive).catch(() => {}) })
    this.#redis.on('ready', () => { this.#catchUp(receive).catch(() => {}) })
    try {
      await bounded(subscriber.subscribe(this.#revocationsKey))
    } catch (err) {
      this.#lost(err)
      return
    }
    await this.#catchUp(receive)
  }

  /** Shares a revocation made on this instance. Never rejects: without Redis it waits for Redis to come back. */
  async share (entry: Revocation): Promise<void> {
    this.#unsent.push(entry)
    await this.#flush()
  }

  /** An introspection answer another instance stored, or undefined (none, or Redis away). */
  async answer (digest: string): Promise<string | undefined> {
    if (!this.#usable()) return undefined
    try {
      return (await bounded(this.#redis.get(this.#answersPrefix + digest))) ?? undefined
    } catch (err) {
      this.#lost(err)
      return undefined
    }
  }

  /** Stores an introspection answer for `ms` milliseconds. Never rejects. */
  async keepAnswer (digest: string, answer: string, ms: number): Promise<void> {
    if (!this.#usable() || ms < 1) return
    try {
      await bounded(this.#redis.set(this.#answersPrefix + digest, answer, 'PX', Math.floor(ms)))
    } catch (err) {
      this.#lost(err)
    }
  }

  async close (): Promise<void> {
    this.#closed = true
    await this.#subscriber?.quit().catch(() => {})
  }

  #usable (): boolean {
    return !this.#closed && this.#redis.status === 'ready'
  }

  async #catchUp (receive: (entry: Revocation) => void): Promise<void> {
    if (!this.#usable()) return
    await this.#flush()
    try {
      const now = this.#clock.wallSeconds()
      for (const entry of this.#local()) await bounded(this.#redis.zadd(this.#revocationsKey, entry.until, JSON.stringify(entry)))
      await bounded(this.#redis.zremrangebyscore(this.#revocationsKey, '-inf', now))
      const members = await bounded(this.#redis.zrangebyscore(this.#revocationsKey, now, '+inf'))
      for (const member of members) {
        const entry = readRevocation(member)
        if (entry !== undefined) receive(entry)
      }
      this.#back()
    } catch (err) {
      this.#lost(err)
    }
  }

  async #flush (): Promise<void> {
    while (this.#unsent.length > 0 && this.#usable()) {
      const entry = this.#unsent[0] as Revocation
      const member = JSON.stringify(entry)
      try {
        await bounded(this.#redis.zadd(this.#revocationsKey, entry.until, member))
        await bounded(this.#redis.publish(this.#revocationsKey, member))
      } catch (err) {
        this.#lost(err)
        return
      }
      this.#unsent.shift()
    }
  }

  #lost (err: unknown): void {
    if (this.#down || this.#closed) return
    this.#down = true
    this.#log.warn({ reason: (err as Error).message }, 'zitadel: Redis cannot be reached; this instance goes on with its own revocations and introspection cache, and catches up when Redis is back')
  }

  #back (): void {
    if (!this.#down) return
    this.#down = false
    this.#log.info('zitadel: Redis is back; revocations are shared again')
  }
}

/** Redis holds what any client may have written: only well-formed entries are taken. */
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
