import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import { InvalidOptionError, RoleRequiredError, TokenMissingError, withChallenge, type ErrorFactory } from './errors.js'
import { SCOPE_TOKEN } from './options.js'
import type { ZitadelUser } from './user.js'

/** What a guard demands; kept on the guard so routes (and their docs) can tell what protects them. */
export type GuardRequirement =
  | { readonly kind: 'auth' }
  | { readonly kind: 'roles', readonly roles: readonly string[], readonly any: boolean }
  | { readonly kind: 'scopes', readonly scopes: readonly string[] }

export const kGuard = Symbol.for('fastify-zitadel-auth.guard')

export type Guard = preHandlerAsyncHookHandler & { readonly [kGuard]: GuardRequirement }

export interface RequireRolesOptions {
  /**
   * The organisation the role must be held in: a fixed id, or read from the
   * request (e.g. `(req) => req.params.orgId`). When the function returns
   * undefined the request is refused: a missing organisation never widens the
   * check to "any organisation".
   */
  orgId?: string | OrgIdResolver
  /** Grant access when the user holds any one of the roles. Default: all are required. */
  any?: boolean
}

/** Reads the organisation from the request; route params are typed as strings so `(req) => req.params.orgId` needs no cast. */
export type OrgIdResolver = (request: FastifyRequest<{ Params: Record<string, string | undefined> }>) => string | undefined

/**
 * The preHandler guards. Each one runs after the onRequest hook verified the
 * token, so authorization is only ever decided for a genuine token: a forged
 * one gets its 401 before any route learns what role it wants.
 */
export function createGuards (errors: ErrorFactory) {
  function authenticated (request: FastifyRequest): ZitadelUser {
    if (request.user === null) throw errors.auth(TokenMissingError)
    return request.user
  }

  function requireAuth (): Guard {
    return guard({ kind: 'auth' }, async function requireAuth (request: FastifyRequest) {
      authenticated(request)
    })
  }

  function requireRoles (roles: readonly string[], options: RequireRolesOptions = {}): Guard {
    const list = checkList('requireRoles', 'roles', roles, /^\S+$/)
    if (options === null || typeof options !== 'object') invalid('requireRoles: options must be an object')
    const { orgId, any = false } = options
    if (typeof any !== 'boolean') invalid('requireRoles: option "any" must be a boolean')
    if (orgId !== undefined && !(typeof orgId === 'function' || (typeof orgId === 'string' && orgId !== ''))) {
      invalid('requireRoles: option "orgId" must be a non-empty string or a function of the request')
    }
    const orgOf = (typeof orgId === 'function' ? orgId : () => orgId) as (request: FastifyRequest) => string | undefined

    return guard({ kind: 'roles', roles: list, any }, async function requireRoles (request: FastifyRequest) {
      const user = authenticated(request)
      const org = orgOf(request)
      if (orgId !== undefined && (typeof org !== 'string' || org === '')) throw errors.auth(RoleRequiredError)
      const granted = any
        ? list.some((role) => user.hasRole(role, org))
        : list.every((role) => user.hasRole(role, org))
      if (!granted) throw errors.auth(RoleRequiredError)
    })
  }

  function requireScopes (scopes: readonly string[]): Guard {
    const list = checkList('requireScopes', 'scopes', scopes, SCOPE_TOKEN)
    return guard({ kind: 'scopes', scopes: list }, async function requireScopes (request: FastifyRequest) {
      const user = authenticated(request)
      for (const scope of list) {
        if (!user.scopes.includes(scope)) throw errors.scope(list)
      }
    })
  }

  return { requireAuth, requireRoles, requireScopes }
}

function guard (requirement: GuardRequirement, fn: (request: FastifyRequest, reply: FastifyReply) => Promise<void>): Guard {
  const wrapped = withChallenge(fn)
  Object.defineProperty(wrapped, kGuard, { value: Object.freeze(requirement) })
  return wrapped as unknown as Guard
}

/** Guards are built when routes are declared: a wrong argument fails there, not on a request. */
function checkList (fn: string, what: string, value: unknown, pattern: RegExp): readonly string[] {
  if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && pattern.test(v))) {
    invalid(`${fn}: ${what} must be a non-empty array of non-empty strings without spaces`)
  }
  return Object.freeze([...new Set(value as string[])])
}

function invalid (message: string): never {
  throw new InvalidOptionError(message)
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
