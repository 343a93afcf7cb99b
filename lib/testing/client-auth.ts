import type { FastifyRequest } from 'fastify'
import type { App, Directory } from './directory.js'
import { OAuthError, basicCredentials, safeEqual, single } from './http.js'

export interface ClientAuthOptions {
  /** Only apps with a secret, authenticated with HTTP Basic (introspection). */
  requireSecret: boolean
  /** The error code of a failed authentication: `invalid_client` (RFC 6749), `unauthorized_client` (Zitadel's introspection). */
  error: 'invalid_client' | 'unauthorized_client'
}

/**
 * The calling app: `client_secret_basic` for apps with a secret, or `none`
 * (client_id in the form) for public apps. An app with a secret must use it.
 * Failures are 401 with a Basic challenge (RFC 6749 §5.2).
 */
export function authenticateClient (request: FastifyRequest, form: URLSearchParams, directory: Directory, { requireSecret, error }: ClientAuthOptions): App {
  function refuse (description: string): never {
    throw new OAuthError(error, description, 401, { 'www-authenticate': 'Basic realm="zitadel-emulator"' })
  }
  const basic = basicCredentials(request.headers.authorization)
  const formClientId = single(form, 'client_id')
  if (basic === null) refuse('the Basic credentials are malformed')
  if (basic !== undefined) {
    const app = directory.app(basic.clientId)
    // Compare even for an unknown client, so the answer takes as long.
    const matches = safeEqual(basic.secret, app?.clientSecret ?? '\u0000no secret')
    if (app === undefined || app.clientSecret === undefined || !matches) refuse('client authentication failed')
    if (formClientId !== undefined && formClientId !== app.clientId) throw new OAuthError('invalid_request', 'client_id does not match the authenticated client')
    return app
  }
  if (requireSecret) refuse('client authentication is required (client_secret_basic)')
  const app = formClientId === undefined ? undefined : directory.app(formClientId)
  if (app === undefined) refuse('unknown client')
  if (app.clientSecret !== undefined) refuse('this client must authenticate with its secret (client_secret_basic)')
  return app
}
