import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import type { EmulatorContext } from './context.js'
import { Directory, type AccessTokenType, type AddApiAppInput, type AddAppInput, type App, type GrantInput, type HumanUserInput, type Organization, type Project, type User } from './directory.js'
import type { EventTarget, EventTargetInput } from './event-targets.js'
import { EventDispatcher, type EventDelivery } from './events.js'
import { FAULTS, createHooks, newCounts, type EmulatorFault, type EmulatorRequestCounts, type RuntimeState } from './hooks.js'
import { PAGE_HEADERS, errorPage } from './html.js'
import { FORM_BODY_LIMIT, OAuthError, PageError, addFormParser, noStore } from './http.js'
import { IdGenerator, randomToken } from './ids.js'
import { Issuers } from './issuers.js'
import { KeyRing, generateKeyFileKey } from './keys.js'
import { Lifecycle, type Deliveries } from './lifecycle.js'
import { LoginStore } from './login-store.js'
import { fail } from './setup-error.js'
import { EMULATOR_ALGORITHMS, originOf, resolveEmulatorOptions, type EmulatorAlgorithm, type ResolvedEmulatorOptions, type ZitadelEmulatorOptions } from './options.js'
import { authorizeRoutes } from './routes/authorize.js'
import { discoveryRoutes } from './routes/discovery.js'
import { introspectRoutes } from './routes/introspect.js'
import { sessionRoutes } from './routes/session.js'
import { tokenRoutes } from './routes/token.js'
import { userinfoRoutes } from './routes/userinfo.js'
import { SCOPES, addOnce, audScope, parseScope } from './scopes.js'
import { TokenService, appTokenRequest, isActiveUser, serviceTokenRequest, type Actor } from './tokens.js'
import type { ApplicationKeyFile as PluginApplicationKeyFile } from '../client-assertion.js'

/** A user as the emulator hands it back. */
export interface EmulatedUser {
  readonly id: string
  readonly username: string
  readonly orgId: string
}

/** A service user's key file in Zitadel's format; `key` is a PKCS#1 PEM private key. */
export interface ServiceUserKeyFile {
  type: 'serviceaccount'
  keyId: string
  key: string
  userId: string
}

/** An API app's key file in Zitadel's format, as the plugin's `introspection.keyFile` takes it; `key` is PKCS#1 PEM. */
export type ApplicationKeyFile = Required<PluginApplicationKeyFile>

export interface ServiceUserInput {
  username: string
  /** The display name. Default: the username. */
  name?: string
  orgId?: string
  grants?: GrantInput[]
  /** "Access Token Type". Default here: `'jwt'`; Zitadel's own default is opaque ("Bearer"). */
  accessTokenType?: AccessTokenType
}

export interface MintAccessTokenOptions {
  userId: string
  /**
   * The app the token is issued to. Default: for a person, the first app
   * added; for a service user, none: a JWT-profile token, whose `client_id`
   * is the service user's username.
   */
  clientId?: string
  /** More projects for `aud`, as if `urn:zitadel:iam:org:project:id:{id}:aud` had been asked for. */
  projectIds?: string[]
  /** The scope the token is issued for. Default: `openid profile email` for a person, `openid` for a service user. */
  scope?: string | string[]
  /** true: role claims for the client's project and `projectIds`, whatever the settings; false: none. Default: as the token endpoint decides. */
  roles?: boolean
  /** Seconds until `exp`. Default: `accessTokenLifetime`. 0 or less gives an expired token. */
  expiresIn?: number
  /** Merged into the claims last; `undefined` removes a claim. The emulator still remembers the token as issued. JWTs only. */
  claims?: Record<string, unknown>
  /** `'jwt'` or `'opaque'`. Default: the app's (or, without a client, the service user's) access token type. */
  type?: AccessTokenType
  /** The issuer to mint for: the main one (default) or one of the `domains`, as listed in `issuers`. */
  issuer?: string
  /** Who acts for the user (RFC 8693 `act`, as after token exchange with impersonation). `iss` defaults to the token's issuer. */
  actor?: { sub: string, iss?: string }
}

