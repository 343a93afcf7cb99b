import { createHash } from 'node:crypto'
import { userInfo } from './claims.js'
import type { AccessTokenType, App, Directory, Project, User } from './directory.js'
import { randomToken, type IdGenerator } from './ids.js'
import type { KeyRing } from './keys.js'
import type { EmulatorAlgorithm } from './options.js'
import { addOnce, audienceFromScopes } from './scopes.js'

/**
 * Random bytes in an opaque access token. Zitadel's is the AES-CFB encryption
 * of `{tokenId}:{userId}` (zitadel/oidc pkg/op/token.go CreateBearerToken,
 * pkg/crypto/crypto.go EncryptAES): a 16-byte IV and about 62 bytes, base64url
 * without padding, so about 104 characters and never a dot. The emulator has
 * nothing to decrypt: it hands out as many random bytes and looks them up.
 */
const OPAQUE_TOKEN_BYTES = 78

/** What the emulator remembers of an access token: Zitadel keeps the same per token id (its OIDC session). */
export interface TokenRecord {
  readonly jti: string
  readonly userId: string
  readonly clientId: string
  /** The project of the client that asked; undefined for service users' JWT-profile tokens. */
  readonly projectId: string | undefined
  readonly scopes: readonly string[]
  readonly audience: readonly string[]
  readonly iat: number
  readonly exp: number
  revoked: boolean
}

export interface IdTokenRequest {
  nonce: string | undefined
  authTime: number
  amr: string[]
  sid: string | undefined
  roleAssertion: boolean
  userInfoAssertion: boolean
}

/** Everything that decides what the tokens contain. */
export interface TokenRequest {
  user: User
  clientId: string
  projectId: string | undefined
  scopes: string[]
  audience: string[]
  /** The app's "Auth Token Type" or the service user's "Access Token Type". */
  accessTokenType: AccessTokenType
  projectRoleAssertion: boolean
  accessTokenRoleAssertion: boolean
  /** Set to also issue an ID token. */
  idToken?: IdTokenRequest
  /** Seconds; may be 0 or negative for an already expired token. */
  expiresIn?: number
  /** Merged into a JWT access token's claims last; `undefined` removes a claim. */
  claims?: Record<string, unknown>
}

export interface IssuedTokens {
  accessToken: string
  idToken: string | undefined
  expiresIn: number
  record: TokenRecord
}

/**
 * A token for an app's login: `aud` is every client id of the app's project
 * and the project id, then the projects of audience scopes.
 */
export function appTokenRequest (directory: Directory, app: App, user: User, scopes: string[], login?: { nonce: string | undefined, authTime: number, sid: string }): TokenRequest {
  const project = directory.project(app.projectId) as Project
  const audience = audienceFromScopes(scopes, directory.zitadelProjectId, [...directory.projectClientIds(project.id), project.id])
  return {
    user,
    clientId: app.clientId,
    projectId: project.id,
    scopes,
    audience,
    accessTokenType: app.accessTokenType,
    projectRoleAssertion: project.assertRoles,
    accessTokenRoleAssertion: app.roleAssertion,
    // The authorization endpoint insists on `openid`, so a login always gets an ID token.
    idToken: login === undefined
      ? undefined
      : { ...login, amr: ['pwd'], roleAssertion: app.idTokenRoleAssertion, userInfoAssertion: app.idTokenUserinfoAssertion }
  }
}

/**
 * A service user's token from the JWT-profile grant
 * (zitadel/zitadel internal/api/oidc/token_jwt_profile.go): `aud` comes only
 * from audience scopes (the user's own id when there are none, as
 * zitadel/oidc NewAccessTokenClaims falls back to the client id), `client_id`
 * is the user's id, and there is no asking project, so only the per-project
 * role claims can appear.
 */
export function serviceTokenRequest (directory: Directory, user: User, scopes: string[], withIdToken: boolean): TokenRequest {
  const audience = audienceFromScopes(scopes, directory.zitadelProjectId)
  return {
    user,
    clientId: user.id,
    projectId: undefined,
    scopes,
    audience: audience.length > 0 ? audience : [user.id],
    accessTokenType: user.accessTokenType,
    projectRoleAssertion: false,
    accessTokenRoleAssertion: true,
    // The grant insists on `openid`, so it always comes with an ID token.
    idToken: withIdToken
      ? { nonce: undefined, authTime: now(), amr: [], sid: undefined, roleAssertion: false, userInfoAssertion: false }
      : undefined
  }
}

export interface TokenServiceContext {
  issuer: string
  directory: Directory
  keys: KeyRing
  ids: IdGenerator
  accessTokenLifetime: number
  idTokenLifetime: number
}

/**
 * Issues access tokens (signed JWTs or opaque strings) and ID tokens, and
 * remembers access tokens for introspection, userinfo and revocation, as
 * Zitadel keeps an OIDC session per token id.
 */
