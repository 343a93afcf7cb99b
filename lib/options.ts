import { Type, KindGuard, type TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { InvalidOptionError, invalidOption } from './errors.js'
import type { HttpDispatcher } from './http.js'
import type { RedisClient } from './redis.js'
import type { ZitadelRequestUser, ZitadelUser } from './user.js'
import { introspectionCredentials, keepCredentials, resolveIntrospection, type IntrospectionOptions, type ResolvedIntrospection } from './introspection-options.js'
import { isLoopbackHost, normaliseIssuer } from './issuer-url.js'
import { resolveOpenApi, type OpenApiOptions, type ResolvedOpenApi } from './openapi-options.js'
import { isPlainObject } from './values.js'

/**
 * Signature algorithms a token may use. Asymmetric only: `none` and the HS*
 * family are never accepted, whatever the options say (RFC 8725 §3.1-3.2).
 */
export const SUPPORTED_ALGORITHMS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA'
] as const

export type Algorithm = typeof SUPPORTED_ALGORITHMS[number]

/**
 * The algorithms of Zitadel's web keys (docs: guides/integrate/login/oidc/webkeys),
 * the default of `algorithms`: an administrator may activate a key of any of
 * them at any time. Each is bound to keys of its own type and curve
 * (lib/jws.ts), so accepting all seven opens no algorithm confusion.
 */
export const ZITADEL_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const satisfies readonly Algorithm[]

/**
 * Zitadel sets `iat` and `nbf` to its own "now" (zitadel/oidc
 * pkg/oidc/token.go NewAccessTokenClaims): without this, a host whose clock is
 * a little behind refuses fresh tokens. `exp` is never extended by default.
 */
export const MIN_NOT_BEFORE_TOLERANCE = 5

/**
 * What `app.register(zitadelAuth, options)` takes: one Zitadel project
 * (`issuer`, `projectId` and their rules), or several under `tenants`.
 */
export type ZitadelPluginOptions = ZitadelAuthOptions | ZitadelMultiTenantOptions

/** One Zitadel instance and project: the usual set-up. Durations are in seconds and may be fractional. */
export interface ZitadelAuthOptions extends ZitadelIssuerOptions, ZitadelSharedOptions {
  tenants?: undefined
}

/**
 * Several Zitadel instances or projects in one app. Each token is checked by
 * the one tenant its unverified `iss` (and, for tenants of one instance, its
 * `aud`) names, and never by another; `request.zitadelUser.tenant` says which.
 */
export type ZitadelMultiTenantOptions = ZitadelSharedOptions & { [K in keyof ZitadelIssuerOptions]?: undefined } & {
  /** Two or more tenants, each with its issuer, project and rules. */
  tenants: readonly ZitadelTenantOptions[]
}

/** One tenant of the `tenants` option. */
export interface ZitadelTenantOptions extends ZitadelIssuerOptions {
  /** The tenant's name, in `request.zitadelUser.tenant`, the guards' `tenant` option and the logs. Letters, digits, `.`, `-`, `_`. */
  name: string
}

/** One issuer and project, and the rules its tokens must pass: top-level options, or a tenant's. */
export interface ZitadelIssuerOptions {
  /**
   * The Zitadel instance URL, e.g. `https://my-instance.zitadel.cloud`. A
   * trailing slash is ignored. Several URLs of one instance (its custom
   * domains, which share its keys): tokens may carry any of them in `iss`;
   * discovery and keys come from the first.
   */
  issuer: string | readonly string[]
  /** The id of the Zitadel project that owns this API; roles are read from this project's role claim. */
  projectId: string
  /** The client id of the User Agent app used to log in (Swagger UI, docs). Not used to check tokens. */
  clientId?: string | undefined
  /** The token's `aud` must contain one of these. Default: `[projectId]`. */
  audience?: string | readonly string[] | undefined
  /**
   * When set, the token's `client_id` must be one of these: app client ids, or
   * service users' usernames (Zitadel puts them there for service users'
   * grants). To pin service users prefer `allowedSubjects`: usernames change.
   */
  allowedClientIds?: readonly string[] | undefined
  /** When set, the token's `sub` must be one of these user ids: the way to pin service users. */
  allowedSubjects?: readonly string[] | undefined
  /**
   * Signature algorithms accepted. Default: the seven of Zitadel's web keys
   * (RS256, RS384, RS512, ES256, ES384, ES512, EdDSA), each only with a key of
   * its type and curve. A list narrows this; `none` and HS* are never accepted.
   */
  algorithms?: readonly Algorithm[] | undefined
  /** A TypeBox schema the token's claims must also satisfy, checked after the signature. */
  claimsSchema?: TSchema | undefined
  /** Accept an `http:` issuer that is not on this machine. Default: false (only https, or http on loopback). */
  allowInsecureIssuer?: boolean | undefined
  /** How the OpenAPI document names the Zitadel login (used by `fastify.zitadel.swaggerOptions()` and `swaggerUiOptions()`). */
  openapi?: OpenApiOptions | undefined
  /** Accept opaque tokens (and, with `tokens: 'all'`, see revocations) by asking Zitadel's introspection endpoint. Default: off. */
  introspection?: IntrospectionOptions | undefined
}

