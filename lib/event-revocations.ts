import type { Revocation } from './revocations.js'
import { isPlainObject } from './values.js'

/** An Actions v2 event as Zitadel sends it (zitadel/zitadel internal/repository/execution/queue.go, ContextInfoEvent). */
export interface ZitadelEvent {
  readonly aggregateID: string
  readonly aggregateType: string
  readonly event_type: string
  /** RFC 3339, the time of the event. */
  readonly created_at: string
  readonly payload: Readonly<Record<string, unknown>>
}

/**
 * Events after which a user's tokens must stop working; `aggregateID` is the
 * user (internal/repository/user/user.go). Zitadel itself refuses those
 * tokens from then on (internal/query/access_token.go checkSessionNotTerminatedAfter).
 */
const USER_GONE = new Set(['user.deactivated', 'user.locked', 'user.removed'])
/** A token removed by id; the payload's `tokenId` is the token's `jti` (internal/repository/user/personal_access_token.go, user.go). */
const TOKEN_GONE = new Set(['user.pat.removed', 'user.token.removed'])
/**
 * Grant events name the grant, not the user (internal/repository/usergrant/user_grant.go):
 * only `user.grant.added` carries `userId`. A changed or removed grant means
 * tokens carry roles the user no longer has.
 */
const GRANT_GONE = new Set(['user.grant.removed', 'user.grant.cascade.removed', 'user.grant.deactivated', 'user.grant.changed', 'user.grant.cascade.changed'])
/** After these the grant is gone: nothing more will be said of it. */
const GRANT_REMOVED = new Set(['user.grant.removed', 'user.grant.cascade.removed'])

/** Does the event name a grant whose user `actionFor` needs to know? */
export function concernsGrant (type: string): boolean {
  return GRANT_GONE.has(type)
}

/** The event's body, or undefined when it is not an event: the fields this module reads, checked. */
export function readEvent (body: unknown): ZitadelEvent | undefined {
  if (!isPlainObject(body)) return undefined
  const { aggregateID, aggregateType, event_type: type, created_at: createdAt } = body
  if (typeof aggregateID !== 'string' || typeof aggregateType !== 'string' || typeof type !== 'string' || typeof createdAt !== 'string') return undefined
  return { aggregateID, aggregateType, event_type: type, created_at: createdAt, payload: payloadOf(body.event_payload) }
}

/**
 * `event_payload` has come as an object, as base64 of the JSON (older
 * versions), as `{}` whatever the event (v4.1.0), or not at all (an event
 * without data).
 */
function payloadOf (value: unknown): Readonly<Record<string, unknown>> {
  if (isPlainObject(value)) return value
  if (typeof value !== 'string') return {}
  try {
    const decoded: unknown = JSON.parse(Buffer.from(value, 'base64').toString('utf8'))
    return isPlainObject(decoded) ? decoded : {}
  } catch {
    return {}
  }
}

/** What the receiver does with an event: revoke (and forget a removed grant), remember whose grant it is, or nothing. */
export type EventAction =
  | { readonly kind: 'revoke', readonly revocation: Revocation, readonly forgetGrant?: string }
  | { readonly kind: 'grant', readonly grantId: string, readonly userId: string }
  | { readonly kind: 'unknown-grant', readonly grantId: string }
  | { readonly kind: 'ignore' }

/**
 * `before`: the event's own time, so a replayed old event covers only tokens
 * issued before it happened, and a user let back in since keeps access.
 * `grantUser`: the user of the event's grant, when it names one seen being added.
 */
export function actionFor (event: ZitadelEvent, lifetime: number, grantUser: string | undefined): EventAction {
  const at = Date.parse(event.created_at) / 1000
  if (!Number.isFinite(at)) return { kind: 'ignore' }
  const type = event.event_type
  if (USER_GONE.has(type)) return subject(event.aggregateID, at, lifetime)
  if (TOKEN_GONE.has(type)) {
    const jti = event.payload.tokenId
    return typeof jti === 'string' && jti !== '' ? { kind: 'revoke', revocation: { kind: 'tokenId', jti, until: at + lifetime } } : { kind: 'ignore' }
  }
  if (type === 'user.grant.added') {
    const userId = event.payload.userId
    return typeof userId === 'string' && userId !== '' ? { kind: 'grant', grantId: event.aggregateID, userId } : { kind: 'ignore' }
  }
  if (GRANT_GONE.has(type)) {
    if (grantUser === undefined) return { kind: 'unknown-grant', grantId: event.aggregateID }
    const action = subject(grantUser, at, lifetime)
    return GRANT_REMOVED.has(type) ? { ...action, forgetGrant: event.aggregateID } : action
  }
  return { kind: 'ignore' }
}

function subject (sub: string, before: number, lifetime: number): { kind: 'revoke', revocation: Revocation } {
  return { kind: 'revoke', revocation: { kind: 'subject', sub, before, until: before + lifetime } }
}
