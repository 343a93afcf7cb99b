import type { FastifyInstance } from 'fastify'
import type { EmulatorContext } from '../context.js'
import { preflight } from '../hooks.js'
import { METADATA_CLAIM } from '../claims.js'
import { EMULATOR_ALGORITHMS } from '../options.js'
import { SCOPES } from '../scopes.js'
import { GRANT_TYPES } from './token.js'

/**
 * OpenID Provider metadata at Zitadel's path (there is no RFC 8414 document),
 * listing only what the emulator implements.
 */
function discoveryDocument (issuer: string): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth/v2/authorize`,
    token_endpoint: `${issuer}/oauth/v2/token`,
    introspection_endpoint: `${issuer}/oauth/v2/introspect`,
    userinfo_endpoint: `${issuer}/oidc/v1/userinfo`,
    revocation_endpoint: `${issuer}/oauth/v2/revoke`,
    end_session_endpoint: `${issuer}/oidc/v1/end_session`,
    jwks_uri: `${issuer}/oauth/v2/keys`,
    scopes_supported: ['openid', 'profile', 'email', SCOPES.metadata, SCOPES.resourceOwner, SCOPES.projectsRoles],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: [...GRANT_TYPES],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [...EMULATOR_ALGORITHMS],
    // Every endpoint reads client credentials alike (client-auth.ts, after zitadel/oidc server_http.go).
    token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['RS256'],
    revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    revocation_endpoint_auth_signing_alg_values_supported: ['RS256'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    introspection_endpoint_auth_signing_alg_values_supported: ['RS256'],
    claims_supported: [
      'sub', 'aud', 'exp', 'iat', 'nbf', 'iss', 'jti', 'auth_time', 'nonce', 'amr', 'at_hash', 'azp', 'client_id', 'sid', 'act',
      'preferred_username', 'name', 'given_name', 'family_name', 'updated_at', 'email', 'email_verified',
      METADATA_CLAIM, 'urn:zitadel:iam:user:resourceowner:id', 'urn:zitadel:iam:user:resourceowner:name', 'urn:zitadel:iam:user:resourceowner:primary_domain'
    ],
    code_challenge_methods_supported: ['S256'],
    request_parameter_supported: false,
    request_uri_parameter_supported: false
  }
}

export function discoveryRoutes (app: FastifyInstance, ctx: EmulatorContext): void {
  app.get('/.well-known/openid-configuration', { onRequest: ctx.hooksFor('discovery', { fault: true, cors: true }) }, async (request) => discoveryDocument(ctx.issuers.of(request)))
  app.options('/.well-known/openid-configuration', { onRequest: ctx.cors }, preflight)

  // Zitadel's web keys endpoint sends max-age=300 with must-revalidate; legacy keys, no-store.
  app.get('/oauth/v2/keys', { onRequest: ctx.hooksFor('jwks', { fault: true, cors: true }) }, async (_request, reply) => {
    reply.header('cache-control', ctx.jwksCacheControl)
    return ctx.keys.jwks()
  })
  app.options('/oauth/v2/keys', { onRequest: ctx.cors }, preflight)
}
