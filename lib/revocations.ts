import type { Clock } from './clock.js'
import { tokenDigest } from './token-digest.js'
import type { ZitadelUser } from './user.js'

/**
 * One revocation. Times are seconds since the epoch (JWT NumericDate,
 * RFC 7519 §2); `until` is when no token it covers can still be valid, so
 * the entry can go.
 */
export type Revocation =
  /** Every token of `sub` issued (`iat`) before `before`. */
  | { readonly kind: 'subject', readonly sub: string, readonly before: number, readonly until: number }
  /** One token, by its SHA-256 (tokenDigest): never the token itself. */
  | { readonly kind: 'token', readonly digest: string, readonly until: number }
  /** One token, by its id (`jti`, which Zitadel's events name as `tokenId`). */
  | { readonly kind: 'tokenId', readonly jti: string, readonly until: number }

/** How often, at most, expired entries are swept out when one is added. */
const SWEEP_EVERY_SECONDS = 60

/**
 * The revocations in effect on this instance. Every check is a local read:
 * no request waits on the network for it, cache hits included. While the
 * list is empty a check is one comparison.
 */
export class RevocationList {
  readonly #clock: Clock
  /** `sub` → the latest `before`: a later revocation covers every token an earlier one does. */
  readonly #subjects = new Map<string, { before: number, until: number }>()
  readonly #digests = new Map<string, number>()
  readonly #ids = new Map<string, number>()
  /** Each user's token digest, made once: a cached user serves many requests. */
  readonly #userDigests = new WeakMap<ZitadelUser, string>()
  #sweptAt = -Infinity

  constructor (clock: Clock) {
    this.#clock = clock
  }

  /** How many entries are in effect. */
  get size (): number {
    return this.#subjects.size + this.#digests.size + this.#ids.size
  }

  /** Puts `entry` in effect; false when it changes nothing (already covered, or already over). */
  add (entry: Revocation): boolean {
    const now = this.#clock.wallSeconds()
    this.#sweep(now)
    if (entry.until <= now) return false
    switch (entry.kind) {
      case 'subject': {
        const known = this.#subjects.get(entry.sub)
        if (known !== undefined && known.before >= entry.before) return false
        this.#subjects.set(entry.sub, { before: entry.before, until: Math.max(entry.until, known?.until ?? 0) })
        return true
      }
      case 'token':
        return addUntil(this.#digests, entry.digest, entry.until)
      case 'tokenId':
        return addUntil(this.#ids, entry.jti, entry.until)
    }
  }

  /** True when a revocation covers the token of `user`. */
  covers (user: ZitadelUser): boolean {
    if (this.#subjects.size > 0) {
      const subject = this.#subjects.get(user.sub)
      if (subject !== undefined && user.claims.iat < subject.before) return true
    }
    if (this.#ids.size > 0 && typeof user.claims.jti === 'string' && this.#ids.has(user.claims.jti)) return true
    return this.#digests.size > 0 && this.#digests.has(this.#digestOf(user))
  }

  /** Every entry in effect, for an instance that starts later or a store that lost them. */
  entries (): Revocation[] {
    const now = this.#clock.wallSeconds()
    this.#sweep(now, true)
    return [
      ...[...this.#subjects].map(([sub, { before, until }]): Revocation => ({ kind: 'subject', sub, before, until })),
      ...[...this.#digests].map(([digest, until]): Revocation => ({ kind: 'token', digest, until })),
      ...[...this.#ids].map(([jti, until]): Revocation => ({ kind: 'tokenId', jti, until }))
    ]
  }

  #digestOf (user: ZitadelUser): string {
    let digest = this.#userDigests.get(user)
    if (digest === undefined) {
      digest = tokenDigest(user.token)
      this.#userDigests.set(user, digest)
    }
    return digest
  }

  /** Entries past `until` cover only tokens that have expired: they go, at most once a minute unless `now` says so. */
  #sweep (now: number, force = false): void {
    if (!force && now < this.#sweptAt + SWEEP_EVERY_SECONDS) return
    this.#sweptAt = now
    for (const [sub, { until }] of this.#subjects) if (until <= now) this.#subjects.delete(sub)
    for (const map of [this.#digests, this.#ids]) {
      for (const [key, until] of map) if (until <= now) map.delete(key)
    }
  }
}

/** Keeps the later `until`; true when the entry is new. */
function addUntil (map: Map<string, number>, key: string, until: number): boolean {
  const known = map.get(key)
  map.set(key, Math.max(until, known ?? 0))
  return known === undefined
}
