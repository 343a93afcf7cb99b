import { AGGREGATE_VERSIONS, eventBody, rfc3339Nano, signatureHeader, type AggregateType } from './event-body.js'
import { resolveTarget, routeEvent, type EventTarget, type EventTargetInput, type ResolvedTarget } from './event-targets.js'
import type { IdGenerator } from './ids.js'
import { fail } from './setup-error.js'

/** An event the emulator emits, before it gets its sequence and time. */
export interface EmulatorEvent {
  readonly aggregateType: AggregateType
  readonly aggregateId: string
  readonly resourceOwner: string
  readonly eventType: string
  /** The event's data; none for events whose Payload() is nil in Zitadel. */
  readonly payload?: Record<string, unknown>
  /** The event creates its aggregate (`user.grant.added`): sequence 1. */
  readonly creates?: boolean
}

/** One attempt to deliver one event to one target: what `deliveries` logs. */
export interface EventDelivery {
  readonly targetId: string
  readonly url: string
  readonly eventType: string
  /** The event's `aggregateID`: the user, the user grant or the session. */
  readonly aggregateId: string
  readonly sequence: number
  /** The HTTP status of the answer; undefined when none came (refused, timed out, the emulator closed). */
  readonly status: number | undefined
  /** Why the delivery failed: a status outside 2xx, or no answer. Undefined when it succeeded. */
  readonly error: string | undefined
  /** A 2xx answer: Zitadel's only success. */
  readonly ok: boolean
}

interface EventsContext {
  readonly ids: IdGenerator
  readonly instanceId: string
  /** `userID` of every event: who made the change. */
  readonly editorId: string
  /** A compact JWS whose payload is exactly these bytes, signed with the instance's current key. */
  readonly signJwt: (payload: string) => Promise<string>
  /** Aborts the delivery under way; nothing is sent after it. */
  readonly closing: AbortSignal
}

/** The emulated event and its request body, fixed when the event happens. */
interface PushedEvent {
  readonly eventType: string
  readonly aggregateId: string
  readonly sequence: number
  readonly body: string
  /** Zitadel keeps the targets in the job it queues with the event. */
  readonly targets: readonly ResolvedTarget[]
}

/**
 * Actions v2 event executions, as Zitadel runs them: after the change,
 * asynchronously, one event after the other and, per event, one target
 * after the other; at most once, each call bounded by its target's timeout
 * (zitadel internal/eventstore/v3/push.go queues a job per event with its
 * targets; internal/execution/worker.go calls them and never retries;
 * internal/execution/execution.go posts the body). Unlike Zitadel, the
 * caller can wait for the attempts to be over.
 */
export class EventDispatcher {
  readonly #ctx: EventsContext
  readonly #targets = new Map<string, ResolvedTarget>()
  /** `{aggregateType} {aggregateId}` → last sequence */
  readonly #sequences = new Map<string, number>()
  readonly #log: EventDelivery[] = []
  #queue: Promise<unknown> = Promise.resolve()

  constructor (ctx: EventsContext) {
    this.#ctx = ctx
  }

  get deliveries (): readonly EventDelivery[] {
    return this.#log
  }

  addTarget (input: EventTargetInput): EventTarget {
    const target = resolveTarget(input, this.#ctx.ids)
    this.#targets.set(target.id, target)
    return Object.freeze({ id: target.id, signingKey: target.signingKey })
  }

  /** Events already pushed still reach it, as Zitadel's queued jobs carry their targets. */
  removeTarget (id: string): void {
    if (!this.#targets.delete(id)) fail(`removeEventTarget: no event target with id "${String(id)}"`)
  }

  /**
   * Gives the events their sequence, time and targets now, and delivers
   * them after the ones pushed before. The promise resolves with this push's
   * deliveries once all are attempted; it never rejects.
   */
  push (events: readonly EmulatorEvent[]): Promise<readonly EventDelivery[]> {
    const pushed = events.map((event) => this.#fix(event))
    const done = this.#queue.then(async () => {
      const deliveries: EventDelivery[] = []
      for (const event of pushed) {
        for (const target of event.targets) deliveries.push(await this.#deliver(event, target))
      }
      return deliveries
    })
    this.#queue = done
    return done
  }

  /** Resolves once every delivery pushed so far has been attempted. */
  async settled (): Promise<void> {
    await this.#queue
  }

  #fix (event: EmulatorEvent): PushedEvent {
    const key = `${event.aggregateType} ${event.aggregateId}`
    // An aggregate first seen here was created before, and its creation was its first event.
    const sequence = (this.#sequences.get(key) ?? (event.creates === true ? 0 : 1)) + 1
    this.#sequences.set(key, sequence)
    const body = eventBody({
      aggregateID: event.aggregateId,
      aggregateType: event.aggregateType,
      resourceOwner: event.resourceOwner,
      instanceID: this.#ctx.instanceId,
      version: AGGREGATE_VERSIONS[event.aggregateType],
      sequence,
      event_type: event.eventType,
      created_at: rfc3339Nano(Date.now()),
      userID: this.#ctx.editorId,
      event_payload: event.payload
    })
    return { eventType: event.eventType, aggregateId: event.aggregateId, sequence, body, targets: routeEvent(this.#targets.values(), event.eventType) }
  }

  /**
   * POST with `Content-Type: application/json` whatever the payload type,
   * and the signature over the exact bytes sent (execution.go Call); any 2xx
   * is success, redirects are followed.
   */
  async #deliver (event: PushedEvent, target: ResolvedTarget): Promise<EventDelivery> {
    const base = { targetId: target.id, url: target.url, eventType: event.eventType, aggregateId: event.aggregateId, sequence: event.sequence }
    const { closing } = this.#ctx
    let outcome: Pick<EventDelivery, 'status' | 'error' | 'ok'>
    try {
      if (closing.aborted) throw closing.reason
      const body = Buffer.from(target.payloadType === 'jwt' ? await this.#ctx.signJwt(event.body) : event.body)
      const res = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'zitadel-signature': signatureHeader(body, target.signingKey) },
        body,
        signal: AbortSignal.any([closing, AbortSignal.timeout(target.timeoutMs)])
      })
      // Read to the end, as Zitadel does: a receiver that never finishes its answer times out.
      await res.arrayBuffer()
      const ok = res.status >= 200 && res.status <= 299
      outcome = { status: res.status, ok, error: ok ? undefined : `the target answered HTTP ${res.status}` }
    } catch (err) {
      outcome = { status: undefined, ok: false, error: failure(err, target, closing) }
    }
    const delivery = Object.freeze({ ...base, ...outcome })
    this.#log.push(delivery)
    return delivery
  }
}

function failure (err: unknown, target: ResolvedTarget, closing: AbortSignal): string {
  if (closing.aborted) return 'not delivered: the emulator closed'
  if ((err as Error).name === 'TimeoutError') return `no answer within ${target.timeoutMs / 1000} s`
  // fetch wraps the network error (ECONNREFUSED, a port fetch never calls…) in its cause.
  const detail = [(err as { cause?: unknown }).cause, err].find((e): e is Error => e instanceof Error)
  return `no answer: ${detail?.message}`
}
