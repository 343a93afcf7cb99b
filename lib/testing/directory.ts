import { createHash, timingSafeEqual, type KeyObject } from 'node:crypto'
import { randomToken, type IdGenerator } from './ids.js'
import { fail } from './setup-error.js'

export interface Organization {
  readonly id: string
  readonly name: string
  /** The primary domain, the value in role claims: `{ role: { orgId: domain } }`. */
  readonly domain: string
}

export interface Project {
  readonly id: string
  readonly name: string
  /** The organisation that owns the project. */
  readonly orgId: string
  readonly roles: readonly string[]
  /** "Assert Roles on Authentication". */
  readonly assertRoles: boolean
}

/**
 * An access token as Zitadel issues it: `jwt`, or `opaque` (Zitadel's
 * "Bearer Token": a random-looking string that only introspection and
 * userinfo can read).
 */
export type AccessTokenType = 'jwt' | 'opaque'

/** How an API app authenticates to introspect (Zitadel's API_AUTH_METHOD_TYPE_BASIC / _PRIVATE_KEY_JWT). */
export type ApiAuthMethod = 'basic' | 'private_key_jwt'

export interface App {
  readonly clientId: string
  /** The app's own id; API apps' key files name it. */
  readonly appId: string
  readonly name: string
  readonly projectId: string
  /** `user-agent`: logs people in (PKCE); `api`: only introspects tokens. */
  readonly type: 'user-agent' | 'api'
  readonly redirectUris: readonly string[]
  readonly postLogoutRedirectUris: readonly string[]
  /** "Auth Token Type" (meaningless for API apps). */
  readonly accessTokenType: AccessTokenType
  /** "Add user roles to the access token". */
  readonly roleAssertion: boolean
  /** "User roles inside ID Token". */
  readonly idTokenRoleAssertion: boolean
  /** "User Info inside ID Token". */
  readonly idTokenUserinfoAssertion: boolean
  /** When set, the app authenticates with HTTP Basic. */
  readonly clientSecret: string | undefined
  /** `none`: a public app (client_id and PKCE); `private_key_jwt`: keys from addApiAppKey. */
  readonly authMethod: 'none' | ApiAuthMethod
}

/**
 * A user grant, Zitadel's `usergrant` aggregate: the roles a user holds in
 * one project, in one organisation (its resource owner).
 */
export interface UserGrant {
  /** The user grant id: the `aggregateID` of its `user.grant.*` events. */
  readonly id: string
  readonly userId: string
  readonly projectId: string
  /** The organisation the roles are held in, the grant's resource owner. */
  readonly orgId: string
  /**
   * Zitadel grants roles in another organisation's project through a project
   * grant, whose id `user.grant.added` carries as `grantId`; undefined when
   * the organisation owns the project.
   */
  readonly projectGrantId: string | undefined
  readonly roles: Set<string>
}

/** A user's grants in one project, per organisation: orgId → grant. */
type ProjectGrants = Map<string, UserGrant>

/**
 * Zitadel's user states that matter here (domain.UserState): `inactive` is
 * "deactivated". A removed user is gone from the directory.
 */
export type UserState = 'active' | 'inactive' | 'locked'

export interface User {
  readonly id: string
  readonly username: string
  readonly orgId: string
  readonly kind: 'human' | 'machine'
  readonly displayName: string
  readonly givenName: string | undefined
  readonly familyName: string | undefined
  readonly email: string | undefined
  readonly emailVerified: boolean
  /** Seconds; `updated_at` in user info. */
  readonly updatedAt: number
  readonly passwordDigest: Buffer | undefined
  /** projectId → orgId → grant */
  readonly grants: Map<string, ProjectGrants>
  /** keyId → public key (service users' JWT-profile keys) */
  readonly keys: Map<string, KeyObject>
  /** A service user's "Access Token Type"; for people the app's setting decides. */
  readonly accessTokenType: AccessTokenType
  /** key → value (Zitadel's user metadata; values are bytes) */
  readonly metadata: Map<string, Buffer>
  /** A service user's client secret for the client-credentials grant, as a digest. */
  secretDigest: Buffer | undefined
  /** Only an active user logs in, gets tokens and has live ones. */
  state: UserState
}

export interface GrantInput {
  projectId: string
  roles: string[]
  /** The organisation the roles are held in. Default: the user's organisation. */
  orgId?: string
}

