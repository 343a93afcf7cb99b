/**
 * fastify-zitadel-auth: protect Fastify APIs with Zitadel.
 *
 * A request flows one way: authenticate (the Bearer header) → credential-check
 * (the caches, then verify with the JWKS cache, or introspection for opaque
 * tokens) → user → guards. plugin.ts wires them.
 */
import type { ZitadelAuth } from './plugin.js'
import type { ZitadelRequestUser, ZitadelUser } from './user.js'
import plugin from './plugin.js'

export default plugin
export { zitadelEvents } from './events.js'
export type { ZitadelEventsOptions } from './events.js'
export { plugin as fastifyZitadelAuth }
export type { ZitadelAuth, ZitadelStatus } from './plugin.js'
export type { KeySetStatus } from './jwks.js'
export type { IntrospectionStatus } from './introspection.js'
export type {
  ZitadelAuthOptions, ZitadelPluginOptions, ZitadelMultiTenantOptions, ZitadelTenantOptions, ZitadelIssuerOptions, ZitadelSharedOptions,
  ResolvedOptions, Algorithm, CookieOptions, RevocationOptions
} from './options.js'
export type { ZitadelTenantStatus } from './tenant.js'
export type { RevokeSubjectOptions } from './revoke.js'
export { DIAGNOSTICS_CHANNELS } from './diagnostics.js'
export type { TokenMessage, FetchMessage, RevocationMessage } from './diagnostics.js'
export type { OpenApiOptions, ResolvedOpenApi } from './openapi-options.js'
export { SUPPORTED_ALGORITHMS, ZITADEL_ALGORITHMS } from './options.js'
export type { IntrospectionOptions, ResolvedIntrospection } from './introspection-options.js'
export type { ApplicationKeyFile } from './client-assertion.js'
export type { HttpDispatcher } from './http.js'
export type { RedisClient, RedisSubscriber } from './redis.js'
export type {
  GuardOptions, RequireRolesOptions, RequireScopesOptions, RequireClaimOptions, ClaimRule, ClaimValue, ClaimValueResolver,
  OrgIdResolver, Guard, GuardRequirement
} from './guards.js'
export { ZitadelErrorResponse } from './openapi.js'
export type {
  ZitadelSecurityScheme, ZitadelSwaggerOptions, ZitadelSwaggerUiOptions, ZitadelInitOAuth, ZitadelThemeFile,
  SwaggerOptionsBase, SwaggerTransform, SwaggerTransformInput
} from './openapi.js'
export { ZitadelUser } from './user.js'
export type { ZitadelActor, ZitadelAuthTypes, ZitadelClaims, ZitadelCustomClaims, ZitadelRequestUser, ZitadelRoles } from './user.js'
export {
  TokenMissingError, BadRequestError, TokenMalformedError, TokenUnsupportedError, KeyUnknownError,
  SignatureInvalidError, TokenExpiredError, TokenNotYetValidError, IssuerInvalidError, AudienceInvalidError,
  ClientNotAllowedError, ClaimsInvalidError, TokenInactiveError, TokenRevokedError, TokenRejectedError, UserRefusedError, RoleRequiredError, ScopeRequiredError, ClaimRequiredError,
  ForbiddenError, TenantNotAllowedError, EventRefusedError, EventMalformedError, DelegationRefusedError, IdpUnavailableError,
  InvalidOptionError, GuardNotCalledError, KeysNotLoadedError
} from './errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** fastify-zitadel-auth: guards, `verify` and the resolved options. */
    zitadel: ZitadelAuth
  }
  interface FastifyRequest {
    /** The verified caller (what the `formatUser` option made of it, if set), or null when the request carried no token. */
    user: ZitadelRequestUser | null
    /** The verified caller as Zitadel's token describes it, or null: what the guards judge. */
    zitadelUser: ZitadelUser | null
  }
  interface FastifyContextConfig {
    /** `false` skips token verification on this route (health checks). */
    zitadel?: false
  }
}
