import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { EmulatorContext } from '../context.js'
import type { App } from '../directory.js'
import { PAGE_HEADERS, loginPage } from '../html.js'
import { OAuthError, PageError, formOf, queryOf, single, withParams } from '../http.js'
import type { AuthRequest } from '../login-store.js'
import { isPkceValue } from '../pkce.js'
import { parseScope } from '../scopes.js'

/**
 * The authorization endpoint and the login form (Zitadel's login UI lives at
 * /ui/login/login). Until the client and its redirect URI are known good,
 * errors are pages; after that they go back to the client (RFC 6749 §4.1.2.1).
 */
export function authorizeRoutes (app: FastifyInstance, ctx: EmulatorContext): void {
  const { directory, logins } = ctx

  async function authorize (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const params = request.method === 'POST' ? formOf(request) : queryOf(request)
    const { client, redirectUri } = checkClient(params)
    let state: string | undefined
    try {
      state = single(params, 'state')
      const pending = logins.createAuthRequest({ clientId: client.clientId, redirectUri, state, ...readRequest(params, client) })
      return reply.redirect(`${ctx.issuers.of(request)}/ui/login/login?authRequestID=${encodeURIComponent(pending.id)}`, 302)
    } catch (err) {
      const { errorCode, description } = err as OAuthError
      return reply.redirect(withParams(redirectUri, { error: errorCode, error_description: description, state }), 302)
    }
  }

  function checkClient (params: URLSearchParams): { client: App, redirectUri: string } {
    const clientId = params.getAll('client_id')
    const redirectUri = params.getAll('redirect_uri')
    const client = clientId.length === 1 ? directory.app(clientId[0] as string) : undefined
    // Received next to registered: the usual mistake is a near miss.
    if (client === undefined || client.type !== 'user-agent') {
      throw new PageError('Unknown application', 'No application with this client_id can sign users in.', [
        { label: 'client_id received', values: clientId }
      ])
    }
    // Exact string match, no normalisation: a near miss is an attack or a misconfiguration.
    if (redirectUri.length !== 1 || !client.redirectUris.includes(redirectUri[0] as string)) {
      throw new PageError('Invalid redirect URI', 'The redirect_uri is not registered for this application; it must match a registered URI exactly.', [
        { label: 'redirect_uri received', values: redirectUri },
        { label: `Registered for ${client.name}`, values: client.redirectUris }
      ])
    }
    return { client, redirectUri: redirectUri[0] as string }
  }

  /**
   * `openid` is not required (zitadel/oidc pkg/op/auth_request.go
   * ValidateAuthReqScopes only wants some scope).
   */
  function readRequest (params: URLSearchParams, client: App): Pick<AuthRequest, 'scopes' | 'nonce' | 'codeChallenge'> {
    const responseType = single(params, 'response_type')
    if (responseType !== 'code') throw new OAuthError('unsupported_response_type', 'only response_type=code is supported')
    const responseMode = single(params, 'response_mode')
    if (responseMode !== undefined && responseMode !== 'query') throw new OAuthError('invalid_request', 'only response_mode=query is supported')
    const scopes = parseScope(single(params, 'scope'))
    if (scopes.length === 0) throw new OAuthError('invalid_request', 'the scope of your request is missing')
    const codeChallenge = single(params, 'code_challenge')
    const method = single(params, 'code_challenge_method')
    // PKCE is required of public apps only (zitadel/oidc pkg/op/token_code.go AuthorizeCodeClient:
    // "PKCE required" for auth method none); a challenge, when sent, must be S256 (`plain` is refused).
    if (codeChallenge === undefined && client.authMethod === 'none') throw new OAuthError('invalid_request', 'code_challenge is required')
    if (codeChallenge !== undefined && method !== 'S256') throw new OAuthError('invalid_request', 'code_challenge_method must be S256')
    if (codeChallenge !== undefined && !isPkceValue(codeChallenge)) throw new OAuthError('invalid_request', 'code_challenge is malformed')
    if ((single(params, 'prompt') ?? '').split(' ').includes('none')) throw new OAuthError('login_required', 'the emulator has no sign-in session; prompt=none cannot succeed')
    if (params.has('request') || params.has('request_uri')) throw new OAuthError('request_not_supported', 'request objects are not supported')
    return { scopes, nonce: single(params, 'nonce'), codeChallenge }
  }

  function pending (id: string | undefined): AuthRequest {
    const found = logins.authRequest(id)
    if (found === undefined) throw new PageError('Sign-in expired', 'This sign-in request is unknown or has expired. Go back to the application and start again.')
    return found
  }

  function showLogin (reply: FastifyReply, request: AuthRequest, status: number, username?: string, error?: string): FastifyReply {
    const appName = (directory.app(request.clientId) as App).name
    return reply.code(status).headers(PAGE_HEADERS).send(loginPage({ authRequestId: request.id, appName, username, error }))
  }

  const authorizeHooks = ctx.hooksFor('authorize')
  app.get('/oauth/v2/authorize', { onRequest: authorizeHooks }, authorize)
  app.post('/oauth/v2/authorize', { onRequest: authorizeHooks }, authorize)

  const loginHooks = ctx.hooksFor('login')
  app.get('/ui/login/login', { onRequest: loginHooks }, async (request, reply) => {
    return showLogin(reply, pending(queryOf(request).get('authRequestID') ?? undefined), 200)
  })
  app.post('/ui/login/login', { onRequest: loginHooks }, async (request, reply) => {
    const form = formOf(request)
    const authRequest = pending(form.get('authRequestID') ?? undefined)
    const username = form.get('username') ?? ''
    const user = directory.authenticate(username, form.get('password') ?? '')
    if (user === undefined) return showLogin(reply, authRequest, 401, username, 'Invalid username or password.')
    // Zitadel's login refuses them by name (internal/auth/repository/eventsourcing/eventstore/auth_request.go,
    // Errors.User.Inactive and Errors.User.Locked); the emulator only once the password is right.
    if (user.state !== 'active') return showLogin(reply, authRequest, 403, username, user.state === 'locked' ? 'User is locked.' : 'User is inactive.')
    const code = logins.complete(authRequest, user.id)
    return reply.redirect(withParams(authRequest.redirectUri, { code, state: authRequest.state }), 302)
  })
}