/** The emulator as tests and the demo drive it. */
export interface ZitadelEmulator {
  /** The public issuer URL, no trailing slash. */
  readonly issuer: string
  /** Every issuer the instance answers as: `issuer`, then one per entry of the `domains` option. */
  readonly issuers: readonly string[]
  /** Where the emulator listens: `http://{host}:{port}`. */
  readonly url: string
  /** The fault mode of the discovery, JWKS and token endpoints. */
  fault: EmulatorFault
  /** How long `slow` makes them wait, in milliseconds. Default: 1000. */
  slowMs: number
  /** Requests seen per endpoint (CORS preflights are not counted). */
  readonly requests: Readonly<EmulatorRequestCounts>
  resetRequests (): void
  addOrganization (input: { id?: string, name: string, domain?: string }): Organization
  addProject (input: { id?: string, name: string, orgId?: string, roles?: string[], assertRoles?: boolean }): Project
  /** A User Agent app: public, PKCE, JWT access tokens unless `accessTokenType: 'opaque'`. */
  addApp (input: AddAppInput): App
  /** An API app: no login; introspects tokens, authenticating with HTTP Basic and a secret (generated when not given)… */
  addApiApp (input: AddApiAppInput & { authMethod?: 'basic' }): App & { clientSecret: string }
  /** …or with `private_key_jwt`: then give it a key with addApiAppKey, as in Zitadel's console. */
  addApiApp (input: AddApiAppInput & { authMethod: 'private_key_jwt' }): App & { clientSecret: undefined }
  addApiApp (input: AddApiAppInput): App
  /** A fresh RSA key for a `private_key_jwt` API app, and its key file; an app may have several. */
  addApiAppKey (clientId: string): Promise<ApplicationKeyFile>
  /** A person who signs in with username (or username@orgdomain) and password. */
  addUser (input: HumanUserInput): EmulatedUser
  /** A service user (machine) with a fresh RSA key for the JWT-profile grant. */
  addServiceUser (input: ServiceUserInput): Promise<{ user: EmulatedUser, keyFile: ServiceUserKeyFile }>
  /** A new client secret for the client-credentials grant (its username is the client_id), replacing any other. */
  addServiceUserSecret (userId: string): string
  /**
   * A personal access token of a service user: opaque, scope `openid profile
   * urn:zitadel:iam:user:metadata urn:zitadel:iam:user:resourceowner`, valid
   * `expiresIn` seconds (default: until 9999). Introspection finds it active
   * for every API app; userinfo answers it.
   */
  addPersonalAccessToken (userId: string, options?: { expiresIn?: number }): string
  /** Sets a user's metadata entry; the scope `urn:zitadel:iam:user:metadata` shows it base64url-encoded. */
  setMetadata (userId: string, key: string, value: string | Buffer): void
  /**
   * Adds roles in a project; `orgId` is where they are held (default: the
   * user's organisation). The first roles in a project and organisation make
   * a user grant (`user.grant.added`), later ones add to it
   * (`user.grant.changed`). Mistakes throw at once; the promise resolves
   * with the deliveries of the event, and need not be awaited.
   */
  grantRoles (userId: string, projectId: string, roles: string[], orgId?: string): Promise<readonly EventDelivery[]>
  /** An access token exactly as the token endpoint would issue it (and known to introspection and userinfo). */
  mintAccessToken (options: MintAccessTokenOptions): Promise<string>
  /** A new signing key; the old ones stop being published (and their tokens stop verifying) unless `keepOld`. */
  rotateKeys (options?: { keepOld?: boolean, algorithm?: EmulatorAlgorithm }): Promise<void>
  /** Stops the server; deliveries under way are aborted, later ones are logged as not sent. */
  close (): Promise<void>

  // Actions v2 event targets, and the changes that emit events. The changes
  // take effect at once and throw at once on a mistake; their promises
  // resolve with the deliveries and never reject.

