import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, preHandlerHookHandler } from 'fastify'
import { DelegationRefusedError, GuardNotCalledError, RoleRequiredError, TokenMissingError, invalidOption, type ErrorFactory } from './errors.js'
import { awaitable, failHook } from './hooks.js'
import { SCOPE_TOKEN } from './scope.js'
import type { ZitadelUser } from './user.js'
import { isPlainObject } from './values.js'

/** What a guard demands, kept on it so the OpenAPI document can tell what protects a route. */
export type GuardRequirement =
  | { readonly kind: 'auth' }
  | { readonly kind: 'optional' }
  | { readonly kind: 'roles', readonly roles: readonly string[], readonly any: boolean }
  | { readonly kind: 'scopes', readonly scopes: readonly string[] }

export const kGuard = Symbol.for('fastify-zitadel-auth.guard')
/** Marks the factories, so a route that lists one uncalled is caught at declaration. */
const kFactory = Symbol('fastify-zitadel-auth.guard-factory')

export type Guard = preHandlerHookHandler & { readonly [kGuard]: GuardRequirement }

/** What every guard takes. */
export interface GuardOptions {
  /**
   * `false` refuses (403 `ZITADEL_AUTH_DELEGATION_REFUSED`) a token someone
   * else holds for the user (`act`, from token exchange), for routes the user
   * must call in person. Default: true.
   */
  allowDelegated?: boolean | undefined
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

/** Reads the organisation from the request; route params are typed as strings so `(req) => req.params.orgId` needs no cast. */
export type OrgIdResolver = (request: FastifyRequest<{ Params: Record<string, string | undefined> }>) => string | undefined

/**
 * preHandler guards run after onRequest verified the token: a forged one gets
 * its 401 before any route learns what role it wants.
 */
export function createGuards (errors: ErrorFactory) {
  /** `inPerson`: refuse a user someone else acts for. */
  function authenticated (request: FastifyRequest, inPerson: boolean): ZitadelUser {
    const { user } = request
    if (user === null) throw errors.auth(TokenMissingError)
    if (inPerson && user.actor !== undefined) throw errors.auth(DelegationRefusedError)
    return user
  }

  /**
   * A guard that lets through any verified token (401 `ZITADEL_AUTH_TOKEN_MISSING` without one).
   * @example app.get('/me', { preHandler: app.zitadel.requireAuth() }, handler)
   */
  function requireAuth (options: GuardOptions = {}): Guard {
    refuseHookCall('requireAuth', options)
    const inPerson = readInPerson('requireAuth', options)
    return guard({ kind: 'auth' }, function requireAuth (request: FastifyRequest) {
      authenticated(request, inPerson)
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
    const inPerson = readInPerson('requireRoles', options)
    const { orgId, any = false } = options
    if (typeof any !== 'boolean') invalidOption('requireRoles: option "any" must be a boolean')
    if (orgId !== undefined && !(typeof orgId === 'function' || (typeof orgId === 'string' && orgId !== ''))) {
      invalidOption('requireRoles: option "orgId" must be a non-empty string or a function of the request')
    }
    const orgOf = (typeof orgId === 'function' ? orgId : () => orgId) as (request: FastifyRequest) => string | undefined

    return guard({ kind: 'roles', roles: list, any }, function requireRoles (request: FastifyRequest) {
      const user = authenticated(request, inPerson)
      const org = orgOf(request)
      if (orgId !== undefined && (typeof org !== 'string' || org === '')) throw errors.auth(RoleRequiredError)
      const granted = any
        ? list.some((role) => user.hasRole(role, org))
        : list.every((role) => user.hasRole(role, org))
      if (!granted) throw errors.auth(RoleRequiredError)
    })
  }

  /**
   * A guard that requires every one of these scopes in the token's `scope`
   * (403 `ZITADEL_AUTH_SCOPE_REQUIRED`). Zitadel's JWT access tokens carry no
   * `scope`; introspection answers do.
   * @example app.get('/read', { preHandler: app.zitadel.requireScopes(['read']) }, handler)
   */
  function requireScopes (scopes: readonly string[], options: GuardOptions = {}): Guard {
    refuseHookCall('requireScopes', scopes)
    const list = checkList('requireScopes', 'scopes', scopes, SCOPE_TOKEN)
    const inPerson = readInPerson('requireScopes', options)
    return guard({ kind: 'scopes', scopes: list }, function requireScopes (request: FastifyRequest) {
      const user = authenticated(request, inPerson)
      for (const scope of list) {
        if (!user.scopes.includes(scope)) throw errors.scope(list)
      }
    })
  }

  for (const factory of [requireAuth, optionalAuth, requireRoles, requireScopes]) Object.defineProperty(factory, kFactory, { value: true })
  return { requireAuth, optionalAuth, requireRoles, requireScopes }
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
  return name === 'requireAuth' || name === 'optionalAuth' ? `${name}()` : `${name}(['…'])`
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
function guard (requirement: GuardRequirement, check: (request: FastifyRequest) => void): Guard {
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
  return hook as unknown as Guard
}

/** Runs when routes are declared: a wrong argument fails there, not on a request. */
function checkList (fn: string, what: string, value: unknown, pattern: RegExp): readonly string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && pattern.test(v))) {
    invalidOption(`${fn}: ${what} must be a non-empty array of non-empty strings without spaces`)
  }
  return Object.freeze([...new Set(value as string[])])
}

/** True when the user must act in person. */
function readInPerson (fn: string, options: unknown): boolean {
  if (!isPlainObject(options)) invalidOption(`${fn}: options must be an object`)
  const { allowDelegated = true } = options as GuardOptions
  if (typeof allowDelegated !== 'boolean') invalidOption(`${fn}: option "allowDelegated" must be a boolean`)
  return !allowDelegated
}

export function guardsOf (hooks: unknown): GuardRequirement[] {
  const list = Array.isArray(hooks) ? hooks : [hooks]
  const found: GuardRequirement[] = []
  for (const fn of list) {
    if (typeof fn === 'function' && kGuard in fn) found.push((fn as Guard)[kGuard])
  }
  return found
}