interface UserInput {
  username: string
  orgId?: string
  grants?: GrantInput[]
}

export interface HumanUserInput extends UserInput {
  password: string
  /** Default: `{username}@{org domain}`. */
  email?: string
  givenName?: string
  familyName?: string
}

const NAME = /^\S(.*\S)?$/
const TOKEN = /^[^\s:@]+$/
const ROLE = /^\S+$/

/** What `addApp` takes. */
export interface AddAppInput {
  projectId: string
  name: string
  /** Default: `{numeric id}@{project name in lower case}`, as Zitadel makes them. */
  clientId?: string
  /** Exact redirect URIs; a request's redirect_uri must equal one of them. */
  redirectUris: string[]
  postLogoutRedirectUris?: string[]
  /**
   * "Auth Token Type": `'jwt'` or `'opaque'`. Default here: `'jwt'`, which
   * the plugin verifies locally; Zitadel's own default for a new app is
   * opaque ("Bearer Token"), which needs introspection.
   */
  accessTokenType?: AccessTokenType
  /** "Add user roles to the access token". Default: true. */
  roleAssertion?: boolean
  /** "User roles inside ID Token". Default: false. */
  idTokenRoleAssertion?: boolean
  /** "User Info inside ID Token". Default: false. */
  idTokenUserinfoAssertion?: boolean
  /** Makes the app confidential: it must then authenticate with HTTP Basic, and it may introspect. */
  clientSecret?: string
}

export interface AddApiAppInput {
  projectId: string
  name: string
  /** Default: `{numeric id}@{project name in lower case}`, as Zitadel makes them. */
  clientId?: string
  /** `'basic'` (default): HTTP Basic with `clientSecret`; `'private_key_jwt'`: assertions signed with a key from addApiAppKey. */
  authMethod?: ApiAuthMethod
  /** For `'basic'` only. Default: a generated secret. */
  clientSecret?: string
}

/**
 * Organisations, projects, apps and users, with the checks Zitadel makes when
 * they are created. Nothing here talks HTTP.
 */
export class Directory {
  readonly #orgs = new Map<string, Organization>()
  readonly #projects = new Map<string, Project>()
  readonly #apps = new Map<string, App>()
  /** clientId → keyId → public key */
  readonly #appKeys = new Map<string, Map<string, KeyObject>>()
  readonly #users = new Map<string, User>()
  /** `{projectId} {orgId}` → project grant id */
  readonly #projectGrants = new Map<string, string>()
  readonly #ids: IdGenerator
  /** The id of Zitadel's own API project, for `urn:zitadel:iam:org:project:id:zitadel:aud`. */
  readonly zitadelProjectId: string

  constructor (ids: IdGenerator) {
    this.#ids = ids
    this.zitadelProjectId = ids.next()
  }

