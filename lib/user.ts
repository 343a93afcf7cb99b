import type { Claims } from './claims.js'
import { isPlainObject } from './values.js'

/**
 * Zitadel's role claim shape: `{ roleKey: { orgId: orgPrimaryDomain } }`,
 * one entry per organisation where the user holds the role
 * (zitadel/zitadel internal/api/oidc/client.go).
 */
export type ZitadelRoles = Readonly<Record<string, Readonly<Record<string, string>>>>

/** The registered and Zitadel-specific claims of an access token; any other claim is `unknown`. */
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
  act?: { sub: string, iss?: string, act?: unknown }
  'urn:zitadel:iam:user:resourceowner:id'?: string
  'urn:zitadel:iam:user:metadata'?: Record<string, string>
  [claim: string]: unknown
}

/**
 * Who acts for the subject (RFC 8693 §4.1 `act`), set by Zitadel's token
 * exchange with impersonation or delegation (zitadel/oidc pkg/oidc/token.go
 * ActorClaims). `actor`: the next one up the chain.
 */
export interface ZitadelActor {
  readonly sub: string
  readonly iss: string | undefined
  readonly actor: ZitadelActor | undefined
}

/**
 * Augment this interface to type custom claims checked by `claimsSchema`:
 * `declare module 'fastify-zitadel-auth' { interface ZitadelCustomClaims extends Static<typeof MyClaims> {} }`
 */
export interface ZitadelCustomClaims {}

/** Set in the static block: only the class may call its private constructor. */
let create: (token: string, claims: Claims, roleClaim: string, made: UserMaking) => ZitadelUser
let requestUser: (user: ZitadelUser) => unknown

/**
 * `request.user` of an authenticated request. Frozen, claims included: every
 * request with the same token shares one user. `instanceof ZitadelUser`
 * tells it from `null`.
 */
export class ZitadelUser {
  static {
    create = (token, claims, roleClaim, { format, tenant }) => {
      const user = new ZitadelUser(token, claims, roleClaim, tenant)
      Object.freeze(user)
      // A private field takes the write on a frozen object, and only this class can make it.
      if (format !== undefined) user.#requestUser = format(user)
      return user
    }
    requestUser = (user) => user.#requestUser
  }

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
  /** Who acts for the user (`act`, token exchange); undefined when the user acts in person. */
  readonly actor: ZitadelActor | undefined
  /**
   * The user's metadata (`urn:zitadel:iam:user:metadata`, asked for with the
   * scope of that name), each value decoded from base64 as UTF-8; empty without
   * it. Binary values: decode `claims['urn:zitadel:iam:user:metadata'][key]`
   * yourself. Null-prototype object.
   */
  readonly metadata: Readonly<Record<string, string>>
  /** All claims of the verified token. */
  readonly claims: ZitadelClaims & ZitadelCustomClaims
  /** The tenant whose rules the token passed, with the `tenants` option; undefined without. */
  readonly tenant: string | undefined
  // A private field, not a property: the raw token must not end up in a
  // response or a log because a handler returned or logged `request.user`.
  readonly #token: string
  /** What `request.user` is: this user, or what the `formatUser` option made of it. */
  #requestUser: unknown = this

  private constructor (token: string, claims: Claims, roleClaim: string, tenant: string | undefined) {
    this.sub = claims.sub as string
    this.clientId = stringOrUndefined(claims.client_id)
    this.orgId = stringOrUndefined(claims['urn:zitadel:iam:user:resourceowner:id'])
    this.roles = readRoles(claims[roleClaim])
    this.scopes = typeof claims.scope === 'string' ? Object.freeze(claims.scope.split(' ').filter((s) => s !== '')) : EMPTY
    this.actor = claims.act === undefined ? undefined : readActor(claims.act)
    this.metadata = readMetadata(claims[METADATA_CLAIM])
    this.claims = claims as ZitadelClaims & ZitadelCustomClaims
    this.tenant = tenant
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

/** How a user is made besides its token and claims. */
interface UserMaking {
  /** Makes `request.user` of the user (the `formatUser` option), after the user is frozen; what it throws, `createZitadelUser` throws. */
  readonly format?: ((user: ZitadelUser) => unknown) | undefined
  /** The tenant's name, with the `tenants` option. */
  readonly tenant?: string | undefined
}

/** The claims must be deep-frozen already: the user hands them out as they are. */
export function createZitadelUser (token: string, claims: Claims, roleClaim: string, made: UserMaking = {}): ZitadelUser {
  return create(token, claims, roleClaim, made)
}

/** What `request.user` is for this user. */
export function requestUserOf (user: ZitadelUser): unknown {
  return requestUser(user)
}

/**
 * Augment with `user: YourType` to type `request.user` as what the
 * `formatUser` option returns:
 * `declare module 'fastify-zitadel-auth' { interface ZitadelAuthTypes { user: MyUser } }`
 */
export interface ZitadelAuthTypes {}

/** The type of `request.user`: `ZitadelUser`, or the `user` of `ZitadelAuthTypes`. */
export type ZitadelRequestUser = ZitadelAuthTypes extends { user: infer U } ? U : ZitadelUser

const EMPTY: readonly string[] = Object.freeze([])
const NO_ROLES: ZitadelRoles = Object.freeze(Object.create(null))
const NO_METADATA: Readonly<Record<string, string>> = Object.freeze(Object.create(null))
const METADATA_CLAIM = 'urn:zitadel:iam:user:metadata'

/** The `act` chain; the claims check has made sure of its shape. */
function readActor (act: unknown): ZitadelActor {
  const { sub, iss, act: next } = act as { sub: string, iss?: string, act?: unknown }
  return Object.freeze({ sub, iss, actor: next === undefined ? undefined : readActor(next) })
}

/**
 * Values are base64 (zitadel internal/api/oidc/userinfo.go); Buffer's
 * base64url decoder reads both alphabets, padded or not. Non-strings are left out.
 */
function readMetadata (claim: unknown): Readonly<Record<string, string>> {
  if (!isPlainObject(claim)) return NO_METADATA
  const metadata: Record<string, string> = Object.create(null)
  for (const key of Object.keys(claim)) {
    const value = claim[key]
    if (typeof value === 'string') metadata[key] = Buffer.from(value, 'base64url').toString('utf8')
  }
  return Object.freeze(metadata)
}

/**
 * Keeps only entries of the documented shape: a role needs at least one
 * organisation with a string domain. Null prototypes: `__proto__`,
 * `constructor` or `toString` are roles only if the token says so.
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

function stringOrUndefined (value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}
