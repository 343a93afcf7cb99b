import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { authenticateClient } from '../client-auth.js'
import type { EmulatorContext } from '../context.js'
import type { App, User } from '../directory.js'
import { preflight } from '../hooks.js'
import { OAuthError, formOf, noStore, single } from '../http.js'
import { verifyJwtProfileAssertion } from '../jwt-profile.js'
import { verifyS256 } from '../pkce.js'
import { SCOPES, parseScope } from '../scopes.js'
import { appTokenRequest, serviceTokenRequest, type IssuedTokens } from '../tokens.js'

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

/**
 * The token endpoint: the authorization code grant (public clients with
 * PKCE, or apps with a secret over Basic) and the JWT-profile grant for
 * service users. Answers as Zitadel does: `access_token`, `token_type`,
 * `expires_in`, and `id_token` when `openid` was asked for.
 */
export function tokenRoutes (app: FastifyInstance, ctx: EmulatorContext): void {
  const { directory, logins, tokens } = ctx

  async function codeGrant (request: FastifyRequest, form: URLSearchParams): Promise<IssuedTokens> {
    const client = await authenticateClient(request, form, directory, { issuer: ctx.issuer, requireCredentials: false, error: 'invalid_client' })
    const code = single(form, 'code')
    const redirectUri = single(form, 'redirect_uri')
    const verifier = single(form, 'code_verifier')
    if (code === undefined) throw new OAuthError('invalid_request', 'code is required')
    // Taken (and so spent) before any other check: a code is good for one attempt.
    const grant = logins.takeCode(code)
    if (grant === undefined || grant.clientId !== client.clientId) throw new OAuthError('invalid_grant', 'the code is invalid, expired, already used or issued to another client')
    if (redirectUri !== grant.redirectUri) throw new OAuthError('invalid_grant', 'redirect_uri does not correspond')
    if (verifier === undefined) throw new OAuthError('invalid_request', 'code_verifier is required')
    if (!verifyS256(verifier, grant.codeChallenge)) throw new OAuthError('invalid_grant', 'the code_verifier does not match the code_challenge')
    const user = directory.user(grant.userId) as User
    return tokens.issue(appTokenRequest(directory, directory.app(grant.clientId) as App, user, grant.scopes, {
      nonce: grant.nonce,
      authTime: grant.authTime,
      sid: grant.sid
    }))
  }

  async function jwtProfileGrant (form: URLSearchParams): Promise<IssuedTokens> {
    const assertion = single(form, 'assertion')
    if (assertion === undefined) throw new OAuthError('invalid_request', 'assertion is required')
    const scope = single(form, 'scope')
    // Zitadel checks the assertion first, then the scope (op.ValidateAuthReqScopes).
    const user = await verifyJwtProfileAssertion(assertion, ctx.issuer, directory)
    const scopes = parseScope(scope)
    if (scopes.length === 0) throw new OAuthError('invalid_request', 'the scope is missing; add at least openid')
    if (!scopes.includes(SCOPES.openid)) throw new OAuthError('invalid_scope', 'the scope openid is missing')
    return tokens.issue(serviceTokenRequest(directory, user, scopes, true))
  }

  app.post('/oauth/v2/token', { onRequest: ctx.hooksFor('token', { fault: true, cors: true }) }, async (request, reply: FastifyReply) => {
    const form = formOf(request)
    const grantType = single(form, 'grant_type')
    let issued: IssuedTokens
    if (grantType === 'authorization_code') issued = await codeGrant(request, form)
    else if (grantType === JWT_BEARER) issued = await jwtProfileGrant(form)
    else if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is required')
    else throw new OAuthError('unsupported_grant_type', 'the emulator supports authorization_code and urn:ietf:params:oauth:grant-type:jwt-bearer')
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
