import { createHash, timingSafeEqual } from 'node:crypto'

/** RFC 7636 §4.1-4.2: 43 to 128 unreserved characters, for verifiers and challenges alike. */
const PKCE_VALUE = /^[A-Za-z0-9._~-]{43,128}$/

export function isPkceValue (value: string): boolean {
  return PKCE_VALUE.test(value)
}

/** BASE64URL(SHA256(ASCII(code_verifier))) */
export function s256 (verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url')
}

/** Constant time. */
export function verifyS256 (verifier: string, challenge: string): boolean {
  if (!isPkceValue(verifier)) return false
  const expected = Buffer.from(challenge)
  const actual = Buffer.from(s256(verifier))
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}
