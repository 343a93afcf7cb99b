import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction, preHandlerHookHandler } from 'fastify'
import { DelegationRefusedError, GuardNotCalledError, RoleRequiredError, TokenMissingError, invalidOption, type ErrorFactory } from './errors.js'
import { awaitable, failHook } from './hooks.js'
import { SCOPE_TOKEN } from './scope.js'
import type { ZitadelUser } from './user.js'
import { isPlainObject } from './values.js'

/** What a guard demands; kept on the guard so routes (and their docs) can tell what protects them. */
export type GuardRequirement =
  | { readonly kind: 'auth' }
  | { readonly kind: 'optional' }
  | { readonly kind: 'roles', readonly roles: readonly string[], readonly any: boolean }
  | { readonly kind: 'scopes', readonly scopes: readonly string[] }

export const kGuard = Symbol.for('fastify-zitadel-auth.guard')
/** Marks the guard factories themselves, so a route that lists one uncalled is caught when it is declared. */
const kFactory = Symbol('fastify-zitadel-auth.guard-factory')

export type Guard = preHandlerHookHandler & { readonly [kGuard]: GuardRequirement }

/** What every guard takes. */
export interface GuardOptions {
  /**
   * `false`: refuse (403 `ZITADEL_AUTH_DELEGATION_REFUSED`) a token that
   * someone else holds for the user (`act`: token exchange with
   * impersonation or delegation), for routes the user must call in person.
   * Default: true.
   */
  allowDelegated?: boolean | undefined
}

export interface RequireRolesOptions extends GuardOptions {
  /**
   * The organisation the role must be held in: a fixed id, or read from the
   * request (e.g. `(req) => req.params.orgId`). When the function returns
   * undefined the request is refused: a missing organisation never widens the
   * check to "any organisation".
   */
  orgId?: string | OrgIdResolver | undefined
  /** Grant access when the user holds any one of the roles. Default: all are required. */
  any?: boolean | undefined
}

/** Reads the organisation from the request; route params are typed as strings so `(req) => req.params.orgId` needs no cast. */
export type OrgIdResolver = (request: FastifyRequest<{ Params: Record<string, string | undefined> }>) => string | undefined

/**
 * The preHandler guards. Each one runs after the onRequest hook verified the
 * token, so authorization is only ever decided for a genuine token: a forged
 * one gets its 401 before any route learns what role it wants.
 */
export function createGuards (errors: ErrorFactory) {
  /** The user of the request; `inPerson`: only when nobody acts for them. */
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
   * A guard that lets every request through, with a token or without one:
   * for routes anyone may call that say more to a logged-in user
   * (`request.user` is the verified user, or null). A token that is sent is
   * still verified, so a bad one gets its 401. The OpenAPI document marks the
   * token optional, so Swagger UI sends it once you are logged in.
   * @example app.get('/hello', { preHandler: app.zitadel.optionalAuth() }, async (req) => ({ user: req.user?.sub ?? null }))
   */
  function optionalAuth (): Guard {
    refuseHookCall('optionalAuth', arguments[0])
    // A guard without options: `optionalAuth({ allowDelegated: false })` would refuse nothing, so it fails here instead.
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
 * Fastify calls a hook with the request first. A factory that receives one was
 * added with `app.addHook(…)` uncalled; route options are checked at declaration
 * (`uncalledFactory`), but app-level hooks only show up here. Without this,
 * `requireAuth` would return a guard and leave the request hanging.
 */
function refuseHookCall (name: string, first: unknown): void {
  if (typeof first === 'object' && first !== null && 'raw' in first && 'routeOptions' in first) {
    throw new GuardNotCalledError(`app.zitadel.${name} was added as a hook without being called; call it to get the guard, e.g. app.addHook('preHandler', app.zitadel.${callExample(name)})`)
  }
}

/** How to call the factory `name` in a message. */
export function callExample (name: string): string {
  return name === 'requireAuth' || name === 'optionalAuth' ? `${name}()` : `${name}(['…'])`
}

/**
 * The name of a guard factory listed among `hooks` without being called
 * (`preHandler: app.zitadel.requireRoles`), if there is one: Fastify would
 * call it with the request, reply and done, and every request would fail or hang.
 */
export function uncalledFactory (hooks: unknown): string | undefined {
  const list = Array.isArray(hooks) ? hooks : [hooks]
  for (const fn of list) {
    if (typeof fn === 'function' && kFactory in fn) return fn.name
  }
  return undefined
}

/**
 * A callback-style preHandler around a check that throws the coded error.
 * Callback style, not async: the check is synchronous, and a promise per
 * guard per request is measurable on the cache-hit path.
 */
function guard (requirement: GuardRequirement, check: (request: FastifyRequest) => void): Guard {
  const hook = function (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    // Called by hand (`await guard(request, reply)`): a promise, never a crash.
    if (typeof done !== 'function') return awaitable(hook, request, reply) as unknown as undefined
    try {
      check(request)
    } catch (err) {
      failHook(reply, err, done)
      return
    }
    done()
  }
  // The check's name for stack traces and route introspection; the requirement for the docs.
  Object.defineProperty(hook, 'name', { value: check.name })
  Object.defineProperty(hook, kGuard, { value: Object.freeze(requirement) })
  return hook as unknown as Guard
}

/** Guards are built when routes are declared: a wrong argument fails there, not on a request. */
function checkList (fn: string, what: string, value: unknown, pattern: RegExp): readonly string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && pattern.test(v))) {
    invalidOption(`${fn}: ${what} must be a non-empty array of non-empty strings without spaces`)
  }
  return Object.freeze([...new Set(value as string[])])
}

/** Checks a guard's options object and reads `allowDelegated`: true when the user must act in person. */
function readInPerson (fn: string, options: unknown): boolean {
  if (!isPlainObject(options)) invalidOption(`${fn}: options must be an object`)
  const { allowDelegated = true } = options as GuardOptions
  if (typeof allowDelegated !== 'boolean') invalidOption(`${fn}: option "allowDelegated" must be a boolean`)
  return !allowDelegated
}

/** The guards among a route's hooks (a function or a list of them), in order. */
export function guardsOf (hooks: unknown): GuardRequirement[] {
  const list = Array.isArray(hooks) ? hooks : [hooks]
  const found: GuardRequirement[] = []
  for (const fn of list) {
    if (typeof fn === 'function' && kGuard in fn) found.push((fn as Guard)[kGuard])
  }
  return found
}
