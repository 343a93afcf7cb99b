import createError from '@fastify/error'

/**
 * Messages are fixed ASCII text: no claim, key id or token is ever echoed (a
 * reflected value could smuggle quotes into `WWW-Authenticate`, and a token
 * in a response or a log is a leaked credential). No stack traces for request
 * errors: they are expected outcomes on a hot path.
 */
const request = (code: string, message: string, statusCode: number) =>
  createError(code, message, statusCode, undefined, false)

export const TokenMissingError = request('ZITADEL_AUTH_TOKEN_MISSING', 'Authentication required', 401)
export const BadRequestError = request('ZITADEL_AUTH_BAD_REQUEST', 'The Authorization header is not a valid Bearer credential', 400)
export const TokenMalformedError = request('ZITADEL_AUTH_TOKEN_MALFORMED', 'The access token is malformed', 401)
export const TokenUnsupportedError = request('ZITADEL_AUTH_TOKEN_UNSUPPORTED', 'The access token uses an unsupported type or algorithm', 401)
export const KeyUnknownError = request('ZITADEL_AUTH_KEY_UNKNOWN', 'The access token was signed with an unknown key', 401)
export const SignatureInvalidError = request('ZITADEL_AUTH_SIGNATURE_INVALID', 'The access token signature is invalid', 401)
export const TokenExpiredError = request('ZITADEL_AUTH_TOKEN_EXPIRED', 'The access token has expired', 401)
export const TokenNotYetValidError = request('ZITADEL_AUTH_TOKEN_NOT_YET_VALID', 'The access token is not valid yet', 401)
export const IssuerInvalidError = request('ZITADEL_AUTH_ISSUER_INVALID', 'The access token was issued by another issuer', 401)
export const AudienceInvalidError = request('ZITADEL_AUTH_AUDIENCE_INVALID', 'The access token is not meant for this API', 401)
export const ClientNotAllowedError = request('ZITADEL_AUTH_CLIENT_NOT_ALLOWED', 'The access token was issued to a client this API does not accept', 401)
export const ClaimsInvalidError = request('ZITADEL_AUTH_CLAIMS_INVALID', 'The access token claims are not accepted', 401)
export const TokenRevokedError = request('ZITADEL_AUTH_TOKEN_REVOKED', 'The access token has been revoked', 401)
export const TokenInactiveError = request('ZITADEL_AUTH_TOKEN_INACTIVE', 'The access token is not active', 401)
export const RoleRequiredError = request('ZITADEL_AUTH_ROLE_REQUIRED', 'The access token lacks a required role', 403)
export const ScopeRequiredError = request('ZITADEL_AUTH_SCOPE_REQUIRED', 'The access token lacks a required scope', 403)
export const UserRefusedError = request('ZITADEL_AUTH_USER_REFUSED', 'The access token\'s user is not accepted', 401)
export const ClaimRequiredError = request('ZITADEL_AUTH_CLAIM_REQUIRED', 'The access token lacks a required claim value', 403)
export const ForbiddenError = request('ZITADEL_AUTH_FORBIDDEN', 'The access token does not grant access to this resource', 403)
export const TokenRejectedError = request('ZITADEL_AUTH_TOKEN_REJECTED', 'The access token is not accepted', 401)
export const TenantNotAllowedError = request('ZITADEL_AUTH_TENANT_NOT_ALLOWED', 'The access token was issued for a tenant this route does not accept', 403)
export const DelegationRefusedError = request('ZITADEL_AUTH_DELEGATION_REFUSED', 'The access token was issued to someone acting for the user', 403)
export const IdpUnavailableError = request('ZITADEL_AUTH_IDP_UNAVAILABLE', 'The identity provider cannot be reached; try again later', 503)

/** The `zitadelEvents` route: a request that is not from Zitadel (its `ZITADEL-Signature` does not hold), and a signed body that is no event. */
export const EventRefusedError = request('ZITADEL_AUTH_EVENT_REFUSED', 'The event request is not signed with the target\'s signing key', 401)
export const EventMalformedError = request('ZITADEL_AUTH_EVENT_MALFORMED', 'The event request does not hold a Zitadel event', 400)