/** The options every tenant shares. */
export interface ZitadelSharedOptions {
  /**
   * Seconds of clock skew allowed on `exp`, `nbf` and `iat`, 0 to 30. Default:
   * 0; `nbf` and `iat` always get at least 5 s, for hosts a little behind Zitadel.
   */
  clockTolerance?: number | undefined
  /** Seconds a fetched key set is used before it is replaced; the IdP's `Cache-Control: max-age` may shorten it. Default: 600. */
  jwksCacheTtl?: number | undefined
  /**
   * The least seconds between two key fetches caused by unknown key ids or
   * failures; with `introspection`, also how long new opaque tokens get 503
   * after a failed introspection call. Default: 10.
   */
  jwksCooldown?: number | undefined
  /** Seconds the last good keys stay usable past their refresh time while the IdP cannot be reached. Default: 3600. */
  jwksMaxStale?: number | undefined
  /** Seconds before a request to the IdP is abandoned. Default: 5. */
  httpTimeout?: number | undefined
  /**
   * An undici `Dispatcher` for every request to Zitadel (discovery, keys,
   * introspection), for a proxy or a private CA between the API and Zitadel:
   * `new ProxyAgent('http://proxy:3128')` or `new Agent({ connect: { ca } })`
   * from the `undici` package. Default: Node's global dispatcher. Not shown in
   * `fastify.zitadel.options` (a proxy's credentials may be in it).
   */
  dispatcher?: HttpDispatcher | undefined
  /** How many verified tokens are kept (per tenant) so that a repeated token skips the signature check; 0 turns the cache off. Integer, 0 to 1000000. Default: 10000. */
  tokenCacheSize?: number | undefined
  /** The realm of `WWW-Authenticate` challenges. Default: `'api'`. */
  realm?: string | undefined
  /**
   * Makes `request.user` your own object from the verified user (derived
   * fields, methods), once per token: the result is cached with the token.
   * Synchronous. What it throws gets 401 `ZITADEL_AUTH_USER_REFUSED` (logged,
   * not cached). Guards keep judging `request.zitadelUser`, the verified
   * `ZitadelUser`. Type the result through `ZitadelAuthTypes`.
   */
  formatUser?: ((user: ZitadelUser) => ZitadelRequestUser) | undefined
  /**
   * Also read the access token from this cookie, for server-rendered apps and
   * backends-for-frontends that keep it in an HttpOnly cookie. Needs
   * `@fastify/cookie`. A Bearer `Authorization` header wins over the cookie.
   * Read on GET, HEAD and OPTIONS only, unless `unsafeMethods: true`: a
   * browser sends cookies with cross-site requests, so a cookie token on a
   * POST is a CSRF risk unless the cookie is `SameSite` or the app checks a
   * CSRF token. Default: off (the header only).
   */
  cookie?: CookieOptions | undefined
  /**
   * An ioredis client (or one with its API) shared by the API's instances:
   * revocations reach every instance within a second, and Zitadel's
   * introspection is asked once per token across them. Not shown in
   * `fastify.zitadel.options`. Default: none (each instance on its own).
   */
  redis?: RedisClient | undefined
  /** The prefix of the plugin's Redis keys and channel, for several APIs on one Redis. Default: `'fastify-zitadel-auth:'`. */
  redisNamespace?: string | undefined
  /** How long revocations (`fastify.zitadel.revokeSubject()` and the like) are kept. */
  revocation?: RevocationOptions | undefined
  /**
   * `app.ready()` (and `listen()`) wait for the first key load and fail with
   * `ZITADEL_AUTH_KEYS_NOT_LOADED` when it fails: fail fast at start-up, so an
   * orchestrator restarts the API instead of routing traffic to it. Default:
   * false (the keys load in the background; requests get 503 until they are in).
   */
  waitForKeys?: boolean | undefined
}

