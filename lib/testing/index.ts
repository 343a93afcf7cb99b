/**
 * fastify-zitadel-auth/testing: a Zitadel emulator for development and tests.
 *
 * An OpenID provider at Zitadel's paths issuing Zitadel-shaped tokens, JWT or
 * opaque: discovery, keys and rotation, authorization code with a login form,
 * the JWT-profile and client-credentials grants, personal access tokens,
 * token exchange with impersonation, introspection, userinfo, end session,
 * revocation, custom domains and fault modes; Actions v2 event targets, fed
 * by user, grant, session and credential changes that take effect as in
 * Zitadel. Loopback only by default. Never use it in production.
 */
export { startZitadelEmulator } from './emulator.js'
export type { ZitadelEmulator, MintAccessTokenOptions, EmulatedUser, ServiceUserKeyFile, ServiceUserInput, ApplicationKeyFile } from './emulator.js'
export type { ZitadelEmulatorOptions, EmulatorAlgorithm } from './options.js'
export { EMULATOR_ALGORITHMS } from './options.js'
export type { EmulatorFault, EmulatorRequestCounts, Endpoint } from './hooks.js'
export type { Organization, Project, App, AddAppInput, AddApiAppInput, ApiAuthMethod, AccessTokenType, GrantInput, HumanUserInput } from './directory.js'
export type { RoleClaim } from './claims.js'
export type { EventTargetInput, EventTarget, EventPayloadType } from './event-targets.js'
export type { EventDelivery } from './events.js'
export { PROJECT_ROLES_CLAIM, projectRolesClaim } from './claims.js'