  /** The instance's id: `instanceID` of every event, and `resourceOwner` of session events. */
  readonly instanceId: string
  /**
   * `userID` of every event: in Zitadel the editor, whoever made the change
   * (zitadel internal/eventstore/event_base.go: the caller's user), not
   * necessarily the user it is about. Here an instance administrator's id,
   * the same for every change the test controls make.
   */
  readonly adminUserId: string
  /**
   * Every delivery attempt so far, in order: target, event, HTTP status or
   * error. Zitadel keeps no such log; tests assert on it.
   */
  readonly deliveries: readonly EventDelivery[]
  /**
   * A Zitadel target with the event executions that call it: each event
   * whose type matches is POSTed to `url` as Zitadel sends it (JSON body or
   * JWT, `ZITADEL-Signature` HMAC header), at most once. When several
   * targets' events match one type, Zitadel calls only those of the best
   * match: the exact type, else the most specific group, else `'*'`.
   * Unlike Zitadel, any host is allowed, loopback included.
   */
  addEventTarget (input: EventTargetInput): EventTarget
  /** No more events go to the target; events already emitted still do, as in Zitadel's queue. */
  removeEventTarget (id: string): void
  /** Resolves once every event emitted so far has been delivered or has failed: for events of addUser, which returns at once. */
  waitForDeliveries (): Promise<void>
  /**
   * Deactivates a user (`user.deactivated`): no login, no new tokens from any
   * grant, its tokens are no longer active at introspection and userinfo, and
   * stay so after reactivateUser. The promise resolves with the deliveries.
   */
  deactivateUser (userId: string): Promise<readonly EventDelivery[]>
  /** `user.reactivated`: logins and new tokens work again; tokens from before the deactivation stay inactive. */
  reactivateUser (userId: string): Promise<readonly EventDelivery[]>
  /** `user.locked`, as after too many wrong passwords: the effects of deactivateUser. Only an active user can be locked. */
  lockUser (userId: string): Promise<readonly EventDelivery[]>
  /** `user.unlocked`: as reactivateUser. */
  unlockUser (userId: string): Promise<readonly EventDelivery[]>
  /**
   * Deletes a user: `user.removed`, then `user.grant.cascade.removed` for each
   * of its grants. Its tokens are no longer active; its username is free.
   */
  removeUser (userId: string): Promise<readonly EventDelivery[]>
  /** Replaces the roles of a grant made by grantRoles (`user.grant.changed` with the new `roleKeys`). */
  changeGrant (userId: string, projectId: string, roles: string[], orgId?: string): Promise<readonly EventDelivery[]>
  /**
   * Removes a grant (`user.grant.removed`, which names only the grant): its
   * roles leave new tokens, introspection and userinfo.
   */
  removeGrant (userId: string, projectId: string, orgId?: string): Promise<readonly EventDelivery[]>
  /**
   * Ends the sign-in session of a code-flow login, named by the `sid` of its
   * ID tokens (`session.terminated`): that login's tokens are no longer
   * active. Ending it again sends nothing, as in Zitadel.
   */
  terminateSession (sessionId: string): Promise<readonly EventDelivery[]>
  /**
   * Removes a PAT of a service user, given as the token or its id (its
   * `jti` at introspection), or all of its PATs: `user.pat.removed` with
   * `{ tokenId }` each. The token is no longer active.
   */
  removePersonalAccessToken (userId: string, token?: string): Promise<readonly EventDelivery[]>
  /** Removes a service user's key (`user.machine.key.removed` with `{ keyId }`): the JWT-profile grant refuses it. */
  removeServiceUserKey (userId: string, keyId: string): Promise<readonly EventDelivery[]>
}

class Emulator implements ZitadelEmulator {
  readonly #opts: ResolvedEmulatorOptions
  readonly #ids = new IdGenerator()
  readonly #directory = new Directory(this.#ids)
  readonly #keys: KeyRing
  readonly #issuers = new Issuers()
  readonly #abort = new AbortController()
  readonly #state: RuntimeState = { fault: 'none', slowMs: 1000, requests: newCounts(), closing: this.#abort.signal }
  readonly #tokens: TokenService
  readonly #events: EventDispatcher
  readonly #lifecycle: Lifecycle
  readonly #ctx: EmulatorContext
  readonly #app: FastifyInstance
  #url = ''
  #closed: Promise<void> | undefined
  readonly instanceId: string
  readonly adminUserId: string

