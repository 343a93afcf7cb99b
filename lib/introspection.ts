import type { FastifyBaseLogger } from 'fastify'
import { createClaimsCheck, type Claims } from './claims.js'
import { CLIENT_ASSERTION_TYPE, ClientAssertion } from './client-assertion.js'
import type { Clock } from './clock.js'
import type { Discovery } from './discovery.js'
import { TokenInactiveError, TokenMalformedError, type ErrorFactory } from './errors.js'
import { observeFetch } from './diagnostics.js'
import { IdpFetchError, postForm, type HttpSettings } from './http.js'
import { COMPACT_JWS } from './jws.js'
import type { IntrospectionCredentials, ResolvedIntrospection } from './introspection-options.js'
import type { ResolvedOptions } from './options.js'
import { TokenCache } from './token-cache.js'
import { tokenDigest } from './token-digest.js'
import type { UserFactory } from './user-factory.js'
import { requestUserOf, type ZitadelUser } from './user.js'
import type { RedisShared } from './redis.js'
import { seal, sealingKey, unseal } from './sealed.js'
import { deepFreeze } from './values.js'

/** An answer is a few KiB at most; this bounds memory. */
const MAX_ANSWER_BYTES = 64 * 1024
/**
 * Zitadel's opaque tokens are about a hundred characters; made-up long ones
 * must not make the API send Zitadel large requests.
 */
const MAX_OPAQUE_LENGTH = 4096
/**
 * Beyond this a new token gets 503: a flood of made-up tokens must not open a
 * socket each to Zitadel, with the API's credentials, until Zitadel
 * rate-limits the API for everyone.
 */
const MAX_CALLS_IN_FLIGHT = 64

/** An active token's claims, and what `request.user` is for it (made once, by `formatUser`). */
interface Verified {
  readonly claims: Claims
  readonly requestUser: unknown
}

interface Sharing {
  readonly redis: RedisShared
  readonly key: Buffer
}

/** `exp` on the wall clock, `deadline` (from `cacheMaxAge`) on the monotonic one. */
interface Answer extends Verified {
  readonly exp: number
  readonly deadline: number
}

/**
 * Tokens the API cannot verify itself, asked of Zitadel (RFC 7662,
 * zitadel/zitadel internal/api/oidc/introspect.go).
 *
 * - `active: true` answers pass the same claim rules as a JWT's, then are
 *   kept by a SHA-256 of the token until the earlier of `exp` and
 *   `cacheMaxAge`. `active: false` and failures are not kept.
 * - Requests with the same uncached token share one call.
 * - After a failed call, uncached tokens get 503 for `jwksCooldown` seconds
 *   without a call, so an outage is not met with a call per request.
 */
