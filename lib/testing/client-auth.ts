import type { FastifyRequest } from 'fastify'
import type { App, Directory } from './directory.js'
import { OAuthError, basicCredentials, safeEqual, single } from './http.js'
import { verifyJwtAssertion } from './jwt-assertion.js'
import { CLIENT_ASSERTION_TYPE } from '../client-assertion.js'

interface ClientCredentials {
  clientId: string | undefined
  secret: string | undefined
  assertion: string | undefined
}

/**
 * As zitadel/oidc pkg/op/server_http.go parseClientCredentials reads them:
 * Basic, form secret or assertion, one method per request (RFC 6749 §2.3).
 * All 400, as zitadel/oidc WriteError answers every OAuth error but server_error.
 */
export function parseClientCredentials (request: FastifyRequest, form: URLSearchParams): ClientCredentials {
  const basic = basicCredentials(request.headers.authorization)
  const formClientId = single(form, 'client_id')
  const formSecret = single(form, 'client_secret')
  const assertionType = single(form, 'client_assertion_type')
  const assertion = single(form, 'client_assertion')
  const assertionAuth = assertionType !== undefined && assertion !== undefined
  const secretAuth = formClientId !== undefined && formSecret !== undefined
  if (assertionAuth && secretAuth) throw new OAuthError('invalid_request', 'client authentication must not use more than one method')
  let credentials: ClientCredentials = { clientId: formClientId, secret: formSecret, assertion }
  if (basic !== undefined) {
    if (assertionAuth || secretAuth) throw new OAuthError('invalid_request', 'client authentication must not use more than one method')
    if (basic === null) throw new OAuthError('invalid_client', 'invalid basic auth header')
    if (formClientId !== undefined && formClientId !== basic.clientId) throw new OAuthError('invalid_request', 'client_id does not match the authenticated client')
    credentials = { clientId: basic.clientId, secret: basic.secret, assertion: undefined }
  }
  if (credentials.clientId === undefined && assertion === undefined) throw new OAuthError('invalid_request', 'client_id or client_assertion must be provided')
  if (assertion !== undefined && assertionType !== CLIENT_ASSERTION_TYPE) throw new OAuthError('invalid_request', `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`)
  return credentials
}

interface VerifyClientOptions {
  issuer: string
  /**
   * Introspection (zitadel internal/api/oidc/introspect.go
   * introspectionClientAuth): every failure is `unauthorized_client`, and an
   * app without a secret or key cannot get in. Elsewhere (zitadel
   * internal/api/oidc/client.go VerifyClient): `invalid_client`, and a public
   * app (auth method none) needs nothing but its client_id.
   */
  introspection: boolean
}

/** Failures are HTTP 400 without a challenge, as Zitadel answers them. */
export async function verifyClient (credentials: ClientCredentials, directory: Directory, { issuer, introspection }: VerifyClientOptions): Promise<App> {
  function refuse (description: string): never {
    throw new OAuthError(introspection ? 'unauthorized_client' : 'invalid_client', description)
  }
  const { clientId, secret, assertion } = credentials
  if (assertion !== undefined) {
    // The client is the assertion's iss; its keys verify it (an app with a secret has none).
    const sub = await verifyJwtAssertion(assertion, {
      issuer,
      signer: 'client',
      keyOf: (id, kid) => directory.appKey(id, kid),
      fail: (description) => refuse(`invalid assertion: ${description}`)
    })
    if (clientId !== undefined && clientId !== sub) throw new OAuthError('invalid_request', 'client_id does not match the authenticated client')
    return directory.app(sub) as App
  }
  const app = directory.app(clientId as string)
  // Compare even for an unknown client, so the answer takes as long.
  const matches = safeEqual(secret ?? '', app?.clientSecret ?? '\u0000no secret')
  if (app === undefined) refuse('no active client found')
  if (app.authMethod === 'none' && !introspection) return app
  if (app.clientSecret === undefined) refuse(app.authMethod === 'private_key_jwt' ? 'this client authenticates with private_key_jwt: empty client assertion' : 'client has no configured secret')
  if (secret === undefined) refuse('empty client secret')
  if (!matches) refuse('invalid secret')
  return app
}

export async function authenticateClient (request: FastifyRequest, form: URLSearchParams, directory: Directory, issuer: string): Promise<App> {
  return verifyClient(parseClientCredentials(request, form), directory, { issuer, introspection: false })
}
