import type { FastifyBaseLogger } from 'fastify'
import {
  AudienceInvalidError, ClaimsInvalidError, ClientNotAllowedError, IssuerInvalidError,
  TokenExpiredError, TokenNotYetValidError, type ErrorConstructor, type ErrorFactory
} from './errors.js'
import { compileClaimsSchema } from './claims-schema.js'
import { MIN_NOT_BEFORE_TOLERANCE, type ResolvedOptions } from './options.js'

export type Claims = Record<string, unknown>

/**
 * Claims that mark a JWT as an ID token, which must not pass as an access
 * token. `azp` is the sure sign: zitadel/oidc pkg/oidc/token.go
 * NewIDTokenClaims always sets it, NewAccessTokenClaims never, and token
 * exchange issues ID tokens without the other three (zitadel
 * internal/api/oidc/token_exchange.go); those catch ID tokens of other shapes.
 */
const ID_TOKEN_CLAIMS = ['azp', 'nonce', 'at_hash', 'c_hash'] as const

/** `act` nests one level per actor (RFC 8693 §4.1); a real chain is one or two deep. */
const MAX_ACTOR_DEPTH = 8

const MAX_LOGGED_LENGTH = 256
const MAX_LOGGED_VALUES = 10

interface ClaimsCheckContext {
  readonly log: FastifyBaseLogger
  /** JWTs: refuse ID tokens. Introspection answers describe access tokens and may carry `auth_time`/`amr`. */
  readonly refuseIdTokens: boolean
}

/** For the claims of a verified JWT and of an introspection answer alike; throws the coded error. */
export function createClaimsCheck (opts: ResolvedOptions, errors: ErrorFactory, { log, refuseIdTokens }: ClaimsCheckContext): (claims: Claims, now: number) => void {
  const issuers = new Set(opts.issuers)
  const audience = new Set(opts.audience)
  const otherTenants = opts.otherTenantsAudience.length === 0 ? undefined : new Set(opts.otherTenantsAudience)
  const allowedClients = opts.allowedClientIds === undefined ? undefined : new Set(opts.allowedClientIds)
  const allowedSubjects = opts.allowedSubjects === undefined ? undefined : new Set(opts.allowedSubjects)
  const claimsCheck = opts.claimsSchema === undefined ? undefined : compileClaimsSchema(opts.claimsSchema)
  const tolerance = opts.clockTolerance
  const notBeforeTolerance = notBeforeToleranceOf(opts)

  function refuse (Err: ErrorConstructor, reason: string): never {
    log.debug({ reason }, 'zitadel: token refused')
    throw errors.auth(Err)
  }

  return function checkClaims (claims: Claims, now: number): void {
    const { exp, iat, nbf, sub, iss } = claims
    // Required and finite: JSON's 1e400 parses to Infinity and must not mean "forever".
    if (!isNumericDate(exp) || !isNumericDate(iat)) refuse(ClaimsInvalidError, 'exp or iat missing or not a number')
    // Without sub there is nobody to authorise.
    if (typeof sub !== 'string' || sub === '') refuse(ClaimsInvalidError, 'sub missing')
    // Debug lines show what was expected and what the claims said, never the token.
    if (typeof iss !== 'string' || !issuers.has(iss)) {
      // The usual cause: a custom domain not listed in `issuer`.
      log.debug({ iss: loggable(iss), issuers: opts.issuers }, 'zitadel: token refused for its issuer')
      throw errors.auth(IssuerInvalidError)
    }
    if (!hasAudience(claims.aud, audience)) {
      // The usual causes: a client id given as projectId, or a client that did not ask for the …:aud scope.
      log.debug({ aud: Array.isArray(claims.aud) ? claims.aud.slice(0, MAX_LOGGED_VALUES).map(loggable) : loggable(claims.aud), audience: opts.audience }, 'zitadel: token refused for its audience')
      throw errors.auth(AudienceInvalidError)
    }
    // Another tenant of this issuer could claim it too: its rules might judge it otherwise.
    if (otherTenants !== undefined && hasAudience(claims.aud, otherTenants)) refuse(AudienceInvalidError, 'its audience names another tenant too')
    // RFC 7519 §4.1.4: the token is expired at exp, not after it.
    if (now - tolerance >= exp) throw errors.auth(TokenExpiredError)
    if (nbf !== undefined && (!isNumericDate(nbf) || now + notBeforeTolerance < nbf)) throw errors.auth(TokenNotYetValidError)
    if (iat > now + notBeforeTolerance) throw errors.auth(TokenNotYetValidError)
    if (refuseIdTokens) {
      for (const name of ID_TOKEN_CLAIMS) {
        if (claims[name] !== undefined) refuse(ClaimsInvalidError, `an ID token (it carries ${name}), not an access token`)
      }
    }
    // RFC 8693 §4.2 and RFC 7662 §2.2: a space-separated string. Anything else is a malformed token, not "no scopes".
    if (claims.scope !== undefined && typeof claims.scope !== 'string') refuse(ClaimsInvalidError, 'scope is not a string')
    if (claims.act !== undefined && !isActor(claims.act, MAX_ACTOR_DEPTH)) refuse(ClaimsInvalidError, 'act is not an actor claim')
    // Bound to client_id only: Zitadel access tokens carry it (zitadel/oidc v3.29.1+),
    // while azp belongs to ID tokens and names the client an ID token was for.
    if (allowedClients !== undefined && !(typeof claims.client_id === 'string' && allowedClients.has(claims.client_id))) {
      log.debug({ clientId: loggable(claims.client_id), allowedClientIds: opts.allowedClientIds }, 'zitadel: token refused for its client_id')
      throw errors.auth(ClientNotAllowedError)
    }
    if (allowedSubjects !== undefined && !allowedSubjects.has(sub)) {
      log.debug({ sub: loggable(sub), allowedSubjects: opts.allowedSubjects }, 'zitadel: token refused for its subject')
      throw errors.auth(ClientNotAllowedError)
    }
    if (claimsCheck !== undefined && !claimsCheck.Check(claims)) throw errors.auth(ClaimsInvalidError)
  }
}

export function loggable (value: unknown): string {
  return typeof value === 'string' ? value.slice(0, MAX_LOGGED_LENGTH) : value === null ? 'null' : typeof value
}

export function notBeforeToleranceOf (opts: ResolvedOptions): number {
  return Math.max(opts.clockTolerance, MIN_NOT_BEFORE_TOLERANCE)
}

/** RFC 8693 §4.1: `{ sub, iss?, act? }`, nested once per actor. */
function isActor (value: unknown, depth: number): boolean {
  if (depth === 0 || value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const { sub, iss, act } = value as Claims
  return typeof sub === 'string' && sub !== '' && (iss === undefined || typeof iss === 'string') && (act === undefined || isActor(act, depth - 1))
}

function isNumericDate (value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

/** Does `aud` (a string or an array, RFC 7519 §4.1.3) name one of `accepted`? */
export function hasAudience (aud: unknown, accepted: ReadonlySet<string>): boolean {
  if (typeof aud === 'string') return accepted.has(aud)
  if (!Array.isArray(aud)) return false
  for (const a of aud) {
    if (typeof a === 'string' && accepted.has(a)) return true
  }
  return false
}
