import { invalidOption } from './errors.js'
import { SCOPE_TOKEN } from './scope.js'
import { isPlainObject } from './values.js'

/** The `openapi` option. */
export interface OpenApiOptions {
  /** The name of the security scheme in `components.securitySchemes`. Letters, digits, `.`, `-`, `_`. Default: `'zitadel'`; a tenant's, `'zitadel-{name}'`. */
  securityScheme?: string | undefined
  /**
   * The scopes Swagger UI may request, each with its description; Swagger UI
   * selects all of them. Default: `openid`, `profile`, `email`,
   * `urn:zitadel:iam:org:project:id:{projectId}:aud` and `urn:zitadel:iam:org:projects:roles`.
   */
  scopes?: Record<string, string> | undefined
  /**
   * The security scheme's `description`, shown in Swagger UI's Authorize
   * dialog; CommonMark may be used. It replaces the default, which says that
   * the login uses PKCE with no client secret and how to send the token.
   */
  description?: string | undefined
}

/** What `fastify.zitadel.options.openapi` shows. */
export interface ResolvedOpenApi {
  readonly securityScheme: string
  readonly scopes: Readonly<Record<string, string>>
  /** The security scheme's description: the option, or the default. */
  readonly description: string
}

const DEFAULT_DESCRIPTION = 'Zitadel login (authorization code with PKCE; the login app is a public client, with no client secret). Send the access token as `Authorization: Bearer <token>`.'

/** OpenAPI 3 component names (OAS 3.0.3 §4.7.7, Components Object). */
const COMPONENT_NAME = /^[a-zA-Z0-9.\-_]+$/

/** `tenant`: the tenant's name, with the `tenants` option; its scheme is `zitadel-{tenant}` by default. */
export function resolveOpenApi (input: OpenApiOptions | undefined, projectId: string, tenant?: string): ResolvedOpenApi {
  const name = input?.securityScheme
  if (name !== undefined && !(typeof name === 'string' && COMPONENT_NAME.test(name))) {
    invalidOption('option "openapi.securityScheme" must be a non-empty string of letters, digits, ".", "-" and "_" (an OpenAPI component name)')
  }
  const given = input?.scopes
  if (given !== undefined && !isScopeMap(given)) {
    invalidOption('option "openapi.scopes" must be a non-empty object mapping scope tokens (RFC 6749 §3.3: no spaces, quotes or backslashes) to description strings')
  }
  const description = input?.description
  // OpenAPI 3.0.3 §4.7.33 (Security Scheme Object): `description` is a string, CommonMark allowed.
  if (description !== undefined && !(typeof description === 'string' && description.trim() !== '')) {
    invalidOption('option "openapi.description" must be a non-empty string (CommonMark may be used)')
  }
  const scopes = given === undefined
    ? {
        openid: 'Sign in with OpenID Connect',
        profile: 'The user\'s name and profile',
        email: 'The user\'s email address',
        [`urn:zitadel:iam:org:project:id:${projectId}:aud`]: 'Puts this API\'s project in the token audience',
        'urn:zitadel:iam:org:projects:roles': 'Adds the user\'s project roles to the token'
      }
    : { ...given }
  return Object.freeze({
    securityScheme: name ?? (tenant === undefined ? 'zitadel' : `zitadel-${tenant}`),
    scopes: Object.freeze(scopes),
    description: description ?? (tenant === undefined ? DEFAULT_DESCRIPTION : `${DEFAULT_DESCRIPTION} Tenant \`${tenant}\`.`)
  })
}

function isScopeMap (value: unknown): value is Record<string, string> {
  if (!isPlainObject(value)) return false
  const entries = Object.entries(value)
  return entries.length > 0 && entries.every(([scope, description]) => SCOPE_TOKEN.test(scope) && typeof description === 'string')
}