export function createIntrospector (opts: ResolvedOptions, settings: ResolvedIntrospection, credentials: IntrospectionCredentials, discovery: Discovery, log: FastifyBaseLogger, errors: ErrorFactory, httpSettings: HttpSettings, clock: Clock, users: UserFactory, shared: RedisShared | undefined) {
  const checkClaims = createClaimsCheck(opts, errors, { log, refuseIdTokens: false })
  const all = settings.tokens === 'all'
  const maxAge = settings.cacheMaxAge
  /** Answers shared with the other instances, sealed with a key derived from the API's credentials. */
  const sharing: Sharing | undefined = shared === undefined || maxAge === 0
    ? undefined
    : { redis: shared, key: sealingKey(credentials, opts.redisNamespace as string) }
  const cache = settings.cacheSize === 0 || maxAge === 0 ? undefined : new TokenCache<Answer>(settings.cacheSize, { admission: false })
  const inflight = new Map<string, Promise<Verified>>()
  const http = { ...httpSettings, maxBytes: MAX_ANSWER_BYTES }
  const { signal } = httpSettings
  const assertion = credentials.method === 'private_key_jwt' ? new ClientAssertion(credentials.key, opts.issuer) : undefined
  // RFC 6749 §2.3.1: each part form-urlencoded before base64.
  const basic = credentials.method === 'client_secret_basic'
    ? `Basic ${Buffer.from(`${formEncode(credentials.clientId)}:${formEncode(credentials.clientSecret)}`).toString('base64')}`
    : undefined
  const cooldownMs = opts.jwksCooldown * 1000
  /** No call before this (clock.now()), after a failed one. */
  let blockedUntil = -Infinity
  /** While calls fail: the first failure is logged loud, repeats at debug. */
  let failure: string | undefined
  let inactiveHinted = false
  let unsealedWarned = false

  function applies (token: string): boolean {
    return all || !COMPACT_JWS.test(token)
  }

  function cached (token: string): ZitadelUser | undefined {
    if (cache === undefined || token.length > MAX_OPAQUE_LENGTH) return undefined
    const answer = cache.get(tokenDigest(token))
    return answer !== undefined && clock.wallSeconds() < answer.exp && clock.now() < answer.deadline ? users.rebuild(token, answer.claims, answer.requestUser) : undefined
  }

  /** Every outcome, errors included, comes through the promise. */
  async function check (token: string): Promise<ZitadelUser> {
    if (token.length > MAX_OPAQUE_LENGTH) throw errors.auth(TokenMalformedError)
    const key = tokenDigest(token)
    let pending = inflight.get(key)
    if (pending === undefined) {
      if (inflight.size >= MAX_CALLS_IN_FLIGHT) throw errors.unavailable(1)
      pending = introspect(token, key)
      inflight.set(key, pending)
      const settle = () => { inflight.delete(key) }
      pending.then(settle, settle)
    }
    return pending.then((verified) => users.rebuild(token, verified.claims, verified.requestUser))
  }

  async function introspect (token: string, key: string): Promise<Verified> {
    // Another instance's answer first: Zitadel is asked once per token across the fleet.
    const stored = sharing === undefined ? undefined : await sharing.redis.get(`introspection:${key}`)
    const reused = stored === undefined ? undefined : fromShared(stored, token, key)
    if (reused !== undefined) return reused
    const wait = blockedUntil - clock.now()
    if (wait > 0) throw errors.unavailable(wait / 1000)
    let body: unknown
    try {
      const { introspectionEndpoint } = await discovery.endpoints()
      if (typeof introspectionEndpoint !== 'string') throw introspectionEndpoint
      const form = new URLSearchParams({ token, token_type_hint: 'access_token' })
      const headers: Record<string, string> = {}
      if (basic !== undefined) headers.authorization = basic
      if (assertion !== undefined) {
        form.set('client_assertion_type', CLIENT_ASSERTION_TYPE)
        form.set('client_assertion', assertion.current())
      }
      ;({ body } = await observeFetch('introspection', opts.issuer, () => postForm(introspectionEndpoint, form, headers, http)))
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new IdpFetchError('introspection answered with something other than a JSON object')
    } catch (err) {
      // Discovery and postForm throw only IdpFetchError.
      throw failed(err as IdpFetchError)
    }
    blockedUntil = -Infinity
    if (failure !== undefined) {
      failure = undefined
      log.info('zitadel: introspection works again')
    }

    const claims = body as Claims
    if (claims.active !== true) {
      hintInactive()
      throw errors.auth(TokenInactiveError)
    }
    const now = clock.wallSeconds()
    checkClaims(claims, now)
    deepFreeze(claims)
    const requestUser = requestUserOf(users.build(token, claims))
    const exp = claims.exp as number
    if (cache !== undefined && now < exp) cache.set(key, { claims, requestUser, exp, deadline: clock.now() + maxAge * 1000 })
    const until = Math.min(now + maxAge, exp)
    // Before answering: the next request may come to another instance.
    if (sharing !== undefined && until > now) await sharing.redis.set(`introspection:${key}`, seal(sharing.key, key, JSON.stringify({ claims, until })), (until - now) * 1000)
    return { claims, requestUser }
  }

  /**
   * An answer another instance stored: the same claim rules apply, and it is
   * kept here only as long as it is kept there. Undefined when it does not
   * pass, and Zitadel is asked.
   */
  function fromShared (stored: string, token: string, key: string): Verified | undefined {
    const opened = unseal((sharing as Sharing).key, key, stored)
    if (opened === undefined) {
      if (!unsealedWarned) log.warn('zitadel: an introspection answer in Redis does not carry this API\'s seal; it is ignored (another API with other credentials in the same redisNamespace, or a write that did not come from this API)')
      unsealedWarned = true
      return undefined
    }
    const { claims, until: storedUntil } = JSON.parse(opened) as { claims: Claims, until: number }
    const now = clock.wallSeconds()
    // Never longer than this instance would keep its own answer.
    const until = Math.min(storedUntil, now + maxAge)
    if (claims.active !== true || !(until > now)) return undefined
    try {
      checkClaims(claims, now)
    } catch {
      return undefined
    }
    deepFreeze(claims)
    const requestUser = requestUserOf(users.build(token, claims))
    cache?.set(key, { claims, requestUser, exp: claims.exp as number, deadline: clock.now() + (until - now) * 1000 })
    return { claims, requestUser }
  }

  function failed (err: IdpFetchError): Error {
    // Closing: aborted on purpose.
    if (signal.aborted) return errors.unavailable(opts.jwksCooldown)
    const { status, message: reason } = err
    const refused = isRefusedClient(err)
    // A 400 is about this one request, unless it refuses the API's credentials;
    // anything else is about the IdP or the API's set-up.
    if (status !== 400 || refused) blockedUntil = clock.now() + cooldownMs
    const first = failure !== reason
    failure = reason
    if (refused) {
      // A refused assertion (a clock far off, a key removed) is not reused.
      assertion?.drop()
      // The API is misconfigured, not the caller: 503, and a log line to act on.
      log[first ? 'error' : 'debug']({ issuer: opts.issuer, reason, clientId: settings.clientId, authMethod: settings.authMethod },
        'zitadel: introspection refused this API\'s client authentication; check the introspection option (keyFile, or clientId and clientSecret, of the API application)')
    } else {
      log[first ? 'warn' : 'debug']({ issuer: opts.issuer, reason, ...(err.hint === undefined ? {} : { hint: err.hint }), retryInSeconds: opts.jwksCooldown }, 'zitadel: introspection failed; tokens not in the cache get 503 until it works')
    }
    return errors.unavailable(opts.jwksCooldown)
  }

  function hintInactive (): void {
    if (inactiveHinted) return
    inactiveHinted = true
    log.warn({ projectId: opts.projectId },
      'zitadel: introspection answered active:false (logged once). Zitadel does so for expired and revoked tokens, and also for tokens whose audience lacks this API\'s project: ' +
      `clients must ask for the scope urn:zitadel:iam:org:project:id:${opts.projectId}:aud`)
  }

  function status (): IntrospectionStatus {
    return { coolingDown: clock.now() < blockedUntil, lastFailure: failure }
  }

  return { all, applies, cached, check, status }
}

/** What `fastify.zitadel.status()` says of introspection. */
export interface IntrospectionStatus {
  /** A call failed within the last `jwksCooldown` seconds: opaque tokens not in the cache get 503 meanwhile. */
  readonly coolingDown: boolean
  /** Why the last call failed (fixed text), or undefined when it worked or none failed. */
  readonly lastFailure: string | undefined
}

export type Introspector = ReturnType<typeof createIntrospector>

/**
 * zitadel/oidc `WriteError` refuses the API's credentials with 400
 * `unauthorized_client` (wrong) or `invalid_client` (unreadable), not 401; a
 * proxy in front may answer 401 or 403.
 */
function isRefusedClient ({ status, oauthError }: IdpFetchError): boolean {
  if (status === 401 || status === 403) return true
  return status === 400 && (oauthError === 'unauthorized_client' || oauthError === 'invalid_client')
}

/** application/x-www-form-urlencoded, as RFC 6749 Appendix B asks for Basic credentials. */
function formEncode (value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+')
}
