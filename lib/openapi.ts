import { Type } from '@sinclair/typebox'
import type { FastifySchema } from 'fastify'
import { invalidOption } from './errors.js'
import { guardsOf, type GuardRequirement } from './guards.js'
import type { ResolvedOptions } from './options.js'
import { isPlainObject } from './values.js'

/** Neither `@fastify/swagger` nor `@fastify/swagger-ui` is imported: they stay optional, and these types are structural. */

/**
 * The JSON body Fastify's default error handler sends for every error of
 * this plugin, e.g. `{ "statusCode": 403, "code": "ZITADEL_AUTH_ROLE_REQUIRED",
 * "error": "Forbidden", "message": "The access token lacks a required role" }`.
 */
export const ZitadelErrorResponse = Type.Object({
  statusCode: Type.Integer({ description: 'The HTTP status code' }),
  code: Type.String({ description: 'A stable ZITADEL_AUTH_* error code' }),
  error: Type.String({ description: 'The HTTP reason phrase' }),
  message: Type.String({ description: 'A fixed description of the error' })
}, { title: 'ZitadelErrorResponse', description: 'The error body Fastify sends for fastify-zitadel-auth errors' })

/** The OpenAPI 3 OAuth2 security scheme the plugin adds: Zitadel's authorization code flow. */
export interface ZitadelSecurityScheme {
  type: 'oauth2'
  description: string
  flows: {
    authorizationCode: {
      authorizationUrl: string
      tokenUrl: string
      scopes: Record<string, string>
    }
  }
}

/** What `@fastify/swagger` passes to its `transform` option (the parts this plugin reads). */
export interface SwaggerTransformInput {
  schema?: FastifySchema
  url: string
  route: {
    url: string
    method: string | readonly string[]
    config?: unknown
    onRequest?: unknown
    preParsing?: unknown
    preValidation?: unknown
    preHandler?: unknown
  }
  openapiObject?: unknown
  swaggerObject?: unknown
}

/** A `transform` for `@fastify/swagger`: documents the route without changing the route itself. */
export type SwaggerTransform = (input: SwaggerTransformInput) => { schema: FastifySchema, url: string }

/**
 * What `swaggerOptions()` accepts: `@fastify/swagger` options. Only `transform`
 * is typed here, so an inline transform gets typed parameters; the rest is
 * checked by `app.register(swagger, …)`.
 */
export interface SwaggerOptionsBase {
  // A method, not a property: its parameter is checked bivariantly, so
  // @fastify/swagger's own SwaggerTransform type fits.
  transform? (input: SwaggerTransformInput): unknown
}

/**
 * `@fastify/swagger` options: the caller's, with the security scheme added to
 * `openapi.components.securitySchemes` and `transform` running the caller's
 * transform, then the plugin's.
 */
export type ZitadelSwaggerOptions<T> = T & {
  openapi: T extends { openapi: object } ? unknown : Record<never, never>
  transform: SwaggerTransform
}

/** The `initOAuth` the plugin gives Swagger UI. */
export interface ZitadelInitOAuth {
  clientId: string
  usePkceWithAuthorizationCodeGrant: boolean
  scopes: string[]
}

/** A stylesheet for `@fastify/swagger-ui`'s `theme.css`. */
export interface ZitadelThemeFile {
  filename: string
  content: string
}

/**
 * `@fastify/swagger-ui` options: the caller's, with `initOAuth` for Zitadel's
 * PKCE login (the caller's fields win) and, without a client secret, a
 * `theme.css` stylesheet that hides Swagger UI's client_secret input.
 */
export type ZitadelSwaggerUiOptions<T> = T & {
  initOAuth: T extends { initOAuth: infer I } ? Omit<ZitadelInitOAuth, keyof I> & I : ZitadelInitOAuth
  theme?: T extends { theme: infer H } ? H : { css?: ZitadelThemeFile[] }
}

/** The hooks a guard may sit in (as routes.ts checks them). */
const HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler'] as const

const UNAUTHORIZED = 'Authentication required: the request carries no Bearer access token, or the token is not accepted (`ZITADEL_AUTH_*` codes)'
const TOKEN_REJECTED = 'The Bearer access token sent is not accepted (`ZITADEL_AUTH_*` codes); a request without a token is answered as anonymous'
const CHALLENGE = { type: 'string', description: 'The Bearer challenge (RFC 6750 §3)' }

/**
 * Swagger UI 5 shows a client_secret input for every authorization code login
 * and has no setting to hide it, but Zitadel's User Agent app is a public
 * client with no secret to enter.
 */
