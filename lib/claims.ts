import {
  AudienceInvalidError, ClaimsInvalidError, ClientNotAllowedError, IssuerInvalidError,
  TokenExpiredError, TokenNotYetValidError, type ErrorFactory
} from './errors.js'
import { compileClaimsSchema, type ResolvedOptions } from './options.js'

export type Claims = Record<string, unknown>

/** Claims only ID tokens carry: an ID token must not be usable as an access token. */
const ID_TOKEN_CLAIMS = ['nonce', 'at_hash', 'c_hash'] as const

/**
 * The claim rules every accepted token meets, whether its claims come from a
 * verified JWT or from Zitadel's introspection answer: registered claims,
 * issuer, audience, time, no ID-token claims, `allowedClientIds`, then
 * `claimsSchema`. Built once per registration; throws the coded error.
 */
export function createClaimsCheck (opts: ResolvedOptions, errors: ErrorFactory): (claims: Claims, now: number) => void {
  const audience = new Set(opts.audience)
  const allowedClients = opts.allowedClientIds === undefined ? undefined : new Set(opts.allowedClientIds)
  const claimsCheck = opts.claimsSchema === undefined ? undefined : compileClaimsSchema(opts.claimsSchema)
  const tolerance = opts.clockTolerance

  return function checkClaims (claims: Claims, now: number): void {
    const { exp, iat, nbf, sub } = claims
    // Required and finite: JSON's 1e400 parses to Infinity and must not mean "forever".
    if (!isNumericDate(exp) || !isNumericDate(iat) || typeof sub !== 'string' || sub === '') throw errors.auth(ClaimsInvalidError)
    if (claims.iss !== opts.issuer) throw errors.auth(IssuerInvalidError)
    if (!hasAudience(claims.aud, audience)) throw errors.auth(AudienceInvalidError)
    // RFC 7519 §4.1.4: the token is expired at exp, not after it.
    if (now - tolerance >= exp) throw errors.auth(TokenExpiredError)
    if (nbf !== undefined && (!isNumericDate(nbf) || now + tolerance < nbf)) throw errors.auth(TokenNotYetValidError)
    if (iat > now + tolerance) throw errors.auth(TokenNotYetValidError)
    for (const name of ID_TOKEN_CLAIMS) {
      if (claims[name] !== undefined) throw errors.auth(ClaimsInvalidError)
    }
    // Bound to client_id only: Zitadel access tokens carry it (zitadel/oidc v3.29.1+),
    // while azp belongs to ID tokens and names the client an ID token was for.
    if (allowedClients !== undefined && !(typeof claims.client_id === 'string' && allowedClients.has(claims.client_id))) {
      throw errors.auth(ClientNotAllowedError)
    }
    if (claimsCheck !== undefined && !claimsCheck.Check(claims)) throw errors.auth(ClaimsInvalidError)
  }
}

function isNumericDate (value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

function hasAudience (aud: unknown, accepted: Set<string>): boolean {
  if (typeof aud === 'string') return accepted.has(aud)
  if (!Array.isArray(aud)) return false
  for (const a of aud) {
    if (typeof a === 'string' && accepted.has(a)) return true
  }
  return false
}

/**
 * Freezes a parsed JSON value and everything in it. Iterative: JSON may nest
 * deeper than the call stack.
 */
export function deepFreeze<T extends object> (root: T): T {
  const stack: object[] = [root]
  for (let value = stack.pop(); value !== undefined; value = stack.pop()) {
    Object.freeze(value)
    for (const key of Object.keys(value)) {
      const child: unknown = (value as Record<string, unknown>)[key]
      if (typeof child === 'object' && child !== null) stack.push(child)
    }
  }
  return root
}
