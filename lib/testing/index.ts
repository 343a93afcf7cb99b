/**
 * fastify-zitadel-auth/testing: a Zitadel emulator for development and tests.
 *
 * An OpenID provider on Fastify and jose that answers at Zitadel's paths and
 * issues Zitadel-shaped tokens, JWT or opaque: discovery, keys, authorization
 * code with PKCE and a login form, the JWT-profile grant for service users,
 * introspection (HTTP Basic or private_key_jwt), userinfo, end session and
 * revocation, with fault modes for resilience tests. Loopback only by
 * default. Never use it in production.
 */
export { startZitadelEmulator } from './emulator.js'
export type { ZitadelEmulator, MintAccessTokenOptions, EmulatedUser, ServiceUserKeyFile, ServiceUserInput, ApplicationKeyFile } from './emulator.js'
export type { ZitadelEmulatorOptions, EmulatorAlgorithm } from './options.js'
export { EMULATOR_ALGORITHMS } from './options.js'
export type { EmulatorFault, EmulatorRequestCounts, Endpoint } from './hooks.js'
export type { Organization, Project, App, AddAppInput, AddApiAppInput, ApiAuthMethod, AccessTokenType, GrantInput, HumanUserInput } from './directory.js'
export type { RoleClaim } from './claims.js'
export { PROJECT_ROLES_CLAIM, projectRolesClaim } from './claims.js'
