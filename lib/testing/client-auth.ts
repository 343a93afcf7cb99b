import type { FastifyRequest } from 'fastify'
import type { App, Directory } from './directory.js'
import { OAuthError, basicCredentials, safeEqual, single } from './http.js'
import { verifyJwtAssertion } from './jwt-assertion.js'

/** RFC 7523 §2.2: the only client assertion type Zitadel accepts. */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

export interface ClientAuthOptions {
  /** The issuer, which a client assertion's `aud` must contain. */
  issuer: string
  /** Only apps that prove who they are (a secret over HTTP Basic, or a key): introspection. */
  requireCredentials: boolean
  /** The error code of a failed authentication: `invalid_client` (RFC 6749), `unauthorized_client` (Zitadel's introspection). */
  error: 'invalid_client' | 'unauthorized_client'
}

/**
 * The calling app, by its auth method: `private_key_jwt` (a client assertion
 * signed with one of its keys), `basic` (HTTP Basic with its secret) or
 * `none` (client_id in the form, public apps only). An app must use its own
 * method. Failed authentication is 401; a Basic attempt gets a Basic
 * challenge (RFC 6749 §5.2).
 */
export async function authenticateClient (request: FastifyRequest, form: URLSearchParams, directory: Directory, { issuer, requireCredentials, error }: ClientAuthOptions): Promise<App> {
  function refuse (description: string, challenge = true): never {
    throw new OAuthError(error, description, 401, challenge ? { 'www-authenticate': 'Basic realm="zitadel-emulator"' } : {})
  }
  const basic = basicCredentials(request.headers.authorization)
  const formClientId = single(form, 'client_id')
  const assertionType = single(form, 'client_assertion_type')
  const assertion = single(form, 'client_assertion')

  let app: App | undefined
  if (assertionType !== undefined || assertion !== undefined) {
    // zitadel/oidc pkg/op/server_http.go parseClientCredentials: one method per request (RFC 6749 §2.3), and only this assertion type.
    if (basic !== undefined) throw new OAuthError('invalid_request', 'client authentication must not use more than one method')
    if (assertionType !== CLIENT_ASSERTION_TYPE) throw new OAuthError('invalid_request', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`)
    if (assertion === undefined) throw new OAuthError('invalid_request', 'client_assertion is required')
    // zitadel/zitadel introspect.go: the client is the assertion's iss, its keys verify it (a Basic app has none).
    const clientId = await verifyJwtAssertion(assertion, {
      issuer,
      signer: 'client',
      keyOf: (sub, kid) => directory.appKey(sub, kid),
      fail: (description) => refuse(description, false)
    })
    app = directory.app(clientId) as App
  } else if (basic !== undefined) {
    if (basic === null) refuse('the Basic credentials are malformed')
    app = directory.app(basic.clientId)
    // Compare even for an unknown client, so the answer takes as long.
    const matches = safeEqual(basic.secret, app?.clientSecret ?? '\u0000no secret')
    if (app?.authMethod === 'private_key_jwt') refuse('this client authenticates with private_key_jwt, not with a secret')
    if (app === undefined || app.clientSecret === undefined || !matches) refuse('client authentication failed')
  } else {
    if (requireCredentials) refuse('client authentication is required (client_secret_basic or private_key_jwt)')
    app = formClientId === undefined ? undefined : directory.app(formClientId)
    if (app === undefined) refuse('unknown client')
    if (app.authMethod === 'basic') refuse('this client must authenticate with its secret (client_secret_basic)')
    if (app.authMethod === 'private_key_jwt') refuse('this client must authenticate with a client assertion (private_key_jwt)')
  }
  if (formClientId !== undefined && formClientId !== app.clientId) throw new OAuthError('invalid_request', 'client_id does not match the authenticated client')
  return app
}
