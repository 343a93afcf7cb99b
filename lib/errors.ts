import createError from '@fastify/error'

/**
 * Every error the plugin sends, with a stable code, its HTTP status and, for
 * the 4xx errors, the RFC 6750 §3.1 error code that goes into
 * `WWW-Authenticate`.
 *
 * Messages are fixed ASCII text: no claim, key id or token is ever echoed
 * (a reflected value could smuggle quotes into the header, and a token in a
 * response or a log is a leaked credential).
 *
 * Stack traces are not captured for request errors: they are expected
 * outcomes on a hot path, and a stack says nothing about a bad token.
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
export const TokenInactiveError = request('ZITADEL_AUTH_TOKEN_INACTIVE', 'The access token is not active', 401)
export const RoleRequiredError = request('ZITADEL_AUTH_ROLE_REQUIRED', 'The access token lacks a required role', 403)
export const ScopeRequiredError = request('ZITADEL_AUTH_SCOPE_REQUIRED', 'The access token lacks a required scope', 403)
export const DelegationRefusedError = request('ZITADEL_AUTH_DELEGATION_REFUSED', 'The access token was issued to someone acting for the user', 403)
export const IdpUnavailableError = request('ZITADEL_AUTH_IDP_UNAVAILABLE', 'The identity provider cannot be reached; try again later', 503)

/** Thrown at registration (never at request time) when an option is wrong. */
export const InvalidOptionError = createError<[string]>('ZITADEL_AUTH_INVALID_OPTION', 'fastify-zitadel-auth: %s', 500, TypeError)
/**
 * A guard factory that Fastify called as a hook: `app.addHook('preHandler', app.zitadel.requireAuth)`
 * without the call. App-level hooks are not visible to the plugin before a
 * request, so this is the one setup mistake found on a request (500, logged by Fastify).
 */
export const GuardNotCalledError = createError<[string]>('ZITADEL_AUTH_GUARD_NOT_CALLED', 'fastify-zitadel-auth: %s', 500, TypeError)

export type ErrorConstructor = typeof TokenMissingError
type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope'

/** The RFC 6750 §3.1 error code of each request error; absent: none is sent (§3.1: no token at all). */
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
  [RoleRequiredError, 'insufficient_scope'],
  [ScopeRequiredError, 'insufficient_scope'],
  // RFC 6750 §3.1: the request needs more than the token grants (the user in person).
  [DelegationRefusedError, 'insufficient_scope']
])

export type AuthError = InstanceType<ErrorConstructor> & { headers?: Readonly<Record<string, string>> | undefined }

/**
 * Builds the errors of one registration. The `WWW-Authenticate` value of each
 * error depends only on the realm, so it is built once here, not per request.
 */
export function createErrorFactory (realm: string) {
  const challenges = new Map<ErrorConstructor, Readonly<Record<string, string>>>()
  for (const Err of [TokenMissingError, ...bearerCodes.keys()]) {
    challenges.set(Err, Object.freeze({ 'www-authenticate': challenge(realm, Err) }))
  }

  return {
    /** An error for the response, carrying its `WWW-Authenticate` header. */
    auth (Err: ErrorConstructor): AuthError {
      const err: AuthError = new Err()
      err.headers = challenges.get(Err)
      return err
    },
    /**
     * 403 for `requireScopes`: RFC 6750 §3 lets the challenge name the scope
     * the resource needs. The scopes are the route's own configuration,
     * checked at registration to be `scope-token` characters.
     */
    scope (scopes: readonly string[]): AuthError {
      const err: AuthError = new ScopeRequiredError()
      err.headers = { 'www-authenticate': `${challenge(realm, ScopeRequiredError)}, scope="${scopes.join(' ')}"` }
      return err
    },
    /** 503 with `Retry-After` (RFC 9110 §10.2.3) in whole seconds, at least 1. */
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

/** Throws `ZITADEL_AUTH_INVALID_OPTION`: a setup mistake, found at registration or route declaration. */
export function invalidOption (message: string): never {
  throw new InvalidOptionError(message)
}
