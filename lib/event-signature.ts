import { createHmac, timingSafeEqual } from 'node:crypto'

/** At most this many `v1=` entries are looked at: Zitadel sends one. */
const MAX_SIGNATURES = 8
const HEX_SHA256 = /^[0-9a-f]{64}$/

/**
 * Checks Zitadel's `ZITADEL-Signature: t=<unix seconds>,v1=<hex>` header
 * over the exact body: HMAC-SHA256 with the target's signing key of
 * `"<t>." + body` (zitadel/zitadel pkg/actions/signing.go,
 * ComputeSignatureHeader). True when any `v1` matches any of `keys` and `t`
 * is within `maxAgeSeconds` of `nowSeconds` either way: an older request
 * may be a replay, a later one comes from a clock that is off.
 */
export function validEventSignature (header: unknown, body: Buffer, keys: readonly string[], nowSeconds: number, maxAgeSeconds: number): boolean {
  if (typeof header !== 'string' || header.length > 1024) return false
  let t: number | undefined
  const signatures: Buffer[] = []
  for (const part of header.split(',')) {
    const [name, value] = part.trim().split('=', 2)
    if (name === 't' && value !== undefined && /^\d{1,12}$/.test(value)) t = Number(value)
    // Unknown schemes are ignored, as Zitadel's own parser does.
    else if (name === 'v1' && value !== undefined && HEX_SHA256.test(value) && signatures.length < MAX_SIGNATURES) signatures.push(Buffer.from(value, 'hex'))
  }
  if (t === undefined || signatures.length === 0 || Math.abs(nowSeconds - t) > maxAgeSeconds) return false
  for (const key of keys) {
    const expected = createHmac('sha256', key).update(`${t}.`).update(body).digest()
    // timingSafeEqual: how much of a guess matches must not show in the answer's timing.
    if (signatures.some((s) => timingSafeEqual(s, expected))) return true
  }
  return false
}
