import type { KeyObject } from 'node:crypto'
import { decodeJws, verifyJws } from './jws.js'

/**
 * zitadel/zitadel builds both of its assertion verifiers with
 * `(…, time.Hour, time.Second)`: NewJWTProfileVerifier for the JWT-profile
 * grant (token_jwt_profile.go) and NewJWTProfileVerifierKeySet for
 * `private_key_jwt` at introspection (introspect.go).
 */
const MAX_AGE = 3600
const OFFSET = 1

interface AssertionRules {
  issuer: string
  /** For the messages. */
  signer: 'user' | 'client'
  keyOf: (sub: string, kid: string) => KeyObject | undefined
  /** Throws the endpoint's own error. */
  fail: (description: string) => never
}

/**
 * A JWT assertion (RFC 7523 §3) checked as zitadel/oidc op.VerifyJWTAssertion
 * does: no cap on `exp` − `iat` whatever the docs say, no `jti` required, no
 * replay refused. Returns the signer's id (`sub`).
 */
export async function verifyJwtAssertion (assertion: string, rules: AssertionRules): Promise<string> {
  const { issuer, signer, keyOf } = rules
  function fail (description: string): never {
    return rules.fail(description)
  }
  const jws = decodeJws(assertion)
  if (jws === undefined) fail('the assertion is not a signed JWT')
  const { iss, sub, aud, exp, iat } = jws.payload
  const t = Date.now() / 1000
  if (!(aud === issuer || (Array.isArray(aud) && aud.includes(issuer)))) fail('the assertion\'s aud must contain the issuer')
  if (typeof exp !== 'number' || t + OFFSET >= exp) fail('the assertion has expired')
  if (typeof iat !== 'number' || iat === 0) fail('the assertion has no iat')
  if (iat > Math.round(t + OFFSET)) fail('the assertion\'s iat is in the future')
  if (iat < Math.round(t - MAX_AGE)) fail('the assertion\'s iat is more than an hour old')
  if (typeof sub !== 'string' || iss !== sub) fail(`the assertion's iss and sub must both be the ${signer} id`)
  const key = typeof jws.header.kid === 'string' ? keyOf(sub, jws.header.kid) : undefined
  if (key === undefined) fail(`no key with this kid for this ${signer}`)
  // zitadel/oidc CheckSignature without a list of algorithms: RS256 only.
  if (!await verifyJws(jws, 'RS256', key)) fail('the assertion\'s signature is invalid')
  return sub
}
