import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, preHandlerHookHandler } from 'fastify'
import {
  ClaimRequiredError, DelegationRefusedError, ForbiddenError, GuardNotCalledError, RoleRequiredError, TenantNotAllowedError, TokenMissingError, TokenRejectedError,
  invalidOption, type AuthError, type ErrorFactory
} from './errors.js'
import { awaitable, failHook } from './hooks.js'
import { SCOPE_TOKEN } from './scope.js'
import type { ZitadelUser } from './user.js'
import { isPlainObject } from './values.js'

/** What a guard demands, kept on it so the OpenAPI document can tell what protects a route. */
export type GuardRequirement =
  | { readonly kind: 'auth', readonly tenants: readonly string[] | undefined }
  | { readonly kind: 'optional' }
  | { readonly kind: 'roles', readonly roles: readonly string[], readonly any: boolean, readonly tenants: readonly string[] | undefined }
  | { readonly kind: 'scopes', readonly scopes: readonly string[], readonly any: boolean, readonly tenants: readonly string[] | undefined }
  | { readonly kind: 'claim', readonly claim: string, readonly description: string | undefined, readonly tenants: readonly string[] | undefined }
  | { readonly kind: 'anyOf', readonly guards: readonly GuardRequirement[] }

export const kGuard = Symbol.for('fastify-zitadel-auth.guard')
/** Marks the factories, so a route that lists one uncalled is caught at declaration. */
const kFactory = Symbol('fastify-zitadel-auth.guard-factory')
/** A guard's check itself, so `anyOf` can run several and keep the first error. */
const kCheck = Symbol('fastify-zitadel-auth.guard-check')

type Check = (request: FastifyRequest) => void

export type Guard = preHandlerHookHandler & { readonly [kGuard]: GuardRequirement }

/** What every guard takes. */
export interface GuardOptions {
  /**
   * `false` refuses (403 `ZITADEL_AUTH_DELEGATION_REFUSED`) a token someone
   * else holds for the user (`act`, from token exchange), for routes the user
   * must call in person. Default: true.
   */
  allowDelegated?: boolean | undefined
  /**
   * With the `tenants` option: only tokens of these tenants pass (403
   * `ZITADEL_AUTH_TENANT_NOT_ALLOWED` for the others), checked before the
   * rest of the guard, so roles are read from that tenant's project.
   * Default: any tenant.
   */
  tenant?: string | readonly string[] | undefined
}

export interface RequireRolesOptions extends GuardOptions {
  /**
   * The organisation the role must be held in: a fixed id, or read from the
   * request (`(req) => req.params.orgId`). Undefined from the function refuses
   * the request: it never widens the check to "any organisation".
   */
  orgId?: string | OrgIdResolver | undefined
  /** Grant access when the user holds any one of the roles. Default: all are required. */
  any?: boolean | undefined
}

export interface RequireScopesOptions extends GuardOptions {
  /** Grant access when the token has any one of the scopes. Default: all are required. */
  any?: boolean | undefined
}

/** A claim value `requireClaim` can compare with `equals`. */
export type ClaimValue = string | number | boolean

/** Reads the value a claim must equal from the request, e.g. `(req) => req.params.tenantId`; undefined refuses the request. */
export type ClaimValueResolver = (request: FastifyRequest<{ Params: Record<string, string | undefined> }>) => ClaimValue | undefined

/**
 * What `requireClaim` asks of the claim; exactly one of:
 * - `equals`: the claim is this string, number or boolean (`===`), or the value a function reads from the request;
 * - `includes`: the claim, an array or a space-separated string, holds every one of these strings;
 * - `satisfies`: this synchronous function of the claim's value (frozen) and the request returns `true`.
 *
 * A token without the claim is refused before any of them is looked at.
 */
export type ClaimRule =
  | { readonly equals: ClaimValue | ClaimValueResolver }
  | { readonly includes: string | readonly string[] }
  | { readonly satisfies: (value: unknown, request: FastifyRequest) => boolean }

export interface RequireClaimOptions extends GuardOptions {
  /**
   * What the rule means, for the route's 403 in the OpenAPI document
   * (e.g. "a verified email"). The document never shows the expected value itself.
   */
  description?: string | undefined
}

/** Reads the organisation from the request; route params are typed as strings so `(req) => req.params.orgId` needs no cast. */
export type OrgIdResolver = (request: FastifyRequest<{ Params: Record<string, string | undefined> }>) => string | undefined

/**
 * preHandler guards run after onRequest verified the token: a forged one gets
 * its 401 before any route learns what role it wants.
 */
