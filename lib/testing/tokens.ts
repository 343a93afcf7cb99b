import { createHash } from 'node:crypto'
import { userInfo } from './claims.js'
import type { AccessTokenType, App, Directory, Project, User } from './directory.js'
import { randomToken, type IdGenerator } from './ids.js'
import type { KeyRing } from './keys.js'
import type { EmulatorAlgorithm } from './options.js'
import { SCOPES, addOnce, audienceFromScopes } from './scopes.js'

/**
 * Zitadel's opaque token is the AES-CFB encryption of `{tokenId}:{userId}`
 * (zitadel/oidc pkg/op/token.go CreateBearerToken, pkg/crypto/crypto.go
 * EncryptAES): IV and ciphertext, base64url, never a dot. The emulator hands
 * out as many random bytes and looks them up.
 */
const OPAQUE_TOKEN_BYTES = 78

/** RFC 8693 §4.1 `act`. */
export interface Actor {
  iss: string
  sub: string
  act?: Actor
}

/** What Zitadel keeps per token id (its OIDC session). */
export interface TokenRecord {
  readonly jti: string
  readonly issuer: string
  readonly userId: string
  /** Empty for a personal access token, which no client asked for. */
  readonly clientId: string
  /** Undefined for service users' tokens and PATs. */
  readonly projectId: string | undefined
  readonly scopes: readonly string[]
  readonly audience: readonly string[]
  readonly iat: number
  readonly exp: number
  /** 0 for a PAT. */
  readonly authTime: number
  readonly amr: readonly string[]
  readonly actor: Actor | undefined
  /** Introspection treats a PAT's audience and roles specially. */
  readonly isPAT: boolean
  /** The sign-in session (`sid`) of a code-flow login; terminating it ends the token. */
  readonly sessionId: string | undefined
  revoked: boolean
}

interface IdTokenRequest {
  nonce: string | undefined
  sid: string | undefined
  roleAssertion: boolean
  userInfoAssertion: boolean
}

export interface TokenRequest {
  issuer: string
  user: User
  clientId: string
  projectId: string | undefined
  scopes: string[]
  audience: string[]
  /** The app's "Auth Token Type" or the service user's "Access Token Type". */
  accessTokenType: AccessTokenType
  projectRoleAssertion: boolean
  accessTokenRoleAssertion: boolean
  /** Seconds; `amr` in RFC 8176 values. */
  authTime: number
  amr: string[]
  actor?: Actor | undefined
  /** The login's session, for tokens from the code flow. */
  sessionId?: string | undefined
  idToken?: IdTokenRequest | undefined
  /** 0 or negative for an already expired token. */
  expiresIn?: number | undefined
  /** Merged into a JWT access token's claims last; `undefined` removes a claim. */
  claims?: Record<string, unknown> | undefined
}

export interface IssuedTokens {
  accessToken: string
  idToken: string | undefined
  expiresIn: number
  record: TokenRecord
}

/**
 * `aud`: every client id of the app's project, the project id, then the
 * projects of audience scopes. An ID token only for a login with `openid`
 * (zitadel internal/api/oidc/token.go accessTokenResponseFromSession).
 */
export function appTokenRequest (directory: Directory, app: App, user: User, scopes: string[], issuer: string, login?: { nonce: string | undefined, authTime: number, sid: string }): TokenRequest {
  const project = directory.project(app.projectId) as Project
  const audience = audienceFromScopes(scopes, directory.zitadelProjectId, [...directory.projectClientIds(project.id), project.id])
  return {
    issuer,
    user,
    clientId: app.clientId,
    projectId: project.id,
    scopes,
    audience,
    accessTokenType: app.accessTokenType,
    projectRoleAssertion: project.assertRoles,
    accessTokenRoleAssertion: app.roleAssertion,
    authTime: login?.authTime ?? now(),
    amr: ['pwd'],
    sessionId: login?.sid,
    idToken: login === undefined || !scopes.includes(SCOPES.openid)
      ? undefined
      : { nonce: login.nonce, sid: login.sid, roleAssertion: app.idTokenRoleAssertion, userInfoAssertion: app.idTokenUserinfoAssertion }
  }
}

/**
 * The JWT-profile and client-credentials grants (zitadel/zitadel
 * internal/api/oidc/token_jwt_profile.go, token_client_credentials.go): the
 * client is the service user's login name (`clientID: user.Username`), so
 * `client_id` is the username and, without audience scopes, so is `aud`
 * (zitadel/oidc NewAccessTokenClaims falls back to the client id). No asking
 * project: only per-project role claims. `amr` is empty for a key
 * (private_key has no RFC 8176 value in zitadel amr.go), `pwd` for a secret.
 * With `openid`, the ID token gets the usual lifetime: clientCredentialsClient
 * reports 0 (client_credentials.go), but Zitadel v4's service-user ID tokens
 * do not arrive expired.
 */
