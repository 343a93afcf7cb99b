/**
 * Tokens are read from the Authorization header only (RFC 6750 §2.1), never
 * the body or query (§2.2-2.3 are optional and leak tokens into logs).
 */

/** RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

/** No Authorization header, or another scheme: not ours to judge. */
export const NONE = Object.freeze({ kind: 'none' as const })
/** "Bearer" with nothing usable after it: 400 invalid_request. */
export const INVALID = Object.freeze({ kind: 'invalid' as const })

/** Not yet checked against `b64token`: authenticate.ts does that after the caches. */
export function bearerCredential (header: string | undefined): string | typeof NONE | typeof INVALID {
  if (header === undefined) return NONE
  // The auth-scheme is case-insensitive (RFC 9110 §11.1).
  if (header.length < 6 || header.slice(0, 6).toLowerCase() !== 'bearer') return NONE
  if (header.length === 6) return INVALID
  // "BearerX…" is another scheme, not a Bearer credential.
  const sep = header.charCodeAt(6)
  if (sep !== 0x20 && sep !== 0x09) return NONE
  return header.slice(7).trim()
}

/** Node's `headers.authorization` keeps the first field only; `rawHeaders` has them all. */
export function hasOneAuthorization (rawHeaders: readonly string[]): boolean {
  let seen = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    if (name.length === 13 && name.toLowerCase() === 'authorization' && ++seen > 1) return false
  }
  return true
}

export function isB64Token (credential: string): boolean {
  return B64TOKEN.test(credential)
}