const HIDE_CLIENT_SECRET: Readonly<ZitadelThemeFile> = Object.freeze({
  filename: 'fastify-zitadel-auth.css',
  content: '/* fastify-zitadel-auth: a PKCE login with a public client has no client secret. */\n' +
    '.auth-container .wrapper:has(> label[for="client_secret_authorizationCode"]) { display: none; }\n'
})

/** A documented error response; `x-response-description` (read by @fastify/swagger) describes the response, not the body. */
function errorResponse (description: string) {
  return { ...ZitadelErrorResponse, 'x-response-description': description, headers: { 'WWW-Authenticate': CHALLENGE } }
}

export function securityScheme (opts: ResolvedOptions): ZitadelSecurityScheme {
  return {
    type: 'oauth2',
    description: opts.openapi.description,
    flows: {
      authorizationCode: {
        authorizationUrl: `${opts.issuer}/oauth/v2/authorize`,
        tokenUrl: `${opts.issuer}/oauth/v2/token`,
        scopes: { ...opts.openapi.scopes }
      }
    }
  }
}

/** A security scheme of the document, and the tenant whose login it is (undefined without `tenants`). */
interface Scheme {
  readonly name: string
  readonly tenant: string | undefined
}

/** Undefined when the route has no guard, or opted out; what the schema declares itself is kept. */
function documentRoute (route: SwaggerTransformInput['route'], schema: FastifySchema | undefined, schemes: readonly Scheme[]): FastifySchema | undefined {
  if ((route.config as { zitadel?: unknown } | undefined)?.zitadel === false) return undefined
  const guards = HOOKS.flatMap((hook) => guardsOf(route[hook]))
  if (guards.length === 0) return undefined

  // Next to a guard that requires a token, optionalAuth() changes nothing.
  const optional = guards.every(letsAnyoneIn)
  const doc: FastifySchema & { security?: unknown } = { ...schema }
  if (doc.security === undefined) {
    // OpenAPI 3.0.3 §4.7.30 (Security Requirement Object): the requirements of
    // the list are alternatives, and an empty one `{}` makes security optional;
    // Swagger UI still sends the token when logged in.
    const requirements = securityRequirements(guards, schemes)
    doc.security = optional ? [{}, ...requirements] : requirements
  }
  // Without a response schema @fastify/swagger documents `200: Default
  // Response`, which adding 401 alone would drop. `type: 'null'` is its "no content".
  const response: Record<string, unknown> = { ...(schema?.response as Record<string, unknown> | undefined ?? { 200: { type: 'null', description: 'Default Response' } }) }
  // A token that is sent is verified on every route, so an optional one can still be refused.
  if (!Object.hasOwn(response, '401')) {
    response['401'] = errorResponse(optional ? TOKEN_REJECTED : UNAUTHORIZED)
  }
  const forbidden = guards.flatMap(describe)
  if (forbidden.length > 0 && !Object.hasOwn(response, '403')) {
    response['403'] = errorResponse(`Requires ${forbidden.join(', and ')}`)
  }
  doc.response = response
  return doc
}

/** More alternatives than this are documented as one requirement without scopes per scheme. */
const MAX_ALTERNATIVES = 16

/** One way through the guards: a token of one of `tenants` (undefined: any) with all of `scopes`. */
interface Alternative {
  readonly tenants: readonly string[] | undefined
  readonly scopes: readonly string[]
}

const ANY: Alternative = { tenants: undefined, scopes: [] }

/**
 * The requirements of the route: each way through its guards, in the scheme
 * of each tenant it admits. Past `MAX_ALTERNATIVES`, one requirement without
 * scopes per scheme of the tenants the guards admit at all.
 */
function securityRequirements (guards: readonly GuardRequirement[], schemes: readonly Scheme[]): Array<Record<string, string[]>> {
  const inScheme = (way: Alternative) => schemes
    .filter((s) => way.tenants === undefined || way.tenants.includes(s.tenant as string))
    .map((s) => ({ [s.name]: [...way.scopes] }))
  const ways = alternatives(guards)
  let requirements = ways?.flatMap(inScheme)
  if (requirements === undefined || requirements.length > MAX_ALTERNATIVES) requirements = inScheme({ tenants: admitted(guards), scopes: [] })
  // Guards no tenant can pass together still need a token.
  if (requirements.length === 0) requirements = inScheme(ANY)
  const unique = new Map<string, Record<string, string[]>>()
  for (const requirement of requirements) {
    const [[name, scopes]] = Object.entries(requirement) as [[string, string[]]]
    const key = `${name} ${[...scopes].sort().join(' ')}`
    if (!unique.has(key)) unique.set(key, requirement)
  }
  return [...unique.values()]
}

/** `optionalAuth()`, or an `anyOf` with it among its guards: never refuses a request. */
function letsAnyoneIn (guard: GuardRequirement): boolean {
  return guard.kind === 'optional' || (guard.kind === 'anyOf' && guard.guards.some(letsAnyoneIn))
}