export function serviceTokenRequest (directory: Directory, user: User, scopes: string[], { issuer, clientId = user.username, amr = [] }: { issuer: string, clientId?: string, amr?: string[] }): TokenRequest {
  const audience = audienceFromScopes(scopes, directory.zitadelProjectId)
  return {
    issuer,
    user,
    clientId,
    projectId: undefined,
    scopes,
    audience: audience.length > 0 ? audience : [clientId],
    accessTokenType: user.accessTokenType,
    projectRoleAssertion: false,
    accessTokenRoleAssertion: true,
    authTime: now(),
    amr,
    idToken: scopes.includes(SCOPES.openid)
      ? { nonce: undefined, sid: undefined, roleAssertion: true, userInfoAssertion: false }
      : undefined
  }
}

interface TokenServiceContext {
  directory: Directory
  keys: KeyRing
  ids: IdGenerator
  accessTokenLifetime: number
  idTokenLifetime: number
}

/** The scopes of every PAT (zitadel internal/api/grpc/user/v2 AddPersonalAccessToken: "currently static"). */
const PAT_SCOPES = Object.freeze([SCOPES.openid, SCOPES.profile, SCOPES.metadata, SCOPES.resourceOwner])

/** Zitadel's default PAT expiry when none is given: 9999-01-01 (domain.ValidateExpirationDate). */
const PAT_NEVER = Date.UTC(9999, 0, 1) / 1000

/** Remembers access tokens for introspection, userinfo and revocation. */
export class TokenService {
  /** By `jti` */
  readonly #records = new Map<string, TokenRecord>()
  /** Opaque tokens and PATs, by the token */
  readonly #opaque = new Map<string, TokenRecord>()
  readonly #ctx: TokenServiceContext

  constructor (ctx: TokenServiceContext) {
    this.#ctx = ctx
  }

  async issue (req: TokenRequest): Promise<IssuedTokens> {
    const iat = now()
    this.#sweep(iat)
    const { accessToken, record } = req.accessTokenType === 'opaque' ? this.#opaqueToken(req, iat) : await this.#jwt(req, iat)
    const idToken = req.idToken === undefined ? undefined : await this.idToken(req, req.idToken, accessToken, iat)
    return { accessToken, idToken, expiresIn: Math.max(0, record.exp - iat), record }
  }

