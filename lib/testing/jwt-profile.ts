import { compactVerify, decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose'
import type { Directory, User } from './directory.js'
import { OAuthError } from './http.js'

/** zitadel/zitadel token_jwt_profile.go: NewJWTProfileVerifier(…, time.Hour, time.Second, …) */
const MAX_AGE = 3600
const OFFSET = 1

function invalid (description: string): never {
  throw new OAuthError('invalid_grant', description)
}

/**
 * Checks a JWT-profile assertion (RFC 7523 §3) as Zitadel does
 * (zitadel/oidc op.VerifyJWTAssertion): `aud` contains the issuer, `exp` is
 * in the future, `iat` is present, not in the future and at most an hour old,
 * the subject is a user, and the signature verifies with that user's key named
 * by the header `kid`. The documented rules are also enforced: `iss` equals
 * `sub`, and the assertion lives at most an hour (`exp` − `iat` ≤ 3600).
 * Returns the user; every failure is `invalid_grant`.
 */
export async function verifyJwtProfileAssertion (assertion: string, issuer: string, directory: Directory): Promise<User> {
  let header: ReturnType<typeof decodeProtectedHeader>
  let claims: JWTPayload
  try {
    header = decodeProtectedHeader(assertion)
    claims = decodeJwt(assertion)
  } catch {
    invalid('the assertion is not a signed JWT')
  }
  const { iss, sub, aud, exp, iat } = claims
  const t = Date.now() / 1000
  if (!(aud === issuer || (Array.isArray(aud) && aud.includes(issuer)))) invalid('the assertion\'s aud must contain the issuer')
  if (typeof exp !== 'number' || t + OFFSET >= exp) invalid('the assertion has expired')
  if (typeof iat !== 'number' || iat === 0) invalid('the assertion has no iat')
  if (iat > Math.round(t + OFFSET)) invalid('the assertion\'s iat is in the future')
  if (iat < Math.round(t - MAX_AGE)) invalid('the assertion\'s iat is more than an hour old')
  if (exp - iat > MAX_AGE) invalid('the assertion must expire at most an hour after iat')
  if (typeof sub !== 'string' || iss !== sub) invalid('the assertion\'s iss and sub must both be the user id')
  const user = directory.user(sub)
  const key = typeof header.kid === 'string' ? user?.keys.get(header.kid) : undefined
  if (user === undefined || key === undefined) invalid('no key with this kid for this user')
  try {
    await compactVerify(assertion, key, { algorithms: ['RS256'] })
  } catch {
    invalid('the assertion\'s signature is invalid')
  }
  return user
}