  addOrganization (input: { id?: string, name: string, domain?: string }): Organization {
    check(isObject(input), 'addOrganization: the argument must be an object')
    const { name } = input
    check(typeof name === 'string' && NAME.test(name), 'addOrganization: "name" must be a non-empty string')
    const domain = input.domain ?? `${name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '')}.localhost`
    check(typeof domain === 'string' && /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(domain), 'addOrganization: "domain" must be a domain name such as "acme.localhost"')
    check(![...this.#orgs.values()].some((o) => o.domain === domain), `addOrganization: the domain "${domain}" is taken`)
    const org = Object.freeze({ id: this.#newId('addOrganization', input.id), name, domain })
    this.#orgs.set(org.id, org)
    return org
  }

  /** The first organisation, created (as Zitadel's "ZITADEL" default organisation) when there is none. */
  defaultOrg (): Organization {
    const first = this.#orgs.values().next()
    return first.done === true ? this.addOrganization({ name: 'ZITADEL', domain: 'zitadel.localhost' }) : first.value
  }

  org (id: string): Organization | undefined {
    return this.#orgs.get(id)
  }

  addProject (input: { id?: string, name: string, orgId?: string, roles?: string[], assertRoles?: boolean }): Project {
    check(isObject(input), 'addProject: the argument must be an object')
    const { name, roles = [], assertRoles = true } = input
    check(typeof name === 'string' && NAME.test(name), 'addProject: "name" must be a non-empty string')
    check(Array.isArray(roles) && roles.every((r) => typeof r === 'string' && ROLE.test(r)), 'addProject: "roles" must be an array of role keys without spaces')
    check(typeof assertRoles === 'boolean', 'addProject: "assertRoles" must be a boolean')
    const orgId = this.#orgOf('addProject', input.orgId)
    const project = Object.freeze({ id: this.#newId('addProject', input.id), name, orgId, roles: Object.freeze([...new Set(roles)]), assertRoles })
    this.#projects.set(project.id, project)
    return project
  }

  project (id: string): Project | undefined {
    return this.#projects.get(id)
  }

  addApp (input: Omit<AddAppInput, 'redirectUris'> & { redirectUris?: string[], authMethod?: ApiAuthMethod }, type: App['type'], fn: string): App {
    check(isObject(input), `${fn}: the argument must be an object`)
    const { name, redirectUris = [], postLogoutRedirectUris = [], accessTokenType = 'jwt', roleAssertion = true, idTokenRoleAssertion = false, idTokenUserinfoAssertion = false, clientSecret } = input
    const project = this.#projects.get(input.projectId)
    check(project !== undefined, `${fn}: no project with id "${String(input.projectId)}"; add it with addProject first`)
    check(typeof name === 'string' && NAME.test(name), `${fn}: "name" must be a non-empty string`)
    check(isAccessTokenType(accessTokenType), `${fn}: "accessTokenType" must be "jwt" or "opaque"`)
    for (const [key, value] of Object.entries({ roleAssertion, idTokenRoleAssertion, idTokenUserinfoAssertion })) {
      check(typeof value === 'boolean', `${fn}: "${key}" must be a boolean`)
    }
    check(clientSecret === undefined || (typeof clientSecret === 'string' && clientSecret.length >= 8), `${fn}: "clientSecret" must be a string of at least 8 characters`)
    let authMethod: App['authMethod'] = clientSecret === undefined ? 'none' : 'basic'
    if (type === 'api') {
      // An API app always authenticates to introspect: with a secret (generated when not given) or with keys.
      authMethod = input.authMethod ?? 'basic'
      check(authMethod === 'basic' || authMethod === 'private_key_jwt', `${fn}: "authMethod" must be "basic" or "private_key_jwt"`)
      check(authMethod === 'basic' || clientSecret === undefined, `${fn}: "clientSecret" is for authMethod "basic"; a "private_key_jwt" app authenticates with keys from addApiAppKey`)
    }
    if (type === 'user-agent') {
      check(Array.isArray(redirectUris) && redirectUris.length > 0 && redirectUris.every(isRedirectUri), `${fn}: "redirectUris" must be a non-empty array of absolute URLs without fragment`)
    }
    check(Array.isArray(postLogoutRedirectUris) && postLogoutRedirectUris.every(isRedirectUri), `${fn}: "postLogoutRedirectUris" must be an array of absolute URLs without fragment`)
    // Zitadel: `{appId}@{project name, lower case, spaces as underscores}`.
    const clientId = input.clientId ?? `${this.#ids.next()}@${project.name.toLowerCase().replace(/\s+/g, '_')}`
    check(typeof clientId === 'string' && /^\S+$/.test(clientId), `${fn}: "clientId" must be a non-empty string without spaces`)
    check(!this.#apps.has(clientId) && !this.#users.has(clientId), `${fn}: the client id "${clientId}" is taken`)
    const app: App = Object.freeze({
      clientId,
      appId: this.#ids.next(),
      name,
      projectId: project.id,
      type,
      redirectUris: Object.freeze([...redirectUris]),
      postLogoutRedirectUris: Object.freeze([...postLogoutRedirectUris]),
      accessTokenType,
      roleAssertion,
      idTokenRoleAssertion,
      idTokenUserinfoAssertion,
      clientSecret: authMethod === 'basic' ? clientSecret ?? randomToken(24) : undefined,
      authMethod
    })
    this.#apps.set(clientId, app)
    return app
  }

  app (clientId: string): App | undefined {
    return this.#apps.get(clientId)
  }

  /** Only `private_key_jwt` apps have keys. */
  keyApp (clientId: string): App {
    const app = this.#apps.get(clientId)
    check(app !== undefined, `addApiAppKey: no app with client id "${String(clientId)}"`)
    check(app.authMethod === 'private_key_jwt', `addApiAppKey: the app "${clientId}" does not use private_key_jwt; add it with addApiApp({ authMethod: 'private_key_jwt' })`)
    return app
  }

  /** Registers a public key of a `private_key_jwt` app (Zitadel: AddAppKey). */
  addAppKey (clientId: string, keyId: string, publicKey: KeyObject): void {
    this.keyApp(clientId)
    let keys = this.#appKeys.get(clientId)
    if (keys === undefined) this.#appKeys.set(clientId, keys = new Map())
    keys.set(keyId, publicKey)
  }

  appKey (clientId: string, keyId: string): KeyObject | undefined {
    return this.#appKeys.get(clientId)?.get(keyId)
  }

  /** The first app that can log people in, for tokens minted without a client. */
  firstLoginApp (): App | undefined {
    for (const app of this.#apps.values()) if (app.type === 'user-agent') return app
    return undefined
  }

  projectClientIds (projectId: string): string[] {
    return [...this.#apps.values()].filter((a) => a.projectId === projectId).map((a) => a.clientId)
  }

  /** The only origins CORS answers. */
  allowedOrigins (): Set<string> {
    const origins = new Set<string>()
    for (const app of this.#apps.values()) {
      for (const uri of app.redirectUris) {
        const { origin } = new URL(uri)
        if (origin !== 'null') origins.add(origin)
      }
    }
    return origins
  }

  addHuman (input: HumanUserInput): User {
    check(isObject(input), 'addUser: the argument must be an object')
    const { password } = input
    check(typeof password === 'string' && password !== '', 'addUser: "password" must be a non-empty string')
    const { username } = this.#checkUser('addUser', input)
    const org = this.org(this.#orgOf('addUser', input.orgId)) as Organization
    const email = input.email ?? `${username}@${org.domain}`
    check(typeof email === 'string' && /^[^\s@]+@[^\s@]+$/.test(email), 'addUser: "email" must be an e-mail address')
    const givenName = input.givenName ?? username.charAt(0).toUpperCase() + username.slice(1)
    const familyName = input.familyName ?? 'Emulated'
    check(typeof givenName === 'string' && NAME.test(givenName) && typeof familyName === 'string' && NAME.test(familyName), 'addUser: "givenName" and "familyName" must be non-empty strings')
    return this.#addUser({
      kind: 'human',
      username,
      orgId: org.id,
      displayName: `${givenName} ${familyName}`,
      givenName,
      familyName,
      email,
      emailVerified: true,
      passwordDigest: digest(password),
      accessTokenType: 'jwt'
    }, input.grants, 'addUser')
  }

  addMachine (input: UserInput & { name?: string, accessTokenType?: AccessTokenType }): User {
    check(isObject(input), 'addServiceUser: the argument must be an object')
    const { username } = this.#checkUser('addServiceUser', input)
    const displayName = input.name ?? username
    check(typeof displayName === 'string' && NAME.test(displayName), 'addServiceUser: "name" must be a non-empty string')
    const { accessTokenType = 'jwt' } = input
    check(isAccessTokenType(accessTokenType), 'addServiceUser: "accessTokenType" must be "jwt" or "opaque"')
    return this.#addUser({
      kind: 'machine',
      username,
      orgId: this.#orgOf('addServiceUser', input.orgId),
      displayName,
      givenName: undefined,
      familyName: undefined,
      email: undefined,
      emailVerified: false,
      passwordDigest: undefined,
      accessTokenType
    }, input.grants, 'addServiceUser')
  }

  user (id: string): User | undefined {
    return this.#users.get(id)
  }

  /** `username` or `username@orgdomain`; constant time, also when the name is unknown. */
  authenticate (loginName: string, password: string): User | undefined {
    const user = this.#byLoginName(loginName)
    const expected = user?.passwordDigest ?? digest(`no user: ${loginName}`)
    const matches = timingSafeEqual(digest(password), expected)
    return matches && user?.kind === 'human' ? user : undefined
  }

  /** Login names as zitadel GetUserByLoginName reads them; constant time whatever the outcome. */
  machineBySecret (loginName: string, secret: string): User | 'unknown' | 'no-secret' | 'wrong' {
    const user = this.#byLoginName(loginName)
    const matches = timingSafeEqual(digest(secret), user?.secretDigest ?? digest(`no secret: ${loginName}`))
    if (user?.kind !== 'machine') return 'unknown'
    if (user.secretDigest === undefined) return 'no-secret'
    return matches ? user : 'wrong'
  }

  /** Gives a service user a new client secret, replacing any other (Zitadel: AddMachineSecret). */
  setMachineSecret (userId: string, secret: string): void {
    const user = this.#users.get(userId)
    check(user?.kind === 'machine', `addServiceUserSecret: no service user with id "${String(userId)}"`)
    user.secretDigest = digest(secret)
  }

  /** Sets one metadata entry of a user (Zitadel: SetUserMetadata); a string is stored as its UTF-8 bytes. */
  setMetadata (userId: string, key: string, value: string | Buffer): void {
    const user = this.#users.get(userId)
    check(user !== undefined, `setMetadata: no user with id "${String(userId)}"`)
    check(typeof key === 'string' && key !== '', 'setMetadata: "key" must be a non-empty string')
    check(typeof value === 'string' || Buffer.isBuffer(value), 'setMetadata: "value" must be a string or a Buffer')
    user.metadata.set(key, Buffer.from(value))
  }

  /**
   * Adds roles: the first time in a project and organisation, a new user
   * grant (Zitadel: AddUserGrant); after that the same grant with more roles
   * (ChangeUserGrant). `added` tells which.
   */
  grant (userId: string, projectId: string, roles: string[], orgId?: string, fn = 'grantRoles'): { grant: UserGrant, added: boolean } {
    const { user, project, grantOrg } = this.#grantTarget(fn, userId, projectId, orgId)
    this.#checkRoles(fn, project, roles, false)
    let byOrg = user.grants.get(projectId)
    if (byOrg === undefined) user.grants.set(projectId, byOrg = new Map())
    const existing = byOrg.get(grantOrg)
    const grant = existing ?? { id: this.#ids.next(), userId, projectId, orgId: grantOrg, projectGrantId: this.#projectGrantId(project, grantOrg), roles: new Set<string>() }
    byOrg.set(grantOrg, grant)
    for (const role of roles) grant.roles.add(role)
    return { grant, added: existing === undefined }
  }

  /** Replaces a grant's roles (Zitadel: ChangeUserGrant sets the role keys). */
  changeGrant (userId: string, projectId: string, roles: string[], orgId?: string): UserGrant {
    const fn = 'changeGrant'
    const { project, grant } = this.#existingGrant(fn, userId, projectId, orgId)
    this.#checkRoles(fn, project, roles, true)
    grant.roles.clear()
    for (const role of roles) grant.roles.add(role)
    return grant
  }

  /** Removes a grant and with it its roles (Zitadel: RemoveUserGrant). */
  removeGrant (userId: string, projectId: string, orgId?: string): UserGrant {
    const { user, grant } = this.#existingGrant('removeGrant', userId, projectId, orgId)
    const byOrg = user.grants.get(projectId) as ProjectGrants
    byOrg.delete(grant.orgId)
    if (byOrg.size === 0) user.grants.delete(projectId)
    return grant
  }

  /** Every grant of a user, project by project. */
  grantsOf (user: User): UserGrant[] {
    return [...user.grants.values()].flatMap((byOrg) => [...byOrg.values()])
  }

  /**
   * Moves a user from one of the states `from` to `to`, or throws naming the
   * state it is in (Zitadel's preconditions, internal/command/user_v2.go).
   */
  setState (fn: string, userId: string, from: readonly UserState[], to: UserState): User {
    const user = this.#users.get(userId)
    check(user !== undefined, `${fn}: no user with id "${String(userId)}"`)
    check(from.includes(user.state), `${fn}: the user "${userId}" is ${STATE_WORDS[user.state]}, not ${from.map((s) => STATE_WORDS[s]).join(' or ')}`)
    user.state = to
    return user
  }

  /** Zitadel: RemoveUserV2. The username is free again. */
  removeUser (userId: string): User {
    const user = this.#users.get(userId)
    check(user !== undefined, `removeUser: no user with id "${String(userId)}"`)
    this.#users.delete(userId)
    return user
  }

  #grantTarget (fn: string, userId: string, projectId: string, orgId: string | undefined): { user: User, project: Project, grantOrg: string } {
    const user = this.#users.get(userId)
    check(user !== undefined, `${fn}: no user with id "${String(userId)}"`)
    const project = this.#projects.get(projectId)
    check(project !== undefined, `${fn}: no project with id "${String(projectId)}"`)
    const grantOrg = orgId ?? user.orgId
    check(this.#orgs.has(grantOrg), `${fn}: no organisation with id "${String(grantOrg)}"`)
    return { user, project, grantOrg }
  }

  #existingGrant (fn: string, userId: string, projectId: string, orgId: string | undefined): { user: User, project: Project, grant: UserGrant } {
    const { user, project, grantOrg } = this.#grantTarget(fn, userId, projectId, orgId)
    const grant = user.grants.get(projectId)?.get(grantOrg)
    check(grant !== undefined, `${fn}: the user "${userId}" has no grant in the project "${project.name}" held in the organisation "${grantOrg}"; add one with grantRoles`)
    return { user, project, grant }
  }

  #checkRoles (fn: string, project: Project, roles: string[], replacing: boolean): void {
    check(Array.isArray(roles) && roles.length > 0 && roles.every((r) => typeof r === 'string'), `${fn}: "roles" must be a non-empty array of role keys${replacing ? '; to take every role away, use removeGrant' : ''}`)
    const unknown = roles.filter((r) => !project.roles.includes(r))
    check(unknown.length === 0, `${fn}: the project "${project.name}" has no role ${unknown.map((r) => `"${r}"`).join(', ')}; add roles with addProject({ roles })`)
  }

  /** One per project and granted organisation, made on first use. */
  #projectGrantId (project: Project, orgId: string): string | undefined {
    if (orgId === project.orgId) return undefined
    const key = `${project.id} ${orgId}`
    let id = this.#projectGrants.get(key)
    if (id === undefined) this.#projectGrants.set(key, id = this.#ids.next())
    return id
  }

  #addUser (fields: Omit<User, 'id' | 'grants' | 'keys' | 'updatedAt' | 'metadata' | 'secretDigest' | 'state'>, grants: GrantInput[] = [], fn: string): User {
    check(Array.isArray(grants), `${fn}: "grants" must be an array of { projectId, roles, orgId? }`)
    const user: User = { id: this.#ids.next(), ...fields, updatedAt: Math.floor(Date.now() / 1000), grants: new Map(), keys: new Map(), metadata: new Map(), secretDigest: undefined, state: 'active' }
    this.#users.set(user.id, user)
    try {
      for (const g of grants) {
        check(isObject(g), `${fn}: "grants" must be an array of { projectId, roles, orgId? }`)
        this.grant(user.id, g.projectId, g.roles, g.orgId, fn)
      }
    } catch (err) {
      this.#users.delete(user.id)
      throw err
    }
    return user
  }

  #checkUser (fn: string, input: UserInput): { username: string } {
    const { username } = input
    check(typeof username === 'string' && TOKEN.test(username), `${fn}: "username" must be a non-empty string without spaces, ":" or "@"`)
    check(![...this.#users.values()].some((u) => u.username === username), `${fn}: the username "${username}" is taken`)
    return { username }
  }

  #byLoginName (loginName: string): User | undefined {
    const at = loginName.lastIndexOf('@')
    const username = at < 0 ? loginName : loginName.slice(0, at)
    for (const user of this.#users.values()) {
      if (user.username !== username) continue
      if (at < 0 || this.#orgs.get(user.orgId)?.domain === loginName.slice(at + 1)) return user
    }
    return undefined
  }

  #orgOf (fn: string, orgId: string | undefined): string {
    if (orgId === undefined) return this.defaultOrg().id
    check(this.#orgs.has(orgId), `${fn}: no organisation with id "${String(orgId)}"; add it with addOrganization first`)
    return orgId
  }

  #newId (fn: string, id: string | undefined): string {
    if (id === undefined) return this.#ids.next()
    check(typeof id === 'string' && TOKEN.test(id), `${fn}: "id" must be a non-empty string without spaces, ":" or "@"`)
    check(this.#ids.claim(id), `${fn}: the id "${id}" is taken`)
    return id
  }
}

const STATE_WORDS: Readonly<Record<UserState, string>> = { active: 'active', inactive: 'deactivated', locked: 'locked' }

function check (condition: boolean, message: string): asserts condition {
  if (!condition) fail(message)
}

function isAccessTokenType (value: unknown): value is AccessTokenType {
  return value === 'jwt' || value === 'opaque'
}

function isObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object'
}

function isRedirectUri (value: unknown): boolean {
  if (typeof value !== 'string') return false
  try {
    new URL(value) // eslint-disable-line no-new
  } catch {
    return false
  }
  return !value.includes('#')
}

function digest (value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest()
}
