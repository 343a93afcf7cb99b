import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { kChecked, type Authenticate } from './authenticate.js'
import { InvalidOptionError, invalidOption } from './errors.js'
import { callExample, guardsOf, kGuard, uncalledFactory, type Guard } from './guards.js'

/** On the config of every route the onRoute hook has seen. */
const kSeen = Symbol('fastify-zitadel-auth.route')
/** A route in `printRoutes()`'s tree: its methods in parentheses, `x (GET, HEAD)`; an empty router prints `(empty tree)`. */
const ROUTE_LISTED = /\([A-Z]+[,)]/

/** The guards `guardRoutes` gave each Fastify instance (an encapsulated scope), in the order given. */
const scopeGuards = new WeakMap<object, readonly Guard[]>()
/** Instances in which, or in whose children, a route has been declared since the plugin was registered. */
const withRoutes = new WeakSet<object>()

const ROUTE_HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'preSerialization', 'onSend', 'onResponse', 'onTimeout', 'onError', 'onRequestAbort'] as const

/**
 * `authenticate` goes on each route as it is declared (like
 * @fastify/rate-limit), first among its own onRequest hooks so they see
 * `request.user`; app-level onRequest hooks run earlier whatever we do.
 * Fastify builds HEAD routes from the GET's options after this, so they carry
 * the hook too.
 */
export function protectRoutes (fastify: FastifyInstance, authenticate: Authenticate, log: FastifyBaseLogger): void {
  // `this` is the instance that declares the route (fastify/lib/route.js calls
  // the hook with it). Scope guards are applied here, in the plugin's own
  // hook, rather than in one guardRoutes would add to the scope: that one
  // would run after this one's checks and after the onRoute hooks of plugins
  // registered later, such as @fastify/swagger's, which then see the guards
  // as route options.
  fastify.addHook('onRoute', function zitadelRoute (this: FastifyInstance, route: RouteOptions) {
    const added = guardsFromScopes(this, fastify)
    for (const hook of ROUTE_HOOKS) {
      const factory = uncalledFactory(route[hook])
      if (factory !== undefined) {
        throw new InvalidOptionError(`route ${String(route.method)} ${route.url}: ${hook} lists app.zitadel.${factory} itself; call it to get the guard, e.g. ${hook}: app.zitadel.${callExample(factory)}`)
      }
    }
    // An own property only: after a prototype pollution, Object.prototype.zitadel = false must not switch verification off.
    const config = route.config as Record<string, unknown> | undefined
    const setting = config !== undefined && Object.hasOwn(config, 'zitadel') ? config.zitadel : undefined
    route.config = { ...config, [kSeen]: true } as NonNullable<typeof route.config>
    if (setting === false) {
      // The user is then always null: a guard would refuse every request.
      if (added.length > 0) {
        throw new InvalidOptionError(`route ${String(route.method)} ${route.url} sets config.zitadel to false in a scope whose routes app.zitadel.guardRoutes guards, so its guards would refuse every request; declare the route outside that scope`)
      }
      if ([route.onRequest, route.preParsing, route.preValidation, route.preHandler].some((hooks) => guardsOf(hooks).length > 0)) {
        throw new InvalidOptionError(`route ${String(route.method)} ${route.url} sets config.zitadel to false but uses a zitadel guard, which would refuse every request`)
      }
      return
    }
    if (setting !== undefined) {
      throw new InvalidOptionError(`route ${String(route.method)} ${route.url}: config.zitadel must be false or absent`)
    }
    route.onRequest = route.onRequest === undefined ? [authenticate] : [authenticate, ...[route.onRequest].flat()]
    // Route options, so the guards are enforced like the route's own and the OpenAPI transform sees them; first, so they run before the route's own preHandler hooks.
    if (added.length > 0) route.preHandler = [...added, ...(route.preHandler === undefined ? [] : [route.preHandler].flat())] as NonNullable<RouteOptions['preHandler']>
  })

  // Routes declared before the plugin never reach onRoute and would take any
  // token unchecked; an app-level preParsing hook, which Fastify does apply to
  // them, checks their tokens instead. Route-level onRequest runs before it,
  // so kChecked tells the other routes apart. Fastify lists a route in its
  // router when it is declared (fastify/lib/route.js): with none listed yet,
  // the hook is left out rather than cost every request a stage.
  if (!ROUTE_LISTED.test(fastify.printRoutes())) return
  const warnedRoutes = new Set<string>()
  fastify.addHook('preParsing', function zitadelRoutesDeclaredBefore (request: FastifyRequest, reply: FastifyReply, _payload: unknown, done: (err?: Error | null) => void): void {
    if ((request as unknown as Record<symbol, boolean>)[kChecked]) {
      done()
      return
    }
    const config = request.routeOptions.config as unknown as Record<PropertyKey, unknown>
    // Seen and opted out, or no route at all.
    if (config[kSeen] === true || request.is404) {
      done()
      return
    }
    const route = `${request.method} ${String(request.routeOptions.url)}`
    if (!warnedRoutes.has(route)) {
      warnedRoutes.add(route)
      log.warn({ route }, 'zitadel: this route was declared before fastify-zitadel-auth was registered; its tokens are checked by an app-level hook instead. Register the plugin (await app.register) before declaring routes')
    }
    if (Object.hasOwn(config, 'zitadel') && config.zitadel === false) {
      done()
      return
    }
    authenticate(request, reply, done)
  })
}

