/**
 * Reads the access token from `Authorization: Bearer <token>` (RFC 6750 §2.1).
 * The header is the only place a token is taken from: never the query string
 * or the body (RFC 6750 §2.2-2.3 are optional and leak tokens into logs).
 */

/** RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

export type BearerResult =
  | { kind: 'none' } // no Authorization header, or another scheme: not ours to judge
  | { kind: 'invalid' } // "Bearer" with nothing usable after it: 400 invalid_request
  | { kind: 'token', token: string }

const NONE: BearerResult = Object.freeze({ kind: 'none' })
const INVALID: BearerResult = Object.freeze({ kind: 'invalid' })

export function extractBearer (header: string | undefined): BearerResult {
  if (header === undefined) return NONE
  // The auth-scheme is case-insensitive (RFC 9110 §11.1).
  if (header.length < 6 || header.slice(0, 6).toLowerCase() !== 'bearer') return NONE
  if (header.length === 6) return INVALID
  // "BearerX…" is another scheme, not a Bearer credential.
  const sep = header.charCodeAt(6)
  if (sep !== 0x20 && sep !== 0x09) return NONE
  const token = header.slice(7).trim()
  if (!B64TOKEN.test(token)) return INVALID
  return { kind: 'token', token }
}