export class TokenService {
  /** JWT access tokens by `jti` */
  readonly #records = new Map<string, TokenRecord>()
  /** Opaque access tokens by the token itself */
  readonly #opaque = new Map<string, TokenRecord>()
  readonly #ctx: TokenServiceContext

  constructor (ctx: TokenServiceContext) {
    this.#ctx = ctx
  }

  async issue (req: TokenRequest): Promise<IssuedTokens> {
    const iat = now()
    this.#sweep(iat)
    const { accessToken, record } = req.accessTokenType === 'opaque' ? this.#opaqueToken(req, iat) : await this.#jwt(req, iat)
    const idToken = req.idToken === undefined ? undefined : await this.#idToken(req, req.idToken, accessToken, iat)
    return { accessToken, idToken, expiresIn: Math.max(0, record.exp - iat), record }
  }

  /** An opaque access token: nothing to read in it, everything in the record. */
  #opaqueToken (req: TokenRequest, iat: number): { accessToken: string, record: TokenRecord } {
    const accessToken = randomToken(OPAQUE_TOKEN_BYTES)
    const record = this.#record(req, this.#newJti(), iat, iat + (req.expiresIn ?? this.#ctx.accessTokenLifetime))
    this.#opaque.set(accessToken, record)
    return { accessToken, record }
  }

  async #jwt (req: TokenRequest, iat: number): Promise<{ accessToken: string, record: TokenRecord }> {
    const { issuer, directory, keys } = this.#ctx
    const info = userInfo(directory, req.user, {
      scopes: req.scopes,
      projectId: req.projectId,
      projectRoleAssertion: req.projectRoleAssertion,
      roleAssertion: req.accessTokenRoleAssertion,
      userInfoAssertion: false
    })
    // zitadel/oidc NewAccessTokenClaims; the user-info claims are merged in, and there is no `scope` claim.
    const claims: Record<string, unknown> = {
      iss: issuer,
      sub: req.user.id,
      aud: [...req.audience],
      exp: iat + (req.expiresIn ?? this.#ctx.accessTokenLifetime),
      iat,
      nbf: iat,
      jti: this.#newJti(),
      client_id: req.clientId,
      ...info.reserved,
      ...req.claims
    }
    for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name]
    const accessToken = await keys.sign(claims)
    // Remembered with the claims as signed, overrides included.
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
      userId: req.user.id,
      clientId: req.clientId,
      projectId: req.projectId,
      scopes: Object.freeze([...req.scopes]),
      audience: Object.freeze([...req.audience]),
      iat,
      exp,
      revoked: false
    }
  }

  /**
   * The record of a live access token this emulator issued: an opaque token
   * it handed out, or a JWT signed with a key it still publishes (an opaque
   * token does not depend on the signing keys). Otherwise undefined.
   */
  async verify (token: string): Promise<TokenRecord | undefined> {
    const record = this.#opaque.get(token) ?? await this.#jwtRecord(token)
    if (record === undefined || record.revoked || now() >= record.exp) return undefined
    return record
  }

  async #jwtRecord (token: string): Promise<TokenRecord | undefined> {
    const claims = await this.#ctx.keys.verify(token)
    if (claims === undefined || claims.iss !== this.#ctx.issuer || typeof claims.jti !== 'string') return undefined
    return this.#records.get(claims.jti)
  }

  revoke (record: TokenRecord): void {
    record.revoked = true
  }

  /** The ID token (zitadel/oidc NewIDTokenClaims): `azp` and `client_id` name the client, which is always in `aud`. */
  async #idToken (req: TokenRequest, id: IdTokenRequest, accessToken: string, iat: number): Promise<string> {
    const { issuer, directory, keys, idTokenLifetime } = this.#ctx
    const info = userInfo(directory, req.user, {
      scopes: req.scopes,
      projectId: req.projectId,
      projectRoleAssertion: req.projectRoleAssertion,
      roleAssertion: id.roleAssertion,
      userInfoAssertion: id.userInfoAssertion
    })
    const claims: Record<string, unknown> = {
      iss: issuer,
      sub: req.user.id,
      aud: addOnce([...req.audience], req.clientId),
      exp: iat + idTokenLifetime,
      iat,
      auth_time: id.authTime,
      nonce: id.nonce,
      amr: id.amr.length > 0 ? id.amr : undefined,
      azp: req.clientId,
      client_id: req.clientId,
      at_hash: atHash(accessToken, keys.active.alg),
      sid: id.sid,
      ...info.standard,
      ...info.reserved
    }
    for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name]
    return keys.sign(claims)
  }

  /** Forgets tokens that have expired: the maps live as long as the emulator. */
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

export function now (): number {
  return Math.floor(Date.now() / 1000)
}