  /** No client and no audience of its own: introspection adds the caller's. */
  personalAccessToken (user: User, issuer: string, expiresIn: number | undefined): string {
    const iat = now()
    const token = randomToken(OPAQUE_TOKEN_BYTES)
    this.#opaque.set(token, {
      jti: this.#ctx.ids.next(),
      issuer,
      userId: user.id,
      clientId: '',
      projectId: undefined,
      scopes: PAT_SCOPES,
      audience: Object.freeze([]),
      iat,
      exp: expiresIn === undefined ? PAT_NEVER : iat + expiresIn,
      authTime: 0,
      amr: Object.freeze([]),
      actor: undefined,
      isPAT: true,
      sessionId: undefined,
      revoked: false
    })
    return token
  }

  #opaqueToken (req: TokenRequest, iat: number): { accessToken: string, record: TokenRecord } {
    const accessToken = randomToken(OPAQUE_TOKEN_BYTES)
    const record = this.#record(req, this.#newJti(), iat, iat + (req.expiresIn ?? this.#ctx.accessTokenLifetime))
    this.#opaque.set(accessToken, record)
    return { accessToken, record }
  }

  async #jwt (req: TokenRequest, iat: number): Promise<{ accessToken: string, record: TokenRecord }> {
    const { directory, keys } = this.#ctx
    const info = userInfo(directory, req.user, {
      scopes: req.scopes,
      projectId: req.projectId,
      projectRoleAssertion: req.projectRoleAssertion,
      roleAssertion: req.accessTokenRoleAssertion,
      userInfoAssertion: false
    })
    // zitadel/oidc NewAccessTokenClaims and zitadel token.go createJWT: the user-info claims are merged in, `act` when impersonating, no `scope` claim.
    const claims: Record<string, unknown> = {
      iss: req.issuer,
      sub: req.user.id,
      aud: [...req.audience],
      exp: iat + (req.expiresIn ?? this.#ctx.accessTokenLifetime),
      iat,
      nbf: iat,
      jti: this.#newJti(),
      client_id: req.clientId,
      act: req.actor,
      ...info.reserved,
      ...req.claims
    }
    for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name]
    const accessToken = await keys.sign(claims)
    const record = this.#record(req, String(claims.jti), iat, typeof claims.exp === 'number' ? claims.exp : 0)
    this.#records.set(record.jti, record)
    return { accessToken, record }
  }

  /** Zitadel's token ids: `V2_{oidc session id}-at_{token id}`. */
  #newJti (): string {
    return `V2_${this.#ctx.ids.next()}-at_${this.#ctx.ids.next()}`
  }

  #record (req: TokenRequest, jti: string, iat: number, exp: number): TokenRecord {
    return {
      jti,
      issuer: req.issuer,
      userId: req.user.id,
      clientId: req.clientId,
      projectId: req.projectId,
      scopes: Object.freeze([...req.scopes]),
      audience: Object.freeze([...req.audience]),
      iat,
      exp,
      authTime: req.authTime,
      amr: Object.freeze([...req.amr]),
      actor: req.actor,
      isPAT: false,
      sessionId: req.sessionId,
      revoked: false
    }
  }

  /**
   * A live token's record. A JWT must be signed with a key still published,
   * for this issuer (zitadel access_token.go verifyAccessToken checks `iss`
   * against the request's); an opaque token depends on neither. Its user
   * must be active: introspection and userinfo read the user with
   * zitadel internal/query/userinfo_by_id.sql, which finds active users only
   * (`u.state = 1`), and answer `active: false` or 401 when it finds none.
   */
  async verify (token: string, issuer: string): Promise<TokenRecord | undefined> {
    const record = this.#opaque.get(token) ?? await this.#jwtRecord(token, issuer)
    if (record === undefined || record.revoked || now() >= record.exp) return undefined
    if (!isActiveUser(this.#ctx.directory.user(record.userId))) return undefined
    return record
  }

  async #jwtRecord (token: string, issuer: string): Promise<TokenRecord | undefined> {
    const claims = await this.#ctx.keys.verify(token)
    if (claims === undefined || claims.iss !== issuer || typeof claims.jti !== 'string') return undefined
    return this.#records.get(claims.jti)
  }

  revoke (record: TokenRecord): void {
    record.revoked = true
  }

  /**
   * Ends every token of a user for good, PATs included: what Zitadel does
   * when it deactivates, locks or removes one. Tokens issued before such an
   * event stay invalid after a reactivation or an unlock
   * (zitadel internal/query/access_token.go checkSessionNotTerminatedAfter;
   * internal/auth/repository/eventsourcing/handler/token.go deletes the
   * user's v1 tokens and PATs).
   */
  revokeUser (userId: string): void {
    for (const record of this.#all()) if (record.userId === userId) record.revoked = true
  }

  /** Ends the tokens of a sign-in session (checkSessionNotTerminatedAfter looks for `session.terminated`). */
  revokeSession (sessionId: string): void {
    for (const record of this.#all()) if (record.sessionId === sessionId) record.revoked = true
  }

  /** Removes a user's PAT, named by the token or its id, or all of them; returns the ids of those removed. */
  removePersonalAccessTokens (userId: string, token: string | undefined): string[] {
    const removed: string[] = []
    for (const [key, record] of this.#opaque) {
      if (!record.isPAT || record.userId !== userId || !(token === undefined || token === key || token === record.jti)) continue
      this.#opaque.delete(key)
      record.revoked = true
      removed.push(record.jti)
    }
    return removed
  }

  * #all (): Iterable<TokenRecord> {
    yield * this.#records.values()
    yield * this.#opaque.values()
  }

  /**
   * An ID token (zitadel/oidc pkg/oidc/token.go NewIDTokenClaims, zitadel
   * token.go createIDToken): `azp` and `client_id` name the client, which is
   * always in `aud`; `at_hash` when it comes with an access token; never
   * `jti` nor `nbf`.
   */
  async idToken (req: TokenRequest, id: IdTokenRequest, accessToken: string | undefined, iat = now()): Promise<string> {
    const { directory, keys, idTokenLifetime } = this.#ctx
    const info = userInfo(directory, req.user, {
      scopes: req.scopes,
      projectId: req.projectId,
      projectRoleAssertion: req.projectRoleAssertion,
      roleAssertion: id.roleAssertion,
      userInfoAssertion: id.userInfoAssertion
    })
    const claims: Record<string, unknown> = {
      iss: req.issuer,
      sub: req.user.id,
      aud: addOnce([...req.audience], req.clientId),
      exp: iat + idTokenLifetime,
      iat,
      auth_time: req.authTime,
      nonce: id.nonce,
      amr: req.amr.length > 0 ? req.amr : undefined,
      azp: req.clientId,
      client_id: req.clientId,
      at_hash: accessToken === undefined ? undefined : atHash(accessToken, keys.active.alg),
      sid: id.sid,
      act: req.actor,
      ...info.standard,
      ...info.reserved
    }
    for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name]
    return keys.sign(claims)
  }

  /** The maps live as long as the emulator. */
  #sweep (at: number): void {
    for (const map of [this.#records, this.#opaque]) {
      for (const [key, record] of map) if (record.exp <= at) map.delete(key)
    }
  }
}

/** OIDC Core §3.1.3.6: the left half of the hash that matches the signing algorithm, base64url. */
export function atHash (accessToken: string, alg: EmulatorAlgorithm): string {
  const hash = alg.endsWith('384') ? 'sha384' : alg.endsWith('256') ? 'sha256' : 'sha512'
  const digest = createHash(hash).update(accessToken, 'ascii').digest()
  return digest.subarray(0, digest.length / 2).toString('base64url')
}

/** Zitadel issues tokens to, and finds live tokens of, active users only. */
export function isActiveUser (user: User | undefined): user is User {
  return user?.state === 'active'
}

export function now (): number {
  return Math.floor(Date.now() / 1000)
}
