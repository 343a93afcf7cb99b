import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { kChecked, type Authenticate } from './authenticate.js'
import { InvalidOptionError } from './errors.js'
import { callExample, guardsOf, uncalledFactory } from './guards.js'

/** On the config of every route the plugin's onRoute hook has seen. */
const kSeen = Symbol('fastify-zitadel-auth.route')
/** A route in `printRoutes()`'s tree: its methods in parentheses, `x (GET, HEAD)`; an empty router prints `(empty tree)`. */
const ROUTE_LISTED = /\([A-Z]+[,)]/

/** The hooks of a route's options where a guard factory could be listed by mistake. */
const ROUTE_HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'preSerialization', 'onSend', 'onResponse', 'onTimeout', 'onError', 'onRequestAbort'] as const

/**
 * Puts `authenticate` on every route, decided per route when it is declared
 * (like @fastify/rate-limit). It goes first among the route's own onRequest
 * hooks so they see `request.user` (hooks added with `app.addHook` run before
 * any route-level hook, as Fastify orders them; from preHandler on, every hook
 * sees the user). `config: { zitadel: false }` opts a route out. Fastify's own
 * HEAD routes are built from the GET's options after this runs, so they carry
 * the same hook. Mistakes in a route's options are refused here, at
 * declaration.
 */
export function protectRoutes (fastify: FastifyInstance, authenticate: Authenticate, log: FastifyBaseLogger): void {
  fastify.addHook('onRoute', (route: RouteOptions) => {
    for (const hook of ROUTE_HOOKS) {
      const factory = uncalledFactory(route[hook])
      if (factory !== undefined) {
        throw new InvalidOptionError(`route ${String(route.method)} ${route.url}: ${hook} lists app.zitadel.${factory} itself; call it to get the guard, e.g. ${hook}: app.zitadel.${callExample(factory)}`)
      }
    }
    // An own property only: after a prototype pollution, Object.prototype.zitadel = false must not switch verification off.
    const config = route.config as Record<string, unknown> | undefined
    const setting = config !== undefined && Object.hasOwn(config, 'zitadel') ? config.zitadel : undefined
    // Marks the route as seen here; the app-level hook below handles routes this hook never saw.
    route.config = { ...config, [kSeen]: true } as NonNullable<typeof route.config>
    if (setting === false) {
      // Guards belong in preHandler, but one placed in any earlier hook would refuse every request just the same.
      if ([route.onRequest, route.preParsing, route.preValidation, route.preHandler].some((hooks) => guardsOf(hooks).length > 0)) {
        throw new InvalidOptionError(`route ${String(route.method)} ${route.url} sets config.zitadel to false but uses a zitadel guard, which would refuse every request`)
      }
      return
    }
    if (setting !== undefined) {
      throw new InvalidOptionError(`route ${String(route.method)} ${route.url}: config.zitadel must be false or absent`)
    }
    route.onRequest = route.onRequest === undefined ? [authenticate] : [authenticate, ...[route.onRequest].flat()]
  })

  // Routes declared before the plugin was registered never reach the onRoute
  // hook above, and would take any token unchecked. An app-level preParsing
  // hook, which Fastify does apply to them, checks their tokens instead and
  // says so, once per route. On every other route `authenticate` ran already
  // (route-level onRequest comes before any preParsing hook), and one flag on
  // the request says so without looking up the route. Fastify puts a route in
  // its router when the route is declared (fastify/lib/route.js), so such
  // routes are all listed by now; without any, the hook is left out, as it
  // would be one more hook stage on every request for nothing.
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