/**
 * The guards of the scopes a route is declared in, outermost first, and marks
 * each of these scopes as having routes. A child scope is an
 * `Object.create()` of its parent (fastify/lib/plugin-override.js), as its
 * inherited decorators show, so walking up the prototypes from the declaring
 * instance to the plugin's meets every enclosing scope.
 */
function guardsFromScopes (declaring: FastifyInstance, pluginScope: FastifyInstance): Guard[] {
  const found: Guard[] = []
  for (let scope: object = declaring; ; scope = Object.getPrototypeOf(scope) as object) {
    withRoutes.add(scope)
    const own = scopeGuards.get(scope)
    if (own !== undefined) found.unshift(...own)
    if (scope === pluginScope) return found
  }
}

/**
 * `app.zitadel.guardRoutes`: records guards for every route declared later in
 * `scope` and its child scopes; the plugin's onRoute hook applies them.
 */
export function guardRoutes (scope: FastifyInstance, guards: Guard | readonly Guard[]): void {
  if (typeof scope !== 'object' || scope === null || (scope as Partial<FastifyInstance>).zitadel?.guardRoutes !== guardRoutes) {
    invalidOption('guardRoutes: the first argument must be the Fastify instance whose routes to guard, where the plugin is registered, e.g. app.register(async (scope) => { app.zitadel.guardRoutes(scope, app.zitadel.requireAuth()) })')
  }
  const list: unknown[] = Array.isArray(guards) ? guards : [guards]
  if (list.length === 0) invalidOption('guardRoutes: takes a guard or a non-empty array of guards')
  list.forEach((g, i) => {
    if (typeof g === 'function' && kGuard in g) return
    const factory = uncalledFactory(g)
    invalidOption(factory !== undefined
      ? `guardRoutes: app.zitadel.${factory} is listed without being called; list app.zitadel.${callExample(factory)} instead`
      : `guardRoutes: ${Array.isArray(guards) ? `guards[${i}]` : 'the second argument'} is not a guard of this plugin; add hooks of your own with scope.addHook, or to each route's options`)
  })
  // Fastify tells plugins of a route only as it is declared: routes already there would stay unguarded.
  if (withRoutes.has(scope)) {
    invalidOption('guardRoutes: routes were already declared in this scope or its child plugins, and would not be guarded; call guardRoutes first in the scope, before declaring its routes')
  }
  scopeGuards.set(scope, [...(scopeGuards.get(scope) ?? []), ...(list as Guard[])])
}
