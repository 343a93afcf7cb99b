import type { Claims } from './claims.js'

/**
 * Zitadel's role claim shape: `{ roleKey: { orgId: orgPrimaryDomain } }`,
 * one entry per organisation where the user holds the role
 * (zitadel/zitadel internal/api/oidc/client.go).
 */
export type ZitadelRoles = Readonly<Record<string, Readonly<Record<string, string>>>>

/**
 * The registered and Zitadel-specific claims of an access token; everything
 * else the token carries is there too, as `unknown`.
 */
export interface ZitadelClaims {
  iss: string
  sub: string
  aud: string | string[]
  exp: number
  iat: number
  nbf?: number
  jti?: string
  client_id?: string
  scope?: string
  'urn:zitadel:iam:user:resourceowner:id'?: string
  [claim: string]: unknown
}

/**
 * Augment this interface to type custom claims checked by `claimsSchema`:
 * `declare module 'fastify-zitadel-auth' { interface ZitadelCustomClaims extends Static<typeof MyClaims> {} }`
 */
export interface ZitadelCustomClaims {}

/**
 * `request.user` of an authenticated request. The plugin freezes it, and its
 * `claims` all the way down: every request with the same token shares one
 * user (see the token cache in lib/verify.ts).
 */
export class ZitadelUser {
  /** The subject: the Zitadel user id (of a human or a service user). */
  readonly sub: string
  /** The app or service user the token was issued to (`client_id`; Zitadel before zitadel/oidc v3.29.1 omits it). */
  readonly clientId: string | undefined
  /** The user's organisation (`urn:zitadel:iam:user:resourceowner:id`), when the token carries it. */
  readonly orgId: string | undefined
  /** Roles in the configured project only, in Zitadel's shape. Null-prototype objects. */
  readonly roles: ZitadelRoles
  /** The `scope` claim split on spaces; Zitadel JWT access tokens carry none, so usually empty. */
  readonly scopes: readonly string[]
  /** All claims of the verified token. */
  readonly claims: ZitadelClaims & ZitadelCustomClaims
  // A private field, not a property: the raw token must not end up in a
  // response or a log because a handler returned or logged `request.user`.
  readonly #token: string

  constructor (token: string, claims: Claims, roleClaim: string) {
    this.sub = claims.sub as string
    this.clientId = stringOrUndefined(claims.client_id)
    this.orgId = stringOrUndefined(claims['urn:zitadel:iam:user:resourceowner:id'])
    this.roles = readRoles(claims[roleClaim])
    this.scopes = typeof claims.scope === 'string' ? Object.freeze(claims.scope.split(' ').filter((s) => s !== '')) : EMPTY
    this.claims = claims as ZitadelClaims & ZitadelCustomClaims
    this.#token = token
  }

  /** The raw access token, to call other APIs on the user's behalf. Not serialised. */
  get token (): string {
    return this.#token
  }

  /** Does the user hold `role` in this project, in organisation `orgId` when given? */
  hasRole (role: string, orgId?: string): boolean {
    const orgs = Object.hasOwn(this.roles, role) ? this.roles[role] : undefined
    if (orgs === undefined) return false
    return orgId === undefined || Object.hasOwn(orgs, orgId)
  }
}

const EMPTY: readonly string[] = Object.freeze([])
const NO_ROLES: ZitadelRoles = Object.freeze(Object.create(null))

/**
 * Copies the role claim into fresh null-prototype objects, keeping only
 * entries of the documented shape. A claim of any other shape grants
 * nothing: a role needs at least one organisation with a string domain.
 * Null prototypes mean `__proto__`, `constructor` or `toString` are only ever
 * roles if the token says so, and never reach Object.prototype.
 */
export function readRoles (claim: unknown): ZitadelRoles {
  if (!isPlainObject(claim)) return NO_ROLES
  const roles: Record<string, Record<string, string>> = Object.create(null)
  for (const role of Object.keys(claim)) {
    const orgs = claim[role]
    if (!isPlainObject(orgs)) continue
    const valid: Record<string, string> = Object.create(null)
    let count = 0
    for (const orgId of Object.keys(orgs)) {
      const domain = orgs[orgId]
      if (typeof domain === 'string') {
        valid[orgId] = domain
        count++
      }
    }
    if (count > 0) roles[role] = Object.freeze(valid)
  }
  return Object.freeze(roles)
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function stringOrUndefined (value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}
