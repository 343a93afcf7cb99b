import {
  AudienceInvalidError, ClaimsInvalidError, ClientNotAllowedError, IssuerInvalidError,
  SignatureInvalidError, TokenExpiredError, TokenMalformedError, TokenNotYetValidError,
  TokenUnsupportedError, type ErrorFactory
} from './errors.js'
import type { JwksCache } from './jwks.js'
import { keyFitsAlgorithm, verifySignature } from './jws.js'
import { compileClaimsSchema, type Algorithm, type ResolvedOptions } from './options.js'

export type Claims = Record<string, unknown>

/** Three base64url segments (RFC 7515 §7.1); anything else is not a JWS. */
const COMPACT_JWS = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/
/** RFC 9068 §4 names `at+jwt`; Zitadel sends `JWT` (zitadel/oidc pkg/op/signer.go). */
const ACCESS_TOKEN_TYPE = /^(application\/)?(jwt|at\+jwt)$/i
/** Claims only ID tokens carry: an ID token must not be usable as an access token. */
const ID_TOKEN_CLAIMS = ['nonce', 'at_hash', 'c_hash'] as const

/**
 * Checks a compact JWS access token and returns its claims:
 * header → key → signature → registered claims → `claimsSchema`.
 * The payload is parsed only once the signature holds.
 */
export function createTokenVerifier (opts: ResolvedOptions, jwks: JwksCache, errors: ErrorFactory) {
  const algorithms = new Set<string>(opts.algorithms)
  const audience = new Set(opts.audience)
  const allowedClients = opts.allowedClientIds === undefined ? undefined : new Set(opts.allowedClientIds)
  const claimsCheck = opts.claimsSchema === undefined ? undefined : compileClaimsSchema(opts.claimsSchema)
  const tolerance = opts.clockTolerance

  return async function verifyToken (token: string): Promise<Claims> {
    const parts = COMPACT_JWS.exec(token)
    if (parts === null) throw errors.auth(TokenMalformedError)
    const [, headerB64, payloadB64, signatureB64] = parts as unknown as [string, string, string, string]

    const header = decodeJson(headerB64)
    if (header === undefined) throw errors.auth(TokenMalformedError)
    const { alg, kid, typ } = header
    if (typeof alg !== 'string' || !algorithms.has(alg)) throw errors.auth(TokenUnsupportedError)
    if (typeof typ !== 'string' || !ACCESS_TOKEN_TYPE.test(typ)) throw errors.auth(TokenUnsupportedError)
    // RFC 7515 §4.1.11: extensions we do not understand must be refused. `jku`, `x5u`,
    // `jwk` and `x5c` are never read: keys come from the issuer's JWKS only.
    if (header.crit !== undefined) throw errors.auth(TokenUnsupportedError)
    if (typeof kid !== 'string' || kid === '') throw errors.auth(TokenMalformedError)

    const key = await jwks.getKey(kid)
    if (!keyFitsAlgorithm(key, alg as Algorithm)) throw errors.auth(TokenUnsupportedError)
    const signingInputLength = headerB64.length + 1 + payloadB64.length
    if (!verifySignature(alg as Algorithm, key, token.slice(0, signingInputLength), Buffer.from(signatureB64, 'base64url'))) {
      throw errors.auth(SignatureInvalidError)
    }

    const claims = decodeJson(payloadB64)
    if (claims === undefined) throw errors.auth(TokenMalformedError)
    checkClaims(claims)
    return claims
  }

  function checkClaims (claims: Claims): void {
    const now = Date.now() / 1000
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

export type TokenVerifier = ReturnType<typeof createTokenVerifier>

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

/** A base64url segment holding a JSON object, or undefined. */
function decodeJson (segment: string): Claims | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Claims : undefined
  } catch {
    return undefined
  }
}
