import { isUtf8 } from 'node:buffer'
import type { FastifyBaseLogger } from 'fastify'
import { createClaimsCheck, notBeforeToleranceOf, type Claims } from './claims.js'
import type { Clock } from './clock.js'
import { SignatureInvalidError, TokenMalformedError, TokenUnsupportedError, type ErrorFactory } from './errors.js'
import type { JwksCache } from './jwks.js'
import { COMPACT_JWS, isCanonicalBase64url, keyFitsAlgorithm, verifySignature, type VerificationKey } from './jws.js'
import type { Algorithm, ResolvedOptions } from './options.js'
import { TokenCache } from './token-cache.js'
import { createZitadelUser, type ZitadelUser } from './user.js'
import { deepFreeze } from './values.js'

/** What Zitadel's opaque tokens look like: base64url without dots (zitadel/oidc pkg/op/token.go CreateBearerToken). */
const OPAQUE = /^[A-Za-z0-9_-]+$/

/**
 * RFC 9068 §4 names `at+jwt`; Zitadel sends `JWT` (zitadel/oidc pkg/op/signer.go),
 * and servers built on zitadel/oidc before v2.9.0 send no `typ` at all. It
 * cannot tell access tokens from ID tokens (both are `JWT`): the claims do.
 */
const ACCESS_TOKEN_TYPE = /^(application\/)?(jwt|at\+jwt)$/i

/** A header that passed the header rules. */
interface CheckedHeader {
  readonly alg: Algorithm
  readonly kid: string
}

/** A key set holds a handful of keys; room for more, with a bound. */
const MAX_CHECKED_HEADERS = 64

/**
 * Checks compact JWS access tokens and turns them into users:
 * header → key → signature → registered claims → `claimsSchema` → user.
 * The payload is parsed only once the signature holds.
 *
 * Successes are kept in a token cache (`tokenCacheSize`), which the verifier
 * owns: `cached(token)` answers a token seen before without a signature
 * check, while the checks that depend on the time still hold and the key set
 * is still usable. The cache is emptied whenever a key goes away or changes
 * (JwksCache reports it). Failures are never kept.
 */
