import { createHmac, randomInt } from 'node:crypto'

/**
 * The bytes of an Actions v2 event request and its signature, as Zitadel
 * makes them. Nothing here talks HTTP.
 */

/** The aggregates whose events the emulator emits, and their versions (zitadel internal/repository/{user,usergrant,session}/aggregate.go). */
export const AGGREGATE_VERSIONS = { user: 'v2', usergrant: 'v1', session: 'v1' } as const

export type AggregateType = keyof typeof AGGREGATE_VERSIONS

/**
 * The request body of an event execution, field for field and in this
 * order: zitadel internal/repository/execution/queue.go ContextInfoEvent,
 * every field `omitempty`. `userID` is the event's editor (its creator),
 * not the user it is about.
 */
export interface EventEnvelope {
  aggregateID: string
  aggregateType: AggregateType
  resourceOwner: string
  instanceID: string
  version: string
  sequence: number
  event_type: string
  created_at: string
  userID: string
  /** The event's data; absent when the event has none (its Payload() is nil). */
  event_payload?: Record<string, unknown>
}

/**
 * JSON as Go's encoding/json writes it: compact, fields in the order given,
 * `<`, `>`, `&`, U+2028 and U+2029 escaped. The signature covers these exact
 * bytes, so a receiver that re-serialises before checking it fails.
 */
export function goJson (value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** The envelope's JSON; a missing payload leaves the key out, as `omitempty` does. */
export function eventBody (envelope: EventEnvelope): string {
  const { aggregateID, aggregateType, resourceOwner, instanceID, version, sequence, event_type: eventType, created_at: createdAt, userID, event_payload: payload } = envelope
  return goJson({ aggregateID, aggregateType, resourceOwner, instanceID, version, sequence, event_type: eventType, created_at: createdAt, userID, event_payload: payload })
}

/**
 * Go's time.RFC3339Nano in UTC: the fraction loses its trailing zeros, and
 * disappears when it is zero. Zitadel's clock has microseconds, the
 * emulator's milliseconds: receivers must read any number of digits.
 */
export function rfc3339Nano (ms: number): string {
  const iso = new Date(ms).toISOString()
  const fraction = iso.slice(20, 23).replace(/0+$/, '')
  return `${iso.slice(0, 19)}${fraction === '' ? '' : `.${fraction}`}Z`
}

/**
 * `ZITADEL-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
 * `"<t>." + body`, keyed with the signing key's UTF-8 bytes
 * (zitadel pkg/actions/signing.go ComputeSignatureHeader). `t` is the time
 * of sending, not the event's.
 */
export function signatureHeader (body: Buffer, signingKey: string, nowMs = Date.now()): string {
  const t = Math.floor(nowMs / 1000)
  const mac = createHmac('sha256', signingKey).update(`${t}.`).update(body).digest('hex')
  return `t=${t},v1=${mac}`
}

const KEY_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'

/** Zitadel's default signing-key generator: 36 letters and digits (cmd/defaults.yaml SecretGenerators.SigningKey). */
export function generateSigningKey (): string {
  let key = ''
  for (let i = 0; i < 36; i++) key += KEY_ALPHABET[randomInt(KEY_ALPHABET.length)]
  return key
}