  constructor (opts: ResolvedEmulatorOptions) {
    this.#opts = opts
    this.#keys = new KeyRing(this.#ids, { typ: opts.typHeader })
    this.#tokens = new TokenService({
      directory: this.#directory,
      keys: this.#keys,
      ids: this.#ids,
      accessTokenLifetime: opts.accessTokenLifetime,
      idTokenLifetime: opts.idTokenLifetime
    })
    const { hooksFor, cors } = createHooks(this.#state, this.#directory)
    const logins = new LoginStore()
    this.instanceId = this.#ids.next()
    this.adminUserId = this.#ids.next()
    this.#events = new EventDispatcher({
      ids: this.#ids,
      instanceId: this.instanceId,
      editorId: this.adminUserId,
      signJwt: async (payload) => this.#keys.signPayload(payload),
      closing: this.#abort.signal
    })
    this.#lifecycle = new Lifecycle({ directory: this.#directory, tokens: this.#tokens, logins, events: this.#events, instanceId: this.instanceId })
    this.#ctx = {
      // The issuers are known once the port is: routes read them when handling a request.
      issuers: this.#issuers,
      jwksCacheControl: opts.jwksCacheControl,
      idTokenLifetime: opts.idTokenLifetime,
      directory: this.#directory,
      keys: this.#keys,
      ids: this.#ids,
      tokens: this.#tokens,
      logins,
      hooksFor,
      cors
    }
    this.#app = buildServer(opts)
  }

  async start (): Promise<void> {
    await this.#keys.rotate(this.#opts.algorithm, false)
    const prefix = this.#opts.issuer === undefined ? '' : new URL(this.#opts.issuer).pathname.replace(/\/+$/, '')
    const ctx = this.#ctx
    this.#app.register(async function zitadelEmulatorRoutes (scope) {
      discoveryRoutes(scope, ctx)
      authorizeRoutes(scope, ctx)
      tokenRoutes(scope, ctx)
      introspectRoutes(scope, ctx)
      userinfoRoutes(scope, ctx)
      sessionRoutes(scope, ctx)
    }, { prefix })
    await this.#app.listen({ port: this.#opts.port, host: this.#opts.host })
    // No request can be handled before this continuation runs: the issuer is set first.
    this.#url = originOf(this.#opts.host, (this.#app.server.address() as AddressInfo).port)
    this.#issuers.resolve(this.#opts, this.#url)
    if (!this.#opts.quiet) {
      process.stderr.write(`zitadel emulator: issuer ${this.issuer}, listening on ${this.#url}. For development and tests only: never use it in production.\n`)
    }
  }

  get issuer (): string { return this.#issuers.main }
  get issuers (): readonly string[] { return this.#issuers.all() }
  get url (): string { return this.#url }
  get requests (): Readonly<EmulatorRequestCounts> { return this.#state.requests }

  get fault (): EmulatorFault { return this.#state.fault }
  set fault (value: EmulatorFault) {
    if (!FAULTS.includes(value)) fail(`fault must be one of ${FAULTS.join(', ')}`)
    this.#state.fault = value
  }

  get slowMs (): number { return this.#state.slowMs }
  set slowMs (value: number) {
    if (!Number.isFinite(value) || value < 0) fail('slowMs must be a number of milliseconds, 0 or more')
    this.#state.slowMs = value
  }

  resetRequests (): void {
    for (const name of Object.keys(this.#state.requests) as Array<keyof EmulatorRequestCounts>) this.#state.requests[name] = 0
  }

  addOrganization (input: { id?: string, name: string, domain?: string }): Organization {
    return this.#directory.addOrganization(input)
  }

  addProject (input: { id?: string, name: string, orgId?: string, roles?: string[], assertRoles?: boolean }): Project {
    return this.#directory.addProject(input)
  }

  addApp (input: AddAppInput): App {
    return this.#directory.addApp(input, 'user-agent', 'addApp')
  }

  addApiApp (input: AddApiAppInput & { authMethod?: 'basic' }): App & { clientSecret: string }
  addApiApp (input: AddApiAppInput & { authMethod: 'private_key_jwt' }): App & { clientSecret: undefined }
  addApiApp (input: AddApiAppInput): App
  addApiApp (input: AddApiAppInput): App {
    return this.#directory.addApp(input, 'api', 'addApiApp')
  }

  async addApiAppKey (clientId: string): Promise<ApplicationKeyFile> {
    // Before the slow key generation, so that a wrong call fails at once.
    const app = this.#directory.keyApp(clientId)
    const { publicKey, pem } = await generateKeyFileKey()
    const keyId = this.#ids.next()
    this.#directory.addAppKey(app.clientId, keyId, publicKey)
    return { type: 'application', keyId, key: pem, clientId: app.clientId, appId: app.appId }
  }

  addUser (input: HumanUserInput): EmulatedUser {
    const user = this.#directory.addHuman(input)
    // Never rejects; waitForDeliveries waits for it.
    this.#lifecycle.userAdded(user)
    return publicUser(user)
  }

  async addServiceUser (input: ServiceUserInput): Promise<{ user: EmulatedUser, keyFile: ServiceUserKeyFile }> {
    const user = this.#directory.addMachine(input)
    const { publicKey, pem } = await generateKeyFileKey()
    const keyId = this.#ids.next()
    user.keys.set(keyId, publicKey)
    await this.#lifecycle.userAdded(user)
    return { user: publicUser(user), keyFile: { type: 'serviceaccount', keyId, key: pem, userId: user.id } }
  }

  addServiceUserSecret (userId: string): string {
    const secret = randomToken(32)
    this.#directory.setMachineSecret(userId, secret)
    return secret
  }

  addPersonalAccessToken (userId: string, options: { expiresIn?: number } = {}): string {
    const user = this.#directory.user(userId)
    // Zitadel's v2 API: PATs are for machine users only (AllowedUserType machine).
    if (user?.kind !== 'machine') fail(`addPersonalAccessToken: no service user with id "${String(userId)}"`)
    const { expiresIn } = options
    if (expiresIn !== undefined && !Number.isInteger(expiresIn)) fail('addPersonalAccessToken: "expiresIn" must be a whole number of seconds')
    return this.#tokens.personalAccessToken(user, this.issuer, expiresIn)
  }

  setMetadata (userId: string, key: string, value: string | Buffer): void {
    this.#directory.setMetadata(userId, key, value)
  }

  grantRoles (userId: string, projectId: string, roles: string[], orgId?: string): Deliveries {
    return this.#lifecycle.grantRoles(userId, projectId, roles, orgId)
  }

  async mintAccessToken (options: MintAccessTokenOptions): Promise<string> {
    if (options === null || typeof options !== 'object') fail('mintAccessToken: options must be an object')
    const { userId, clientId, projectIds = [], scope, roles, expiresIn, claims, type, actor } = options
    const issuer = options.issuer === undefined ? this.issuer : this.#issuers.check('mintAccessToken', options.issuer)
    const user = this.#directory.user(userId)
    if (user === undefined) fail(`mintAccessToken: no user with id "${String(userId)}"`)
    if (!isActiveUser(user)) fail(`mintAccessToken: the user "${userId}" is not active; Zitadel issues tokens to active users only`)
    if (!Array.isArray(projectIds) || !projectIds.every((p) => typeof p === 'string' && /^[^\s:]+$/.test(p))) fail('mintAccessToken: "projectIds" must be an array of project ids')
    if (roles !== undefined && typeof roles !== 'boolean') fail('mintAccessToken: "roles" must be a boolean')
    if (expiresIn !== undefined && !Number.isInteger(expiresIn)) fail('mintAccessToken: "expiresIn" must be a whole number of seconds')
    if (claims !== undefined && (claims === null || typeof claims !== 'object')) fail('mintAccessToken: "claims" must be an object')
    if (type !== undefined && type !== 'jwt' && type !== 'opaque') fail('mintAccessToken: "type" must be "jwt" or "opaque"')
    if (actor !== undefined && (actor === null || typeof actor.sub !== 'string' || !['string', 'undefined'].includes(typeof actor.iss))) fail('mintAccessToken: "actor" must be { sub, iss? } with strings')
    const human = user.kind === 'human'
    const scopes = parseScope(Array.isArray(scope) ? scope.join(' ') : scope ?? (human || clientId !== undefined ? 'openid profile email' : 'openid'))
    for (const id of projectIds) addOnce(scopes, audScope(id))
    if (roles === true) addOnce(scopes, SCOPES.projectsRoles)

    let request
    if (clientId === undefined && !human) {
      request = serviceTokenRequest(this.#directory, user, scopes, { issuer })
    } else {
      const app = clientId === undefined ? this.#directory.firstLoginApp() : this.#directory.app(clientId)
      if (app === undefined) fail(clientId === undefined ? 'mintAccessToken: add an app first, or pass clientId' : `mintAccessToken: no app with client id "${clientId}"`)
      request = appTokenRequest(this.#directory, app, user, scopes, issuer)
    }
    // A minted token is an access token only, as the tests ask for one.
    request.idToken = undefined
    if (actor !== undefined) request.actor = { iss: actor.iss ?? issuer, sub: actor.sub } satisfies Actor
    if (roles !== undefined) {
      request.accessTokenRoleAssertion = roles
      request.projectRoleAssertion = roles
    }
    if (type !== undefined) request.accessTokenType = type
    if (claims !== undefined && request.accessTokenType === 'opaque') fail('mintAccessToken: "claims" shape a JWT; an opaque token has none (use expiresIn, scope, projectIds or roles)')
    const issued = await this.#tokens.issue({ ...request, expiresIn, claims })
    return issued.accessToken
  }

  async rotateKeys (options: { keepOld?: boolean, algorithm?: EmulatorAlgorithm } = {}): Promise<void> {
    const { keepOld = false, algorithm = this.#opts.algorithm } = options
    if (typeof keepOld !== 'boolean') fail('rotateKeys: "keepOld" must be a boolean')
    if (!(EMULATOR_ALGORITHMS as readonly unknown[]).includes(algorithm)) fail(`rotateKeys: "algorithm" must be one of ${EMULATOR_ALGORITHMS.join(', ')}`)
    await this.#keys.rotate(algorithm, keepOld)
  }

  async close (): Promise<void> {
    this.#closed ??= (async () => {
      this.#abort.abort()
      await this.#app.close()
      await this.#events.settled()
    })()
    return this.#closed
  }

  get deliveries (): readonly EventDelivery[] { return this.#events.deliveries }

  addEventTarget (input: EventTargetInput): EventTarget {
    return this.#events.addTarget(input)
  }

  removeEventTarget (id: string): void {
    this.#events.removeTarget(id)
  }

  async waitForDeliveries (): Promise<void> {
    await this.#events.settled()
  }

  deactivateUser (userId: string): Deliveries {
    return this.#lifecycle.changeState('deactivateUser', userId)
  }

  reactivateUser (userId: string): Deliveries {
    return this.#lifecycle.changeState('reactivateUser', userId)
  }

  lockUser (userId: string): Deliveries {
    return this.#lifecycle.changeState('lockUser', userId)
  }

  unlockUser (userId: string): Deliveries {
    return this.#lifecycle.changeState('unlockUser', userId)
  }

  removeUser (userId: string): Deliveries {
    return this.#lifecycle.removeUser(userId)
  }

  changeGrant (userId: string, projectId: string, roles: string[], orgId?: string): Deliveries {
    return this.#lifecycle.changeGrant(userId, projectId, roles, orgId)
  }

  removeGrant (userId: string, projectId: string, orgId?: string): Deliveries {
    return this.#lifecycle.removeGrant(userId, projectId, orgId)
  }

  terminateSession (sessionId: string): Deliveries {
    return this.#lifecycle.terminateSession(sessionId)
  }

  removePersonalAccessToken (userId: string, token?: string): Deliveries {
    return this.#lifecycle.removePersonalAccessToken(userId, token)
  }

  removeServiceUserKey (userId: string, keyId: string): Deliveries {
    return this.#lifecycle.removeServiceUserKey(userId, keyId)
  }
}

/** Fastify with the form parser only, OAuth-shaped JSON errors and HTML error pages. */
function buildServer (opts: ResolvedEmulatorOptions): FastifyInstance {
  const app = Fastify({ logger: opts.logger, forceCloseConnections: true, bodyLimit: FORM_BODY_LIMIT })
  addFormParser(app)
  app.setErrorHandler((err: FastifyError | OAuthError | PageError, request, reply) => {
    if (err instanceof PageError) return reply.code(err.statusCode).headers(PAGE_HEADERS).send(errorPage(err.title, err.message, err.details))
    if (err instanceof OAuthError) return noStore(reply).code(err.statusCode).headers(err.headers).send({ error: err.errorCode, error_description: err.description })
    // Fastify's own 4xx (body too large, wrong content type…), or an emulated or real 500.
    const status = err.statusCode !== undefined && err.statusCode < 500 ? err.statusCode : 500
    if (status === 500) request.log.error(err)
    return noStore(reply).code(status).send(status === 500
      ? { error: 'server_error', error_description: 'internal error' }
      : { error: 'invalid_request', error_description: err.message })
  })
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ error: 'not_found', error_description: 'the emulator has no such endpoint' }))
  return app
}

function publicUser (user: User): EmulatedUser {
  return Object.freeze({ id: user.id, username: user.username, orgId: user.orgId })
}

/**
 * Starts a Zitadel emulator: an OpenID provider that behaves like Zitadel
 * where this plugin and its users can tell. For development and tests only.
 */
export async function startZitadelEmulator (options?: ZitadelEmulatorOptions): Promise<ZitadelEmulator> {
  const emulator = new Emulator(resolveEmulatorOptions(options))
  await emulator.start()
  return emulator
}
