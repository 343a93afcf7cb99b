import type { Clock } from './clock.js'
import { revocationChannel, type RevocationMessage } from './diagnostics.js'
import { invalidOption } from './errors.js'
import { COMPACT_JWS, decodeJsonSegment } from './jws.js'
import type { ResolvedOptions } from './options.js'
import type { RedisShared } from './redis.js'
import type { Revocation, RevocationList } from './revocations.js'
import { tokenDigest } from './token-digest.js'

/** Seconds ahead of this host's clock another instance's revocation may be dated (their clocks differ). */
const FUTURE_SKEW = 60

/** What `revokeSubject` takes. */
export interface RevokeSubjectOptions {
  /** Tokens issued (`iat`) before this time are refused. Default: now. */
  before?: Date | undefined
}

/**
 * `fastify.zitadel.revokeSubject`, `revokeToken` and `revokeTokenId`: each
 * puts a revocation in effect on this instance at once. They return
 * promises so that a store shared by several instances can hand it on.
 */
export function createRevoker (list: RevocationList, opts: ResolvedOptions, clock: Clock, shared: RedisShared | undefined) {
  const lifetime = opts.revocation.maxTokenLifetime
  /** Puts `entry` in effect here; `source` says where it came from, for the diagnostics channel. */
  async function apply (entry: Revocation, source: RevocationMessage['source'] = 'api'): Promise<void> {
    if (!receive(entry, source)) return
    await shared?.share(entry)
  }

  /** Puts `entry` in effect here, as it comes (from Redis: another instance's); true when it changed anything. */
  function receive (entry: Revocation, source: RevocationMessage['source'] = 'store'): boolean {
    if (source === 'store' && !plausible(entry)) return false
    const added = list.add(entry)
    if (added && revocationChannel.hasSubscribers) revocationChannel.publish({ kind: entry.kind, source } satisfies RevocationMessage)
    return added
  }

  /**
   * Refuses every token of the user `sub` issued before `before` (default:
   * now) with 401 `ZITADEL_AUTH_TOKEN_REVOKED`, until they have all expired.
   * Tokens issued later pass: a user who logs in again is let in.
   * @example await app.zitadel.revokeSubject(userId)
   */
  function revokeSubject (sub: string, options: RevokeSubjectOptions = {}): Promise<void> {
    if (typeof sub !== 'string' || sub === '') invalidOption('revokeSubject: sub must be a non-empty string (a Zitadel user id)')
    const at = options.before
    if (at !== undefined && !(at instanceof Date && Number.isFinite(at.getTime()))) invalidOption('revokeSubject: option "before" must be a valid Date')
    const before = at === undefined ? clock.wallSeconds() : at.getTime() / 1000
    // Tokens within the clock tolerance of their exp still pass: keep the entry that much longer.
    return apply({ kind: 'subject', sub, before, until: before + lifetime + opts.clockTolerance })
  }

  /**
   * Refuses this one token (401 `ZITADEL_AUTH_TOKEN_REVOKED`) until it
   * expires. Only its SHA-256 is kept.
   */
  function revokeToken (token: string): Promise<void> {
    if (typeof token !== 'string' || token === '') invalidOption('revokeToken: token must be a non-empty string')
    return apply({ kind: 'token', digest: tokenDigest(token), until: expiryOf(token) })
  }

  /**
   * Refuses the token with this id (`jti`; Zitadel's events call it
   * `tokenId`) until `maxTokenLifetime` has passed.
   */
  function revokeTokenId (jti: string): Promise<void> {
    if (typeof jti !== 'string' || jti === '') invalidOption('revokeTokenId: jti must be a non-empty string')
    return apply({ kind: 'tokenId', jti, until: clock.wallSeconds() + lifetime + opts.clockTolerance })
  }

  /**
   * A JWT's own `exp` (with the tolerance), never past the longest a token
   * lives: the token is not verified here. For an opaque token, that longest.
   */
  function expiryOf (token: string): number {
    const parts = COMPACT_JWS.exec(token)
    const exp = parts === null ? undefined : decodeJsonSegment(parts[2] as string)?.exp
    const longest = clock.wallSeconds() + lifetime + opts.clockTolerance
    return typeof exp === 'number' && Number.isFinite(exp) ? Math.min(exp + opts.clockTolerance, longest) : longest
  }

  /**
   * Could an instance have made this entry (Redis holds what any client
   * wrote)? It ends within the longest token lifetime from now, and a
   * subject's from its own time, which is not in the future. Refused, not
   * shortened: a bad entry read again must not start over, and so locks
   * nobody out for longer than a real one would.
   */
  function plausible (entry: Revocation): boolean {
    const latest = clock.wallSeconds() + FUTURE_SKEW
    const span = lifetime + opts.clockTolerance
    if (entry.until > latest + span) return false
    return entry.kind !== 'subject' || (entry.before <= latest && entry.until <= entry.before + span)
  }

  return { api: { revokeSubject, revokeToken, revokeTokenId }, apply, receive }
}

export type Revoker = ReturnType<typeof createRevoker>
/** `fastify.zitadel.revokeSubject`, `revokeToken` and `revokeTokenId`. */
export type RevocationApi = Revoker['api']