export function createGuards (errors: ErrorFactory, tenantNames?: readonly string[]) {
  /** The user of the request, if `who` lets it through. */
  function authenticated (request: FastifyRequest, who: Who): ZitadelUser {
    const user = request.zitadelUser
    if (user === null) throw errors.auth(TokenMissingError)
    if (who.tenants !== undefined && !who.tenants.includes(user.tenant as string)) throw errors.auth(TenantNotAllowedError)
    if (who.inPerson && user.actor !== undefined) throw errors.auth(DelegationRefusedError)
    return user
  }

  /** What every guard's options say about who may pass; wrong values fail at declaration. */
  function readWho (fn: string, options: unknown): Who {
    if (!isPlainObject(options)) invalidOption(`${fn}: options must be an object`)
    const { allowDelegated = true, tenant } = options as GuardOptions
    if (typeof allowDelegated !== 'boolean') invalidOption(`${fn}: option "allowDelegated" must be a boolean`)
    if (tenant === undefined) return { inPerson: !allowDelegated, tenants: undefined }
    if (tenantNames === undefined) invalidOption(`${fn}: option "tenant" needs the plugin option "tenants"`)
    const tenants = typeof tenant === 'string' ? [tenant] : tenant
    if (!Array.isArray(tenants) || tenants.length === 0 || !tenants.every((t) => tenantNames.includes(t))) {
      invalidOption(`${fn}: option "tenant" must name one or more tenants of the plugin option "tenants" (${tenantNames.join(', ')})`)
    }
    return { inPerson: !allowDelegated, tenants: Object.freeze([...new Set(tenants as string[])]) }
  }

  /**
   * A guard that lets through any verified token (401 `ZITADEL_AUTH_TOKEN_MISSING` without one).
   * @example app.get('/me', { preHandler: app.zitadel.requireAuth() }, handler)
   */
  function requireAuth (options: GuardOptions = {}): Guard {
    refuseHookCall('requireAuth', options)
    const who = readWho('requireAuth', options)
    return guard({ kind: 'auth', tenants: who.tenants }, function requireAuth (request: FastifyRequest) {
      authenticated(request, who)
    })
  }

  /**
   * A guard that lets every request through, for routes anyone may call that
   * say more to a logged-in user (`request.user` or null). A token that is
   * sent is still verified: a bad one gets its 401. The OpenAPI document marks
   * the token optional, so Swagger UI sends it once you are logged in.
   * @example app.get('/hello', { preHandler: app.zitadel.optionalAuth() }, async (req) => ({ user: req.user?.sub ?? null }))
   */
  function optionalAuth (): Guard {
    refuseHookCall('optionalAuth', arguments[0])
    // `optionalAuth({ allowDelegated: false })` would refuse nothing: better fail here.
    if (arguments.length > 0) invalidOption('optionalAuth: takes no arguments; it lets every request through')
    return guard({ kind: 'optional' }, function optionalAuth () {})
  }

  /**
   * A guard that requires project roles: all of them, or with `any` one of
   * them; in the organisation `orgId` when given (403 `ZITADEL_AUTH_ROLE_REQUIRED`).
   * @example app.get('/admin', { preHandler: app.zitadel.requireRoles(['admin']) }, handler)
   */
  function requireRoles (roles: readonly string[], options: RequireRolesOptions = {}): Guard {
    refuseHookCall('requireRoles', roles)
    const list = checkList('requireRoles', 'roles', roles, /^\S+$/)
    const who = readWho('requireRoles', options)
    const { orgId, any = false } = options
    if (typeof any !== 'boolean') invalidOption('requireRoles: option "any" must be a boolean')
    if (orgId !== undefined && !(typeof orgId === 'function' || (typeof orgId === 'string' && orgId !== ''))) {
      invalidOption('requireRoles: option "orgId" must be a non-empty string or a function of the request')
    }
    const orgOf = (typeof orgId === 'function' ? orgId : () => orgId) as (request: FastifyRequest) => string | undefined

    return guard({ kind: 'roles', roles: list, any, tenants: who.tenants }, function requireRoles (request: FastifyRequest) {
      const user = authenticated(request, who)
      const org = orgOf(request)
      if (orgId !== undefined && (typeof org !== 'string' || org === '')) throw errors.auth(RoleRequiredError)
      const granted = any
        ? list.some((role) => user.hasRole(role, org))
        : list.every((role) => user.hasRole(role, org))
      if (!granted) throw errors.auth(RoleRequiredError)
    })
  }

  /**
   * A guard that requires these scopes in the token's `scope`: all of them, or
   * with `any` one of them (403 `ZITADEL_AUTH_SCOPE_REQUIRED`). Zitadel's JWT
   * access tokens carry no `scope`; introspection answers do.
   * @example app.get('/read', { preHandler: app.zitadel.requireScopes(['read']) }, handler)
   */
  function requireScopes (scopes: readonly string[], options: RequireScopesOptions = {}): Guard {
    refuseHookCall('requireScopes', scopes)
    const list = checkList('requireScopes', 'scopes', scopes, SCOPE_TOKEN)
    const who = readWho('requireScopes', options)
    const { any = false } = options
    if (typeof any !== 'boolean') invalidOption('requireScopes: option "any" must be a boolean')
    return guard({ kind: 'scopes', scopes: list, any, tenants: who.tenants }, function requireScopes (request: FastifyRequest) {
      const { scopes: held } = authenticated(request, who)
      const granted = any ? list.some((scope) => held.includes(scope)) : list.every((scope) => held.includes(scope))
      if (!granted) throw errors.scope(list)
    })
  }

  /**
   * A guard on one claim of the verified token: it must equal a value, include
   * values, or satisfy a function (403 `ZITADEL_AUTH_CLAIM_REQUIRED`, also
   * when the token lacks the claim). For checks on the organisation, a tenant
   * id in the path, `sub` pinning or user metadata.
   * @example app.get('/tenants/:tenantId', { preHandler: app.zitadel.requireClaim('urn:zitadel:iam:user:resourceowner:id', { equals: (req) => req.params.tenantId }) }, handler)
   */
  function requireClaim (claim: string, rule: ClaimRule, options: RequireClaimOptions = {}): Guard {
    refuseHookCall('requireClaim', claim)
    if (typeof claim !== 'string' || claim === '') invalidOption('requireClaim: the claim name must be a non-empty string')
    const holds = claimTest(rule)
    const who = readWho('requireClaim', options)
    const { description } = options
    if (description !== undefined && (typeof description !== 'string' || description.trim() === '')) {
      invalidOption('requireClaim: option "description" must be a non-empty string')
    }
    return guard({ kind: 'claim', claim, description, tenants: who.tenants }, function requireClaim (request: FastifyRequest) {
      const value = authenticated(request, who).claims[claim]
      if (value === undefined || !holds(value, request)) throw errors.auth(ClaimRequiredError)
    })
  }

  /**
   * A guard that lets a request through when any one of `guards` would. When
   * all refuse, the request gets the first guard's error. Guards listed
   * side by side on a route still all apply (and); this is the "or".
   * @example app.get('/reports', { preHandler: app.zitadel.anyOf([app.zitadel.requireScopes(['reports:read']), app.zitadel.requireRoles(['auditor'])]) }, handler)
   */
  function anyOf (guards: readonly Guard[]): Guard {
    refuseHookCall('anyOf', guards)
    if (!Array.isArray(guards) || guards.length < 2) invalidOption('anyOf: takes an array of two or more guards, e.g. anyOf([requireScopes([\'read\']), requireRoles([\'reader\'])])')
    const checks = (guards as unknown[]).map((g, i): Check => {
      if (typeof g === 'function' && kCheck in g) return (g as unknown as Record<symbol, Check>)[kCheck] as Check
      const factory = typeof g === 'function' && kFactory in g ? g.name : undefined
      return invalidOption(factory !== undefined
        ? `anyOf: ${factory} is listed without being called; list ${callExample(factory)} instead`
        : `anyOf: guards[${i}] is not a guard of this plugin (anyOf runs only the plugin's own guards; use @fastify/auth to combine others)`)
    })
    return guard({ kind: 'anyOf', guards: guards.map((g) => g[kGuard]) }, function anyOf (request: FastifyRequest) {
      let first: unknown
      for (const check of checks) {
        try {
          check(request)
          return
        } catch (err) {
          first ??= err
        }
      }
      throw first
    })
  }

  /**
   * The plugin's 403 (`ZITADEL_AUTH_FORBIDDEN`, with its RFC 6750
   * `WWW-Authenticate` challenge) for a check of your own.
   * @example if (!(await mayRead(request.user, id))) throw app.zitadel.forbidden()
   */
  function forbidden (): AuthError {
    return errors.auth(ForbiddenError)
  }

  /**
   * The plugin's 401 for a check of your own, with its challenge:
   * `ZITADEL_AUTH_TOKEN_MISSING` when `request` carried no token (RFC 6750
   * §3.1: no error code then), `ZITADEL_AUTH_TOKEN_REJECTED` otherwise.
   * @example if (await isBlocked(request.user.sub)) throw app.zitadel.unauthorized(request)
   */
  function unauthorized (request?: FastifyRequest): AuthError {
    return errors.auth(request?.zitadelUser === null ? TokenMissingError : TokenRejectedError)
  }

  for (const factory of [requireAuth, optionalAuth, requireRoles, requireScopes, requireClaim, anyOf]) Object.defineProperty(factory, kFactory, { value: true })
  return { requireAuth, optionalAuth, requireRoles, requireScopes, requireClaim, anyOf, forbidden, unauthorized }
}