/** Thrown at registration (never at request time) when an option is wrong. */
export const InvalidOptionError = createError<[string]>('ZITADEL_AUTH_INVALID_OPTION', 'fastify-zitadel-auth: %s', 500, TypeError)
/**
 * A guard factory that Fastify called as a hook: `app.addHook('preHandler', app.zitadel.requireAuth)`
 * without the call. The one setup mistake found only on a request (500), as
 * app-level hooks are invisible to the plugin before then.
 */
export const GuardNotCalledError = createError<[string]>('ZITADEL_AUTH_GUARD_NOT_CALLED', 'fastify-zitadel-auth: %s', 500, TypeError)

/** `waitForKeys` is set and the first key load failed: `app.ready()` rejects with it, naming the issuer and why. */
export const KeysNotLoadedError = createError<[string]>('ZITADEL_AUTH_KEYS_NOT_LOADED', 'fastify-zitadel-auth: %s', 500)

export type ErrorConstructor = typeof TokenMissingError
type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope'

/** RFC 6750 §3.1 error codes; none for a request without a token (§3.1). */
const bearerCodes = new Map<ErrorConstructor, BearerErrorCode>([
  [BadRequestError, 'invalid_request'],
  [TokenMalformedError, 'invalid_token'],
  [TokenUnsupportedError, 'invalid_token'],
  [KeyUnknownError, 'invalid_token'],
  [SignatureInvalidError, 'invalid_token'],
  [TokenExpiredError, 'invalid_token'],
  [TokenNotYetValidError, 'invalid_token'],
  [IssuerInvalidError, 'invalid_token'],
  [AudienceInvalidError, 'invalid_token'],
  [ClientNotAllowedError, 'invalid_token'],
  [ClaimsInvalidError, 'invalid_token'],
  [TokenInactiveError, 'invalid_token'],
  [TokenRevokedError, 'invalid_token'],
  [TokenRejectedError, 'invalid_token'],
  [UserRefusedError, 'invalid_token'],
  [RoleRequiredError, 'insufficient_scope'],
  [ScopeRequiredError, 'insufficient_scope'],
  [ClaimRequiredError, 'insufficient_scope'],
  [ForbiddenError, 'insufficient_scope'],
  // A token that passed its tenant's checks is valid; the route gives that tenant no access.
  [TenantNotAllowedError, 'insufficient_scope'],
  // RFC 6750 §3.1: the request needs more than the token grants (the user in person).
  [DelegationRefusedError, 'insufficient_scope']
])

export type AuthError = InstanceType<ErrorConstructor> & { headers?: Readonly<Record<string, string>> | undefined }

/** `WWW-Authenticate` depends only on the realm, so it is built once per registration. */
export function createErrorFactory (realm: string) {
  const challenges = new Map<ErrorConstructor, Readonly<Record<string, string>>>()
  for (const Err of [TokenMissingError, ...bearerCodes.keys()]) {
    challenges.set(Err, Object.freeze({ 'www-authenticate': challenge(realm, Err) }))
  }

  return {
    auth (Err: ErrorConstructor): AuthError {
      const err: AuthError = new Err()
      err.headers = challenges.get(Err)
      return err
    },
    /**
     * RFC 6750 §3 lets the challenge name the scope needed. The scopes are the
     * route's own, checked at declaration to be `scope-token`s.
     */
    scope (scopes: readonly string[]): AuthError {
      const err: AuthError = new ScopeRequiredError()
      err.headers = { 'www-authenticate': `${challenge(realm, ScopeRequiredError)}, scope="${scopes.join(' ')}"` }
      return err
    },
    /** `Retry-After` (RFC 9110 §10.2.3) takes whole seconds. */
    unavailable (retryAfterSeconds: number): AuthError {
      const err: AuthError = new IdpUnavailableError()
      err.headers = { 'retry-after': String(Math.max(1, Math.ceil(retryAfterSeconds))) }
      return err
    }
  }
}

export type ErrorFactory = ReturnType<typeof createErrorFactory>

function challenge (realm: string, Err: ErrorConstructor): string {
  const code = bearerCodes.get(Err)
  if (code === undefined) return `Bearer realm="${realm}"`
  return `Bearer realm="${realm}", error="${code}", error_description="${new Err().message}"`
}

export function invalidOption (message: string): never {
  throw new InvalidOptionError(message)
}