export function createTokenVerifier (opts: ResolvedOptions, jwks: JwksCache, errors: ErrorFactory, log: FastifyBaseLogger, clock: Clock) {
  // Without introspection, an opaque token (Zitadel's default for new apps) is the
  // likeliest first failure: say so in the log, at most once per cooldown.
  const hintOpaque = opts.introspection === undefined
  let opaqueHintedAt = -Infinity
  const algorithms = new Set<string>(opts.algorithms)
  const checkClaims = createClaimsCheck(opts, errors, { log, refuseIdTokens: true })
  const notBeforeTolerance = notBeforeToleranceOf(opts)
  const roleClaim = opts.roleClaim
  /**
   * Headers that passed, by their base64url segment: all tokens of one key
   * share a header, so it is decoded once per key rather than per token.
   * Emptied when full, so a stream of made-up headers cannot grow it.
   */
  const checkedHeaders = new Map<string, CheckedHeader>()
  // The cache holds the user alone, and reads the time claims from it: an entry
  // object made on every miss would be one V8 learns to allocate in the old
  // generation while the cache fills (allocation-site pretenuring), and from
  // then on every miss's user and claims would be old-generation garbage,
  // and RSS would peak at several times the cache's size.
  const cache = opts.tokenCacheSize === 0 ? undefined : new TokenCache<ZitadelUser>(opts.tokenCacheSize)
  // A cached token may have been signed by the key that went away.
  if (cache !== undefined) jwks.onKeysRemoved(() => { cache.clear() })

  /**
   * The user of a token that passed every check before, if that still holds:
   * before `exp` (no tolerance), not before `iat`/`nbf` (with their tolerance,
   * as on a first check), and with the key set still usable. Otherwise
   * undefined, and `verify` decides. Only exact tokens that passed every
   * check are cached, so a hit needs no syntax check either.
   */
  function cached (token: string): ZitadelUser | undefined {
    const user = cache?.get(token)
    if (user === undefined) return undefined
    const { exp, iat, nbf } = user.claims
    const now = clock.wallSeconds()
    return now < exp && now + notBeforeTolerance >= iat && (nbf === undefined || now + notBeforeTolerance >= nbf) && jwks.usable() ? user : undefined
  }

  /**
   * Every check, then caches the user; every outcome comes through the
   * promise. A token that is not even a compact JWS with an acceptable header
   * is refused before any key lookup or fetch.
   */
  async function verify (token: string): Promise<ZitadelUser> {
    const parts = COMPACT_JWS.exec(token)
    if (parts === null) {
      if (hintOpaque && OPAQUE.test(token)) hint()
      throw errors.auth(TokenMalformedError)
    }
    const [, headerB64, payloadB64, signatureB64] = parts as unknown as [string, string, string, string]
    // One encoding per token: a signature's unused trailing bits would otherwise
    // give each token 3 or 15 other spellings that verify (RFC 7515 §2, RFC 4648 §3.5),
    // defeating anything keyed on the token string.
    if (!isCanonicalBase64url(payloadB64) || !isCanonicalBase64url(signatureB64)) throw errors.auth(TokenMalformedError)

    let header = checkedHeaders.get(headerB64)
    if (header === undefined) {
      header = checkHeader(headerB64)
      if (checkedHeaders.size >= MAX_CHECKED_HEADERS) checkedHeaders.clear()
      checkedHeaders.set(headerB64, header)
    }
    const { alg, kid } = header
    const key = jwks.keyAtHand(kid)
    if (key === undefined) return verifyAfterFetch(token, alg, kid, headerB64.length, payloadB64, signatureB64)
    return verifyWithKey(token, alg, kid, key, headerB64.length, payloadB64, signatureB64)
  }

  function hint (): void {
    const now = clock.now()
    if (now < opaqueHintedAt + opts.jwksCooldown * 1000) return
    opaqueHintedAt = now
    log.warn('zitadel: refused a token that is not a JWT, most likely an opaque access token (Zitadel\'s default for new apps and service users). ' +
      'Set the app\'s (or service user\'s) access token type to JWT in the Zitadel console, or give the plugin the introspection option')
  }

  /** The header rules; what they depend on is fixed at registration, so a header that passed once always passes. */
  function checkHeader (headerB64: string): CheckedHeader {
    const header = isCanonicalBase64url(headerB64) ? decodeJson(headerB64) : undefined
    if (header === undefined) throw errors.auth(TokenMalformedError)
    const { alg, kid, typ } = header
    if (typeof alg !== 'string' || !algorithms.has(alg)) throw errors.auth(TokenUnsupportedError)
    if (typ !== undefined && !(typeof typ === 'string' && ACCESS_TOKEN_TYPE.test(typ))) throw errors.auth(TokenUnsupportedError)
    // RFC 7515 §4.1.11: extensions we do not understand must be refused. `jku`, `x5u`,
    // `jwk` and `x5c` are never read: keys come from the issuer's JWKS only.
    if (header.crit !== undefined) throw errors.auth(TokenUnsupportedError)
    if (typeof kid !== 'string' || kid === '') throw errors.auth(TokenMalformedError)
    return { alg: alg as Algorithm, kid }
  }

  async function verifyAfterFetch (token: string, alg: Algorithm, kid: string, headerLength: number, payloadB64: string, signatureB64: string): Promise<ZitadelUser> {
    await jwks.refreshFor(kid)
    return verifyWithKey(token, alg, kid, jwks.lookup(kid), headerLength, payloadB64, signatureB64)
  }

  async function verifyWithKey (token: string, alg: Algorithm, kid: string, key: VerificationKey, headerLength: number, payloadB64: string, signatureB64: string): Promise<ZitadelUser> {
    if (!keyFitsAlgorithm(key, alg)) throw errors.auth(TokenUnsupportedError)
    const signingInputLength = headerLength + 1 + payloadB64.length
    const checked = verifySignature(alg, key, token.slice(0, signingInputLength), Buffer.from(signatureB64, 'base64url'))
    if (!(typeof checked === 'boolean' ? checked : await checked)) throw errors.auth(SignatureInvalidError)
    // The signature was checked off the event loop, and a fetch may have
    // removed or changed the key meanwhile: what it vouched for no longer
    // counts, so the token is judged again against the key set as it is now
    // (401 when the kid is gone, 503 when the keys are no longer usable). From
    // here to the cache there is no await, so no fetch can slip in again.
    if (jwks.keyAtHand(kid) !== key) return verifyWithKey(token, alg, kid, jwks.lookup(kid), headerLength, payloadB64, signatureB64)

    const claims = decodeJson(payloadB64)
    if (claims === undefined) throw errors.auth(TokenMalformedError)
    const now = clock.wallSeconds()
    checkClaims(claims, now)
    // Frozen all the way down, on a miss as on a hit: one request's handler
    // cannot change what another request sees.
    const user = createZitadelUser(token, deepFreeze(claims), roleClaim)
    // A token accepted only thanks to the tolerance on exp is not cached.
    if (cache !== undefined && now < (claims.exp as number)) cache.set(token, user)
    return user
  }

  return { cached, verify }
}

export type TokenVerifier = ReturnType<typeof createTokenVerifier>

/** A base64url segment holding a JSON object in valid UTF-8 (RFC 7519 §7.2), or undefined. */
function decodeJson (segment: string): Claims | undefined {
  const bytes = Buffer.from(segment, 'base64url')
  // toString would turn invalid bytes into U+FFFD, and two readers could then disagree on a claim.
  if (!isUtf8(bytes)) return undefined
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'))
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Claims : undefined
  } catch {
    return undefined
  }
}