/** The test a claim's value must pass, from the rule; a wrong rule fails at declaration. */
function claimTest (rule: unknown): (value: unknown, request: FastifyRequest) => boolean {
  const forms = isPlainObject(rule) ? Object.keys(rule as object) : []
  if (forms.length !== 1 || !['equals', 'includes', 'satisfies'].includes(forms[0] as string)) {
    invalidOption('requireClaim: the rule must be an object with exactly one of "equals", "includes" or "satisfies"')
  }
  const { equals, includes, satisfies } = rule as { equals?: unknown, includes?: unknown, satisfies?: unknown }
  if (forms[0] === 'equals') {
    if (typeof equals === 'function') return (value, request) => value === (equals as (r: FastifyRequest) => unknown)(request)
    if (!(typeof equals === 'string' || typeof equals === 'boolean' || (typeof equals === 'number' && Number.isFinite(equals)))) {
      invalidOption('requireClaim: "equals" must be a string, a finite number, a boolean, or a function of the request')
    }
    return (value) => value === equals
  }
  if (forms[0] === 'includes') {
    const wanted = checkList('requireClaim', '"includes"', typeof includes === 'string' ? [includes] : includes, /^\S+$/)
    return (value) => {
      const held = typeof value === 'string' ? value.split(' ') : value
      return Array.isArray(held) && wanted.every((w) => held.includes(w))
    }
  }
  // An async function returns a promise, which is never `true`: every request would be refused.
  if (typeof satisfies !== 'function' || satisfies.constructor.name === 'AsyncFunction') {
    invalidOption('requireClaim: "satisfies" must be a synchronous function (value, request) => boolean')
  }
  return (value, request) => (satisfies as (v: unknown, r: FastifyRequest) => unknown)(value, request) === true
}