/** The tenants whose tokens may pass all of `guards`; undefined: any. */
function admitted (guards: readonly GuardRequirement[]): readonly string[] | undefined {
  let tenants: readonly string[] | undefined
  for (const guard of guards) tenants = both({ tenants, scopes: [] }, { tenants: tenantsOf(guard), scopes: [] }).tenants
  return tenants
}

/** The tenants one guard may let through; undefined: any. `anyOf`: those of any of its guards. */
function tenantsOf (guard: GuardRequirement): readonly string[] | undefined {
  if (guard.kind === 'optional') return undefined
  if (guard.kind !== 'anyOf') return guard.tenants
  const each = guard.guards.map(tenantsOf)
  return each.includes(undefined) ? undefined : [...new Set((each as Array<readonly string[]>).flat())]
}

/**
 * The ways through the guards (all of them apply): one, unless
 * `requireScopes({ any })` or `anyOf` offers a choice; undefined when there
 * are more than `MAX_ALTERNATIVES`.
 */
function alternatives (guards: readonly GuardRequirement[]): Alternative[] | undefined {
  let ways: Alternative[] = [ANY]
  for (const guard of guards) {
    const choices = choicesOf(guard)
    if (choices === undefined) return undefined
    ways = ways.flatMap((way) => choices.map((choice) => both(way, choice)))
      .filter((way) => way.tenants === undefined || way.tenants.length > 0)
    if (ways.length > MAX_ALTERNATIVES) return undefined
  }
  return ways
}

function choicesOf (guard: GuardRequirement): Alternative[] | undefined {
  switch (guard.kind) {
    case 'optional':
      return [ANY]
    case 'scopes':
      return guard.any ? guard.scopes.map((s) => ({ tenants: guard.tenants, scopes: [s] })) : [{ tenants: guard.tenants, scopes: guard.scopes }]
    case 'anyOf': {
      const each = guard.guards.map((g) => alternatives([g]))
      return each.includes(undefined) ? undefined : (each as Alternative[][]).flat()
    }
    default:
      return [{ tenants: guard.tenants, scopes: [] }]
  }
}

/** A way through two guards at once: tenants both admit, and the scopes of both. */
function both (a: Alternative, b: Alternative): Alternative {
  const tenants = a.tenants === undefined ? b.tenants : b.tenants === undefined ? a.tenants : a.tenants.filter((t) => (b.tenants as readonly string[]).includes(t))
  return { tenants, scopes: [...new Set([...a.scopes, ...b.scopes])] }
}

/** E.g. "the Zitadel role `admin` (`ZITADEL_AUTH_ROLE_REQUIRED`)". */
function describe (guard: GuardRequirement): string[] {
  if (letsAnyoneIn(guard)) return []
  const tenant = guard.kind === 'optional' || guard.kind === 'anyOf' || guard.tenants === undefined
    ? []
    : [`a token of the tenant ${code(guard.tenants, 'or')} (\`ZITADEL_AUTH_TENANT_NOT_ALLOWED\`)`]
  return [...tenant, ...demands(guard)]
}

/** What the guard asks of a token besides its tenant. */
function demands (guard: GuardRequirement): string[] {
  switch (guard.kind) {
    case 'auth':
    case 'optional':
      return []
    case 'roles': {
      const what = guard.roles.length === 1
        ? `the Zitadel role ${code(guard.roles)}`
        : guard.any ? `one of the Zitadel roles ${code(guard.roles, 'or')}` : `the Zitadel roles ${code(guard.roles, 'and')}`
      return [`${what} (\`ZITADEL_AUTH_ROLE_REQUIRED\`)`]
    }
    case 'scopes': {
      const what = guard.scopes.length === 1
        ? `the scope ${code(guard.scopes)}`
        : guard.any ? `one of the scopes ${code(guard.scopes, 'or')}` : `the scopes ${code(guard.scopes, 'and')}`
      return [`${what} (\`ZITADEL_AUTH_SCOPE_REQUIRED\`)`]
    }
    case 'claim':
      return [`the claim ${code([guard.claim])}${guard.description === undefined ? '' : ` (${guard.description})`} (\`ZITADEL_AUTH_CLAIM_REQUIRED\`)`]
    case 'anyOf':
      return [`one of: ${guard.guards.map((g) => describe(g).join(', and ') || 'a verified token').join('; or ')}`]
  }
}

function code (names: readonly string[], conjunction = 'and'): string {
  const quoted = names.map((n) => `\`${n}\``)
  return quoted.length === 1 ? quoted[0] as string : `${quoted.slice(0, -1).join(', ')} ${conjunction} ${quoted.at(-1) as string}`
}