/** The `revocation` option. */
export interface RevocationOptions {
  /**
   * Seconds the longest access token of your Zitadel lives (its OIDC
   * settings): a subject's revocation is kept this long, after which every
   * token it covers has expired. From 60 to 604800. Default: 43200 (12 hours,
   * Zitadel's default).
   */
  maxTokenLifetime?: number | undefined
}

/** Where a token may come from besides the Authorization header. */
export interface CookieOptions {
  /** The cookie's name. */
  name: string
  /** Read the cookie on POST, PUT, PATCH and DELETE too: only with CSRF protection. Default: false. */
  unsafeMethods?: boolean | undefined
}

/** The options after validation and defaults: what `fastify.zitadel.options` shows. Frozen. */
export interface ResolvedOptions {
  /** The tenant's name with the `tenants` option; undefined without. */
  readonly tenant: string | undefined
  /** The first issuer: discovery, keys and introspection come from it. */
  readonly issuer: string
  /** Every issuer a token's `iss` may name, `issuer` first. */
  readonly issuers: readonly string[]
  readonly projectId: string
  readonly clientId: string | undefined
  readonly audience: readonly string[]
  /**
   * With `tenants`: the audiences of the other tenants of this tenant's
   * issuers. A token that names one is refused (401
   * `ZITADEL_AUTH_AUDIENCE_INVALID`): it could be theirs. Empty without.
   */
  readonly otherTenantsAudience: readonly string[]
  readonly allowedClientIds: readonly string[] | undefined
  readonly allowedSubjects: readonly string[] | undefined
  readonly algorithms: readonly Algorithm[]
  readonly clockTolerance: number
  readonly jwksCacheTtl: number
  readonly jwksCooldown: number
  readonly jwksMaxStale: number
  readonly httpTimeout: number
  readonly tokenCacheSize: number
  readonly claimsSchema: TSchema | undefined
  readonly realm: string
  readonly allowInsecureIssuer: boolean
  readonly waitForKeys: boolean
  readonly formatUser: ((user: ZitadelUser) => unknown) | undefined
  /** The prefix of the Redis keys, with the `redis` option; undefined without. */
  readonly redisNamespace: string | undefined
  /** The `revocation` option with its default. */
  readonly revocation: { readonly maxTokenLifetime: number }
  /** The `cookie` option with its default; undefined when off. */
  readonly cookie: { readonly name: string, readonly unsafeMethods: boolean } | undefined
  /** `{issuer}/.well-known/openid-configuration` */
  readonly discoveryUrl: string
  /** `urn:zitadel:iam:org:project:{projectId}:roles`, the only claim roles are read from. */
  readonly roleClaim: string
  /** The security scheme name and the scopes of the OpenAPI document. */
  readonly openapi: ResolvedOpenApi
  /** The `introspection` option without its secret or key; undefined when off. */
  readonly introspection: ResolvedIntrospection | undefined
}

const NonEmptyString = Type.String({ minLength: 1, pattern: '^\\S+$' })
const NonEmptyList = Type.Array(NonEmptyString, { minItems: 1 })
const seconds = (exclusiveMinimum: number | undefined, maximum: number) =>
  exclusiveMinimum === undefined
    ? Type.Number({ minimum: 0, maximum })
    : Type.Number({ exclusiveMinimum, maximum })

