import type { FastifyBaseLogger } from 'fastify'
import { createClaimsCheck, notBeforeToleranceOf } from './claims.js'
import type { Clock } from './clock.js'
import { SignatureInvalidError, TokenMalformedError, TokenUnsupportedError, type ErrorFactory } from './errors.js'
import type { JwksCache } from './jwks.js'
import { COMPACT_JWS, decodeJsonSegment, isCanonicalBase64url, keyFitsAlgorithm, verifySignature, type VerificationKey } from './jws.js'
import type { Algorithm, ResolvedOptions } from './options.js'
import { TokenCache } from './token-cache.js'
import type { UserFactory } from './user-factory.js'
import type { ZitadelUser } from './user.js'
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

/** A compact JWS whose syntax and header passed: what the key, signature and claims checks need. */
interface ParsedJws {
  readonly token: string
  readonly alg: Algorithm
  readonly kid: string
  /** `header.payload`, exactly as it came: what the signature covers. */
  readonly signingInput: string
  readonly payloadB64: string
  readonly signature: Buffer
}

/** A key set holds a handful of keys; room for more, with a bound. */
const MAX_CHECKED_HEADERS = 64

/**
 * Checks compact JWS access tokens and turns them into users:
 * header → key → signature → registered claims → `claimsSchema` → user.
 * The claims are looked at only once the signature holds (with several
 * tenants, tenant-router.ts reads `iss` and `aud` before, only to choose).
 *
 * Successes are kept in a token cache (`tokenCacheSize`), which the verifier
 * owns: `cached(token)` answers a token seen before without a signature
 * check, while the checks that depend on the time still hold and the key set
 * is still usable. The cache is emptied whenever a key goes away or changes
 * (JwksCache reports it). Failures are never kept.
 */
export function createTokenVerifier (opts: ResolvedOptions, jwks: JwksCache, errors: ErrorFactory, log: FastifyBaseLogger, clock: Clock, users: UserFactory) {
  // Without introspection, an opaque token (Zitadel's default for new apps) is the
  // likeliest first failure: say so in the log, at most once per cooldown.
  const hintOpaque = opts.introspection === undefined
  let opaqueHintedAt = -Infinity
  const algorithms = new Set<string>(opts.algorithms)
  const checkClaims = createClaimsCheck(opts, errors, { log, refuseIdTokens: true })
  const notBeforeTolerance = notBeforeToleranceOf(opts)
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
    const jws = parse(token)
    return jwks.withKey(jws.kid, (key) => checkSignature(jws, key), () => accept(jws))
  }

  /** The token's parts, once its syntax and header passed; throws a coded 401 otherwise. */
  function parse (token: string): ParsedJws {
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
    return {
      token,
      alg: header.alg,
      kid: header.kid,
      signingInput: token.slice(0, headerB64.length + 1 + payloadB64.length),
      payloadB64,
      signature: Buffer.from(signatureB64, 'base64url')
    }
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
    const header = isCanonicalBase64url(headerB64) ? decodeJsonSegment(headerB64) : undefined
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

  /** Rejects with the coded 401 when the signature does not hold with `key`. */
  async function checkSignature (jws: ParsedJws, key: VerificationKey): Promise<void> {
    if (!keyFitsAlgorithm(key, jws.alg)) throw errors.auth(TokenUnsupportedError)
    if (!await verifySignature(jws.alg, key, jws.signingInput, jws.signature)) throw errors.auth(SignatureInvalidError)
  }

  /** The claims checks, then the user, cached; runs once the signature holds with the issuer's current key. */
  function accept (jws: ParsedJws): ZitadelUser {
    const claims = decodeJsonSegment(jws.payloadB64)
    if (claims === undefined) throw errors.auth(TokenMalformedError)
    const now = clock.wallSeconds()
    checkClaims(claims, now)
    // Frozen all the way down, on a miss as on a hit: one request's handler
    // cannot change what another request sees.
    const user = users.build(jws.token, deepFreeze(claims))
    // A token accepted only thanks to the tolerance on exp is not cached.
    if (cache !== undefined && now < (claims.exp as number)) cache.set(jws.token, user)
    return user
  }

  return { cached, verify }
}

export type TokenVerifier = ReturnType<typeof createTokenVerifier>