/** With `tenants`, one security scheme per tenant: a route lists those of the tenants its guards admit, as alternatives. */
export function createOpenApiHelpers (tenants: readonly ResolvedOptions[]) {
  const schemes: Scheme[] = tenants.map((t) => ({ name: t.openapi.securityScheme, tenant: t.tenant }))
  // Swagger UI has one initOAuth for all schemes: the first client id, and the scopes every tenant offers.
  const clientId = tenants.find((t) => t.clientId !== undefined)?.clientId
  const scopes = Object.keys((tenants[0] as ResolvedOptions).openapi.scopes).filter((scope) => tenants.every((t) => Object.hasOwn(t.openapi.scopes, scope)))

  function swaggerOptions<T extends object & SwaggerOptionsBase = Record<never, never>> (base?: T): ZitadelSwaggerOptions<T> {
    const given: Record<string, unknown> = base === undefined ? {} : objectArgument('swaggerOptions', base)
    if (given.swagger !== undefined) {
      invalidOption('swaggerOptions: only OpenAPI 3 is supported; describe the document under "openapi", not "swagger" (OpenAPI 2)')
    }
    if (given.mode !== undefined && given.mode !== 'dynamic') {
      invalidOption('swaggerOptions: only mode "dynamic" builds the document from the routes; a static document must declare the security scheme itself')
    }
    const openapi = part(given, 'openapi', 'swaggerOptions: "openapi"')
    const components = part(openapi, 'components', 'swaggerOptions: "openapi.components"')
    const existing = part(components, 'securitySchemes', 'swaggerOptions: "openapi.components.securitySchemes"')
    const taken = schemes.find((scheme) => Object.hasOwn(existing, scheme.name))
    if (taken !== undefined) {
      invalidOption(`swaggerOptions: "openapi.components.securitySchemes" already has "${taken.name}"; choose another name with the plugin option openapi.securityScheme`)
    }
    const userTransform = given.transform
    if (userTransform !== undefined && userTransform !== null && typeof userTransform !== 'function') {
      invalidOption('swaggerOptions: "transform" must be a function')
    }
    const before = userTransform as SwaggerTransform | undefined | null

    const transform: SwaggerTransform = function zitadelTransform (input) {
      const first = before?.(input)
      const schema = first?.schema ?? input.schema
      const url = first?.url ?? input.url
      return { schema: documentRoute(input.route, schema, schemes) ?? schema ?? {}, url }
    }

    return {
      ...given,
      openapi: { ...openapi, components: { ...components, securitySchemes: { ...existing, ...Object.fromEntries(tenants.map((t) => [t.openapi.securityScheme, securityScheme(t)])) } } },
      transform
    } as unknown as ZitadelSwaggerOptions<T>
  }

  function swaggerUiOptions<T extends object = Record<never, never>> (base?: T): ZitadelSwaggerUiOptions<T> {
    const given: Record<string, unknown> = base === undefined ? {} : objectArgument('swaggerUiOptions', base)
    if (clientId === undefined) {
      invalidOption(`swaggerUiOptions: the plugin option "clientId" is required${tenants.length > 1 ? ' in a tenant' : ''}: Swagger UI logs in with the User Agent app it names`)
    }
    const initOAuth: Record<string, unknown> = {
      clientId,
      usePkceWithAuthorizationCodeGrant: true,
      scopes,
      ...part(given, 'initOAuth', 'swaggerUiOptions: "initOAuth"')
    }
    const theme = part(given, 'theme', 'swaggerUiOptions: "theme"')
    if (theme.css !== undefined && !Array.isArray(theme.css)) invalidOption('swaggerUiOptions: "theme.css" must be an array')
    // A caller who sets a client secret, or turns PKCE off, keeps the input.
    const secretless = initOAuth.usePkceWithAuthorizationCodeGrant === true && (initOAuth.clientSecret === undefined || initOAuth.clientSecret === '')
    return {
      ...given,
      initOAuth,
      ...(secretless && { theme: { ...theme, css: [...(theme.css as ZitadelThemeFile[] | undefined ?? []), { ...HIDE_CLIENT_SECRET }] } })
    } as unknown as ZitadelSwaggerUiOptions<T>
  }

  return { swaggerOptions, swaggerUiOptions }
}

function objectArgument (fn: string, value: unknown): Record<string, unknown> {
  if (!isPlainObject(value)) invalidOption(`${fn}: the argument must be an options object`)
  return value
}

function part (parent: Record<string, unknown>, key: string, what: string): Record<string, unknown> {
  const value = parent[key]
  if (value === undefined) return {}
  if (!isPlainObject(value)) invalidOption(`${what} must be an object`)
  return value
}