/**
 * A factory called with a request was added with `app.addHook(…)` uncalled;
 * route options are checked at declaration (`uncalledFactory`), app-level
 * hooks only here. Otherwise the request would hang.
 */
function refuseHookCall (name: string, first: unknown): void {
  if (typeof first === 'object' && first !== null && 'raw' in first && 'routeOptions' in first) {
    throw new GuardNotCalledError(`app.zitadel.${name} was added as a hook without being called; call it to get the guard, e.g. app.addHook('preHandler', app.zitadel.${callExample(name)})`)
  }
}

export function callExample (name: string): string {
  switch (name) {
    case 'requireAuth':
    case 'optionalAuth':
      return `${name}()`
    case 'requireClaim':
      return "requireClaim('…', { equals: '…' })"
    case 'anyOf':
      return 'anyOf([…])'
    default:
      return `${name}(['…'])`
  }
}

/** `preHandler: app.zitadel.requireRoles` without the call would fail or hang every request. */
export function uncalledFactory (hooks: unknown): string | undefined {
  const list = Array.isArray(hooks) ? hooks : [hooks]
  for (const fn of list) {
    if (typeof fn === 'function' && kFactory in fn) return fn.name
  }
  return undefined
}

/** Callback style, not async: the check is synchronous, and this is on the cache-hit path. */
function guard (requirement: GuardRequirement, check: Check): Guard {
  const hook = function (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    // `await guard(request, reply)` by hand: a promise, never a crash.
    if (typeof done !== 'function') return awaitable(hook, request, reply) as unknown as undefined
    try {
      check(request)
    } catch (err) {
      failHook(reply, err, done)
      return
    }
    done()
  }
  Object.defineProperty(hook, 'name', { value: check.name })
  Object.defineProperty(hook, kGuard, { value: Object.freeze(requirement) })
  Object.defineProperty(hook, kCheck, { value: check })
  return hook as unknown as Guard
}

/** Runs when routes are declared: a wrong argument fails there, not on a request. */
function checkList (fn: string, what: string, value: unknown, pattern: RegExp): readonly string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && pattern.test(v))) {
    invalidOption(`${fn}: ${what} must be a non-empty array of non-empty strings without spaces`)
  }
  return Object.freeze([...new Set(value as string[])])
}

/** Who may pass a guard besides what it checks itself. */
interface Who {
  /** The user must act in person. */
  readonly inPerson: boolean
  /** The tenants whose tokens pass; undefined: any. */
  readonly tenants: readonly string[] | undefined
}

export function guardsOf (hooks: unknown): GuardRequirement[] {
  const list = Array.isArray(hooks) ? hooks : [hooks]
  const found: GuardRequirement[] = []
  for (const fn of list) {
    if (typeof fn === 'function' && kGuard in fn) found.push((fn as Guard)[kGuard])
  }
  return found
}
