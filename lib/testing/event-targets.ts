import { generateSigningKey } from './event-body.js'
import type { IdGenerator } from './ids.js'
import { fail } from './setup-error.js'

/** How an event reaches a target: the JSON itself, or that JSON as the payload of a JWS signed with the instance's key. */
export type EventPayloadType = 'json' | 'jwt'

/** What `addEventTarget` takes: a Zitadel target, and the event executions that call it. */
export interface EventTargetInput {
  /** Where the events are POSTed: an absolute http(s) URL. */
  url: string
  /**
   * The events to send, as Zitadel's event conditions: an exact type such as
   * `'user.deactivated'`, a group such as `'user.*'` (every type that starts
   * with `user`), or `'*'` for all.
   */
  events: readonly string[]
  /** Default: `'json'`. */
  payloadType?: EventPayloadType
  /** The key of the `ZITADEL-Signature` HMAC. Default: a new one of 36 letters and digits, as Zitadel generates. */
  signingKey?: string
  /** Seconds to wait for an answer, more than 0 and at most 270 (Zitadel's limit). Default: 10. */
  timeout?: number
}

/** A target as `addEventTarget` returns it, as Zitadel's CreateTarget answers: the id and the signing key. */
export interface EventTarget {
  readonly id: string
  readonly signingKey: string
}

/** A target with its settings, once checked. */
export interface ResolvedTarget extends EventTarget {
  readonly url: string
  readonly payloadType: EventPayloadType
  readonly timeoutMs: number
  /** Zitadel's execution ids: `event/<type>`, `event/<group>.*` or `event`. */
  readonly executions: readonly string[]
}

const EVENT_TYPE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/
const MAX_TIMEOUT = 270

/** Checks the input as Zitadel's CreateTarget and SetExecution would, except that any host is allowed. */
export function resolveTarget (input: EventTargetInput, ids: IdGenerator): ResolvedTarget {
  const fn = 'addEventTarget'
  if (input === null || typeof input !== 'object') fail(`${fn}: the argument must be an object`)
  const { url, events, payloadType = 'json', signingKey = generateSigningKey(), timeout = 10 } = input
  if (typeof url !== 'string' || !/^https?:$/.test(safeUrl(url)?.protocol ?? '')) fail(`${fn}: "url" must be an absolute http(s) URL, such as "http://127.0.0.1:3000/zitadel/events"`)
  if (!Array.isArray(events) || events.length === 0) fail(`${fn}: "events" must be a non-empty array of event types ('user.deactivated'), groups ('user.*') or '*'`)
  const executions = events.map((event: unknown) => {
    if (event === '*') return 'event'
    const name = typeof event === 'string' && event.endsWith('.*') ? event.slice(0, -2) : event
    if (typeof name !== 'string' || !EVENT_TYPE.test(name)) fail(`${fn}: "events" has ${JSON.stringify(event)}, which is neither an event type ('user.deactivated'), a group ('user.*') nor '*'`)
    return `event/${event as string}`
  })
  if (payloadType !== 'json' && payloadType !== 'jwt') fail(`${fn}: "payloadType" must be "json" or "jwt"`)
  if (typeof signingKey !== 'string' || signingKey === '') fail(`${fn}: "signingKey" must be a non-empty string`)
  if (typeof timeout !== 'number' || !(timeout > 0 && timeout <= MAX_TIMEOUT)) fail(`${fn}: "timeout" must be a number of seconds, more than 0 and at most ${MAX_TIMEOUT}`)
  return Object.freeze({ id: ids.next(), signingKey, url, payloadType, timeoutMs: timeout * 1000, executions: Object.freeze([...new Set(executions)]) })
}

function safeUrl (value: string): URL | undefined {
  try {
    return new URL(value)
  } catch {
    return undefined
  }
}

/**
 * The targets an event goes to, as zitadel internal/execution/target/router.go
 * GetEventBestMatch picks them: the one execution that matches best, not
 * every execution that matches. An exact type wins; else the group that
 * sorts last among those whose prefix the type starts with (the more
 * specific, in practice); else `'*'`. So with one target on
 * `'user.deactivated'` and another on `'user.*'`, `user.deactivated` reaches
 * the first only. Targets of one execution are called in the order added.
 */
export function routeEvent (targets: Iterable<ResolvedTarget>, eventType: string): ResolvedTarget[] {
  const byExecution = new Map<string, ResolvedTarget[]>()
  for (const target of targets) {
    for (const id of target.executions) byExecution.set(id, [...byExecution.get(id) ?? [], target])
  }
  const executionId = `event/${eventType}`
  const exact = byExecution.get(executionId)
  if (exact !== undefined) return exact
  let best: string | undefined
  for (const id of [...byExecution.keys()].sort()) {
    // A group matches on its prefix without the dot, as Zitadel's strings.HasPrefix does.
    if (id === 'event' || (id.endsWith('.*') && executionId.startsWith(id.slice(0, -2)))) best = id
  }
  return best === undefined ? [] : byExecution.get(best) as ResolvedTarget[]
}
