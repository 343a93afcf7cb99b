import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { authenticateClient, parseClientCredentials } from '../client-auth.js'
import type { EmulatorContext } from '../context.js'
import type { App, User } from '../directory.js'
import { preflight } from '../hooks.js'
import { OAuthError, formOf, noStore, single } from '../http.js'
import { verifyJwtProfileAssertion } from '../jwt-profile.js'
import { verifyS256 } from '../pkce.js'
import { parseScope } from '../scopes.js'
import { TOKEN_EXCHANGE, tokenExchange } from '../token-exchange.js'
import { appTokenRequest, isActiveUser, serviceTokenRequest, type IssuedTokens } from '../tokens.js'

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

export const GRANT_TYPES = Object.freeze(['authorization_code', 'client_credentials', JWT_BEARER, TOKEN_EXCHANGE])

export function tokenRoutes (app: FastifyInstance, ctx: EmulatorContext): void {
  const { directory, logins, tokens } = ctx

  async function codeGrant (request: FastifyRequest, form: URLSearchParams, issuer: string): Promise<IssuedTokens> {
    const client = await authenticateClient(request, form, directory, issuer)
    const code = single(form, 'code')
    const redirectUri = single(form, 'redirect_uri')
    const verifier = single(form, 'code_verifier')
    if (code === undefined) throw new OAuthError('invalid_request', 'code is required')
    // Taken (and so spent) before any other check: a code is good for one attempt.
    const grant = logins.takeCode(code)
    if (grant === undefined || grant.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'the code is invalid, expired, already used or issued to another client')
    if (redirectUri !== grant.redirectUri) throw new OAuthError('invalid_grant', 'redirect_uri does not correspond')
    // zitadel/oidc pkg/op/token_request.go AuthorizeCodeChallenge.
    if (grant.codeChallenge === undefined && verifier !== undefined) throw new OAuthError('invalid_request', 'code_verifier unexpectedly provided')
    if (grant.codeChallenge !== undefined && verifier === undefined) throw new OAuthError('invalid_request', 'code_verifier is required')
    if (grant.codeChallenge !== undefined && !verifyS256(verifier as string, grant.codeChallenge)) throw new OAuthError('invalid_grant', 'the code_verifier does not match the code_challenge')
    const user = activeUser(directory.user(grant.userId))
    return tokens.issue(appTokenRequest(directory, directory.app(grant.clientId) as App, user, grant.scopes, issuer, {
      nonce: grant.nonce,
      authTime: grant.authTime,
      sid: grant.sid
    }))
  }

  /** zitadel internal/api/oidc/token_jwt_profile.go: the assertion first, then the scope; `openid` is optional. */
  async function jwtProfileGrant (form: URLSearchParams, issuer: string): Promise<IssuedTokens> {
    const assertion = single(form, 'assertion')
    if (assertion === undefined) throw new OAuthError('invalid_request', 'assertion is required')
    const scope = single(form, 'scope')
    const user = activeUser(await verifyJwtProfileAssertion(assertion, issuer, directory))
    const scopes = requireScopes(scope)
    return tokens.issue(serviceTokenRequest(directory, user, scopes, { issuer }))
  }

  /**
   * zitadel internal/api/oidc/client_credentials.go clientCredentialsAuth: a
   * missing or wrong secret is `invalid_request` (Zitadel's precondition and
   * invalid-argument errors). The client id is the login name as sent.
   */
  async function clientCredentialsGrant (request: FastifyRequest, form: URLSearchParams, issuer: string): Promise<IssuedTokens> {
    const { clientId = '', secret = '' } = parseClientCredentials(request, form)
    const user = directory.machineBySecret(clientId, secret)
    if (user === 'unknown') throw new OAuthError('invalid_client', 'client not found')
    if (user === 'no-secret') throw new OAuthError('invalid_request', 'the service user has no secret')
    if (user === 'wrong') throw new OAuthError('invalid_request', 'the secret is invalid')
    const scopes = requireScopes(single(form, 'scope'))
    return tokens.issue(serviceTokenRequest(directory, activeUser(user), scopes, { issuer, clientId, amr: ['pwd'] }))
  }

  app.post('/oauth/v2/token', { onRequest: ctx.hooksFor('token', { fault: true, cors: true }) }, async (request, reply: FastifyReply) => {
    const form = formOf(request)
    const issuer = ctx.issuers.of(request)
    const grantType = single(form, 'grant_type')
    if (grantType === TOKEN_EXCHANGE) {
      const client = await authenticateClient(request, form, directory, issuer)
      return noStore(reply).send(await tokenExchange(form, client, issuer, ctx))
    }
    let issued: IssuedTokens
    if (grantType === 'authorization_code') issued = await codeGrant(request, form, issuer)
    else if (grantType === JWT_BEARER) issued = await jwtProfileGrant(form, issuer)
    else if (grantType === 'client_credentials') issued = await clientCredentialsGrant(request, form, issuer)
    else if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is required')
    else throw new OAuthError('unsupported_grant_type', `the emulator supports ${GRANT_TYPES.join(', ')}`)
    noStore(reply)
    return {
      access_token: issued.accessToken,
      token_type: 'Bearer',
      expires_in: issued.expiresIn,
      id_token: issued.idToken
    }
  })
  app.options('/oauth/v2/token', { onRequest: ctx.cors }, preflight)
}

/**
 * Zitadel makes tokens from the user info it reads with
 * internal/query/userinfo_by_id.sql, which finds active users only; for
 * anyone else the query's NotFound becomes HTTP 404 `invalid_request`
 * (internal/api/oidc/token.go getUserInfoAndSignerOnce, error.go oidcError).
 * Zitadel skips that read for an opaque access token without `openid`, and
 * so may issue one that introspection then finds inactive; the emulator
 * refuses it as well. A removed user's code gets the same answer.
 */
function activeUser (user: User | undefined): User {
  if (!isActiveUser(user)) throw new OAuthError('invalid_request', 'Errors.User.NotFound', 404)
  return user
}

/** zitadel/oidc pkg/op/auth_request.go ValidateAuthReqScopes: some scope, any scope. */
export function requireScopes (scope: string | undefined): string[] {
  const scopes = parseScope(scope)
  if (scopes.length === 0) throw new OAuthError('invalid_request', 'the scope of your request is missing')
  return scopes
}