/** `expected` completes `option "name" must be …` in the registration error. */
const rules: Record<keyof ZitadelIssuerOptions | keyof ZitadelSharedOptions, { schema: TSchema, expected: string }> = {
  issuer: {
    schema: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })]),
    expected: 'an absolute http(s) URL string, such as "https://my-instance.zitadel.cloud", or a non-empty array of them'
  },
  // Becomes part of a claim name (urn:zitadel:iam:org:project:{id}:roles): no colons, no spaces.
  // Zitadel's client ids look like `{id}@{project}`: a value with @ is one pasted in the wrong place.
  projectId: {
    schema: Type.String({ pattern: '^[^\\s:@]+$' }),
    expected: 'a non-empty string without spaces, colons or @ (the Zitadel project id, such as "263783958406348951", from Project → General; a value with @ is an app\'s client id)'
  },
  clientId: { schema: NonEmptyString, expected: 'a non-empty string without spaces' },
  audience: { schema: Type.Union([NonEmptyString, NonEmptyList]), expected: 'a non-empty string or a non-empty array of non-empty strings' },
  allowedClientIds: { schema: NonEmptyList, expected: 'a non-empty array of non-empty strings' },
  allowedSubjects: { schema: NonEmptyList, expected: 'a non-empty array of non-empty strings (Zitadel user ids)' },
  algorithms: {
    schema: Type.Array(Type.Union(SUPPORTED_ALGORITHMS.map((a) => Type.Literal(a))), { minItems: 1 }),
    expected: `a non-empty array of ${SUPPORTED_ALGORITHMS.join(', ')}`
  },
  clockTolerance: { schema: seconds(undefined, 30), expected: 'a number of seconds from 0 to 30' },
  jwksCacheTtl: { schema: seconds(0, 86400), expected: 'a number of seconds above 0 and at most 86400' },
  jwksCooldown: { schema: seconds(0, 3600), expected: 'a number of seconds above 0 and at most 3600' },
  jwksMaxStale: { schema: seconds(undefined, 7 * 86400), expected: 'a number of seconds from 0 to 604800' },
  httpTimeout: { schema: seconds(0, 60), expected: 'a number of seconds above 0 and at most 60' },
  // Checked for its dispatch method in resolveOptions.
  dispatcher: { schema: Type.Any(), expected: 'an undici Dispatcher (an object with a dispatch method), such as new ProxyAgent(url) from the undici package' },
  tokenCacheSize: { schema: Type.Integer({ minimum: 0, maximum: 1_000_000 }), expected: 'an integer from 0 (no cache) to 1000000' },
  claimsSchema: { schema: Type.Any(), expected: 'a TypeBox schema, such as Type.Object({ … })' },
  // Goes inside a quoted-string of WWW-Authenticate (RFC 9110 §11.2): printable ASCII, no quote or backslash.
  realm: { schema: Type.String({ pattern: '^[\\x20\\x21\\x23-\\x5b\\x5d-\\x7e]+$' }), expected: 'a non-empty string of printable ASCII without " or \\' },
  allowInsecureIssuer: { schema: Type.Boolean(), expected: 'a boolean' },
  waitForKeys: { schema: Type.Boolean(), expected: 'a boolean' },
  // An async function returns a promise, which would become request.user.
  formatUser: { schema: Type.Any(), expected: 'a synchronous function (user) => your user object' },
  // RFC 6265 §4.1.1: a cookie-name is an RFC 2616 token.
  cookie: {
    schema: Type.Object({ name: Type.String({ pattern: '^[!#$%&\'*+\\-.^_`|~0-9A-Za-z]+$' }), unsafeMethods: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
    expected: 'an object { name, unsafeMethods? }: name a cookie name (RFC 6265 token characters), unsafeMethods a boolean'
  },
  // Checked for its methods in checkOptionValues.
  redis: { schema: Type.Any(), expected: 'an ioredis client (new Redis(url) from the ioredis package), or one with its API' },
  redisNamespace: { schema: Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' }), expected: 'a non-empty string of printable ASCII without spaces, at most 128 characters' },
  revocation: {
    schema: Type.Object({ maxTokenLifetime: Type.Optional(Type.Number({ minimum: 60, maximum: 7 * 86400 })) }, { additionalProperties: false }),
    expected: 'an object { maxTokenLifetime? }: maxTokenLifetime a number of seconds from 60 to 604800'
  },
  // Fields checked in resolveOpenApi, each with its own message.
  openapi: {
    schema: Type.Object({ securityScheme: Type.Optional(Type.Unknown()), scopes: Type.Optional(Type.Unknown()), description: Type.Optional(Type.Unknown()) }, { additionalProperties: false }),
    expected: 'an object with only "securityScheme", "scopes" and "description"'
  },
  // Fields checked in resolveIntrospection.
  introspection: { schema: Type.Any(), expected: 'an object' }
}

/** Options Fastify's `register` passes along with the plugin's own. */
const fastifyRegisterOptions = new Set(['prefix', 'logLevel', 'logSerializers'])

/** The options that belong to one issuer: with `tenants`, inside each tenant only. */
const ISSUER_OPTIONS: ReadonlySet<string> = new Set<keyof ZitadelIssuerOptions>([
  'issuer', 'projectId', 'clientId', 'audience', 'allowedClientIds', 'allowedSubjects', 'algorithms', 'claimsSchema', 'allowInsecureIssuer', 'openapi', 'introspection'
])

/** Tenant names become OpenAPI component names and log fields. */
const TENANT_NAME = /^[A-Za-z0-9._-]{1,64}$/

/**
 * The options of each tenant, with the shared options in each: one without
 * `tenants`. A wrong value is an error naming the option, never a silent
 * fallback. The caller's object is not changed.
 */
export function resolveTenants (input: unknown): readonly ResolvedOptions[] {
  if (input === null || typeof input !== 'object' || (input as { tenants?: unknown }).tenants === undefined) return [resolveOptions(input)]
  const { tenants, ...shared } = input as Record<string, unknown>
  for (const name of Object.keys(shared)) {
    if (ISSUER_OPTIONS.has(name) && shared[name] !== undefined) invalidOption(`option "${name}" belongs inside each tenant when "tenants" is given`)
    if (!Object.hasOwn(rules, name) && !fastifyRegisterOptions.has(name)) invalidOption(`unknown option "${name}"; known options are ${Object.keys(rules).join(', ')}, tenants`)
  }
  if (!Array.isArray(tenants) || tenants.length < 2) {
    invalidOption('option "tenants" must be an array of two or more tenants, each { name, issuer, projectId, … }; with one, give its options at the top level')
  }
  checkOptionValues(shared)
  const names = new Set<string>()
  // Array.from, not map: a hole in the array is a mistake to report, not to skip.
  const resolved = Array.from(tenants as unknown[], (tenant, i) => {
    const where = `tenants[${i}]`
    if (!isPlainObject(tenant)) invalidOption(`option "${where}" must be an object { name, issuer, projectId, … }`)
    const { name, ...own } = tenant
    if (typeof name !== 'string' || !TENANT_NAME.test(name)) invalidOption(`option "${where}.name" must be 1 to 64 letters, digits, ".", "-" or "_"`)
    if (names.has(name)) invalidOption(`option "${where}.name": "${name}" names two tenants`)
    names.add(name)
    for (const key of Object.keys(own)) {
      if (!ISSUER_OPTIONS.has(key)) invalidOption(`option "${where}.${key}" is not a tenant option; a tenant takes name, ${[...ISSUER_OPTIONS].join(', ')}`)
    }
    try {
      return resolveOptions({ ...shared, ...own }, name)
    } catch (err) {
      if (err instanceof InvalidOptionError) invalidOption(`tenant "${name}" (${where}): ${err.message.replace(/^fastify-zitadel-auth: /, '')}`)
      throw err
    }
  })
  checkDistinct(resolved)
  return resolved.map((t) => withOtherTenantsAudience(t, resolved))
}

/** `tenant` with the audiences of the other tenants that share one of its issuers. */
function withOtherTenantsAudience (tenant: ResolvedOptions, all: readonly ResolvedOptions[]): ResolvedOptions {
  const others = all.filter((o) => o !== tenant && o.issuers.some((iss) => tenant.issuers.includes(iss)))
  const copy: ResolvedOptions = Object.freeze({ ...tenant, otherTenantsAudience: Object.freeze([...new Set(others.flatMap((o) => o.audience))]) })
  const credentials = introspectionCredentials(tenant)
  if (credentials !== undefined) keepCredentials(copy, credentials)
  return copy
}

/**
 * A token must lead to one tenant: tenants that share an issuer are told
 * apart by `aud`, so their audiences may not overlap; and an opaque token
 * names no issuer, so only one tenant may introspect. Each tenant has its
 * own security scheme in the OpenAPI document.
 */
function checkDistinct (tenants: readonly ResolvedOptions[]): void {
  for (const [i, a] of tenants.entries()) {
    for (const b of tenants.slice(i + 1)) {
      if (!a.issuers.some((iss) => b.issuers.includes(iss))) continue
      const shared = a.audience.find((aud) => b.audience.includes(aud))
      if (shared !== undefined) {
        invalidOption(`tenants "${a.tenant as string}" and "${b.tenant as string}" share an issuer and the audience "${shared}": a token could belong to either; give them distinct projects or audiences`)
      }
    }
  }
  const schemes = tenants.map((t) => t.openapi.securityScheme)
  const twice = schemes.find((name, i) => schemes.indexOf(name) !== i)
  if (twice !== undefined) invalidOption(`tenants: two tenants have the OpenAPI security scheme "${twice}"; give each its own openapi.securityScheme`)
  const introspecting = tenants.filter((t) => t.introspection !== undefined)
  if (introspecting.length > 1) {
    invalidOption(`tenants ${introspecting.map((t) => `"${t.tenant as string}"`).join(' and ')} have the introspection option: an opaque token does not say which Zitadel issued it, so only one tenant may introspect`)
  }
}

/** One tenant's options, or the whole of them without `tenants`. */
export function resolveOptions (input: unknown, tenant?: string): ResolvedOptions {
  if (input === null || typeof input !== 'object') invalidOption('options must be an object with at least "issuer" and "projectId", or "tenants"')
  const opts = input as Record<string, unknown>

  for (const name of Object.keys(opts)) {
    if (!Object.hasOwn(rules, name) && !fastifyRegisterOptions.has(name) && !(name === 'tenants' && opts[name] === undefined)) {
      invalidOption(`unknown option "${name}"; known options are ${Object.keys(rules).join(', ')}, tenants`)
    }
  }
  for (const name of ['issuer', 'projectId'] as const) {
    if (opts[name] === undefined) invalidOption(`option "${name}" is required and must be ${rules[name].expected}`)
  }
  checkOptionValues(opts)

  const allowInsecureIssuer = (opts.allowInsecureIssuer as boolean | undefined) ?? false
  const issuers = [...new Set(([] as string[]).concat(opts.issuer as string | string[]).map((value, i) =>
    issuerOption(value, allowInsecureIssuer, Array.isArray(opts.issuer) ? `issuer[${i}]` : 'issuer')))]
  const issuer = issuers[0] as string
  const projectId = opts.projectId as string
  const audience = opts.audience === undefined ? [projectId] : ([] as string[]).concat(opts.audience as string | string[])
  const allowedClientIds = opts.allowedClientIds as string[] | undefined
  const allowedSubjects = opts.allowedSubjects as string[] | undefined
  const introspection = resolveIntrospection(opts.introspection)

  const resolved: ResolvedOptions = Object.freeze({
    tenant,
    issuer,
    issuers: Object.freeze(issuers),
    projectId,
    clientId: opts.clientId as string | undefined,
    audience: Object.freeze([...new Set(audience)]),
    otherTenantsAudience: Object.freeze([]),
    allowedClientIds: allowedClientIds === undefined ? undefined : Object.freeze([...new Set(allowedClientIds)]),
    allowedSubjects: allowedSubjects === undefined ? undefined : Object.freeze([...new Set(allowedSubjects)]),
    algorithms: Object.freeze([...new Set((opts.algorithms as Algorithm[] | undefined) ?? ZITADEL_ALGORITHMS)]) as readonly Algorithm[],
    clockTolerance: (opts.clockTolerance as number | undefined) ?? 0,
    jwksCacheTtl: (opts.jwksCacheTtl as number | undefined) ?? 600,
    jwksCooldown: (opts.jwksCooldown as number | undefined) ?? 10,
    jwksMaxStale: (opts.jwksMaxStale as number | undefined) ?? 3600,
    httpTimeout: (opts.httpTimeout as number | undefined) ?? 5,
    tokenCacheSize: (opts.tokenCacheSize as number | undefined) ?? 10_000,
    claimsSchema: opts.claimsSchema as TSchema | undefined,
    realm: (opts.realm as string | undefined) ?? 'api',
    allowInsecureIssuer,
    waitForKeys: (opts.waitForKeys as boolean | undefined) ?? false,
    formatUser: opts.formatUser as ((user: ZitadelUser) => unknown) | undefined,
    cookie: cookieOption(opts.cookie as CookieOptions | undefined),
    redisNamespace: opts.redis === undefined ? undefined : (opts.redisNamespace as string | undefined) ?? 'fastify-zitadel-auth:',
    revocation: Object.freeze({ maxTokenLifetime: (opts.revocation as RevocationOptions | undefined)?.maxTokenLifetime ?? 43_200 }),
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    roleClaim: `urn:zitadel:iam:org:project:${projectId}:roles`,
    openapi: resolveOpenApi(opts.openapi as OpenApiOptions | undefined, projectId, tenant),
    introspection: introspection?.options
  })
  // With tenants, the others' keys are waited for.
  if (tenant === undefined && resolved.waitForKeys && resolved.introspection?.tokens === 'all') {
    invalidOption('option "waitForKeys": with introspection.tokens \'all\' no key is ever used, so there are none to wait for')
  }
  if (introspection !== undefined) keepCredentials(resolved, introspection.credentials)
  return resolved
}

function cookieOption (cookie: CookieOptions | undefined): { readonly name: string, readonly unsafeMethods: boolean } | undefined {
  return cookie === undefined ? undefined : Object.freeze({ name: cookie.name, unsafeMethods: cookie.unsafeMethods ?? false })
}

/** Each option given has a value of its kind; what is missing is not looked at. */
function checkOptionValues (opts: Record<string, unknown>): void {
  for (const [name, rule] of Object.entries(rules)) {
    const value = opts[name]
    if (value === undefined) continue
    if (!Value.Check(rule.schema, value)) invalidOption(`option "${name}" must be ${rule.expected}`)
  }
  if (opts.formatUser !== undefined && (typeof opts.formatUser !== 'function' || opts.formatUser.constructor.name === 'AsyncFunction')) {
    invalidOption(`option "formatUser" must be ${rules.formatUser.expected}`)
  }
  if (opts.dispatcher !== undefined && typeof (opts.dispatcher as { dispatch?: unknown } | null)?.dispatch !== 'function') {
    invalidOption(`option "dispatcher" must be ${rules.dispatcher.expected}`)
  }
  if (opts.redis !== undefined && !['get', 'set', 'zadd', 'zrangebyscore', 'zremrangebyscore', 'publish', 'duplicate', 'on'].every((m) => typeof (opts.redis as Record<string, unknown> | null)?.[m] === 'function')) {
    invalidOption(`option "redis" must be ${rules.redis.expected}`)
  }
  if (opts.claimsSchema !== undefined && !KindGuard.IsSchema(opts.claimsSchema)) {
    invalidOption(`option "claimsSchema" must be ${rules.claimsSchema.expected}`)
  }
}

/** Plain http only on loopback unless allowed: keys fetched over http can be swapped in transit. */
function issuerOption (value: string, allowInsecure: boolean, name: string): string {
  const result = normaliseIssuer(value)
  if ('problem' in result) {
    invalidOption(result.problem === 'not an http(s) URL'
      ? `option "${name}" must be an absolute http(s) URL string, such as "https://my-instance.zitadel.cloud"`
      : `option "${name}" must be a URL without credentials, query or fragment`)
  }
  const url = new URL(result.issuer)
  if (url.protocol === 'http:' && !allowInsecure && !isLoopbackHost(url.hostname)) {
    invalidOption(`option "${name}" must use https unless it is on loopback (localhost, 127.0.0.1, [::1]); set allowInsecureIssuer: true to accept plain http`)
  }
  return result.issuer
}
