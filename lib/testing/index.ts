/**
 * fastify-zitadel-auth/testing: a Zitadel emulator for development and tests.
 *
 * An OpenID provider on Fastify and node:crypto that answers at Zitadel's
 * paths and issues Zitadel-shaped tokens, JWT or opaque: discovery, keys
 * (every web-key algorithm, rotation, Cache-Control of web or legacy keys),
 * authorization code with a login form (PKCE for public apps), the
 * JWT-profile and client-credentials grants for service users (`client_id` =
 * username), personal access tokens, token exchange with impersonation
 * (`act`), introspection (secret by HTTP Basic or form, or private_key_jwt;
 * errors as HTTP 400), userinfo, user metadata, end session and revocation;
 * several public domains with one issuer each, tokens with or without `typ`,
 * and fault modes for resilience tests. Loopback only by default. Never use
 * it in production.
 */
export { startZitadelEmulator } from './emulator.js'
export type { ZitadelEmulator, MintAccessTokenOptions, EmulatedUser, ServiceUserKeyFile, ServiceUserInput, ApplicationKeyFile } from './emulator.js'
export type { ZitadelEmulatorOptions, EmulatorAlgorithm } from './options.js'
export { EMULATOR_ALGORITHMS } from './options.js'
export type { EmulatorFault, EmulatorRequestCounts, Endpoint } from './hooks.js'
export type { Organization, Project, App, AddAppInput, AddApiAppInput, ApiAuthMethod, AccessTokenType, GrantInput, HumanUserInput } from './directory.js'
export type { RoleClaim } from './claims.js'
export { PROJECT_ROLES_CLAIM, projectRolesClaim } from './claims.js'
