import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { kChecked, type Authenticate } from './authenticate.js'
import { InvalidOptionError } from './errors.js'
import { callExample, guardsOf, uncalledFactory } from './guards.js'

/** On the config of every route the onRoute hook has seen. */
const kSeen = Symbol('fastify-zitadel-auth.route')
/** A route in `printRoutes()`'s tree: its methods in parentheses, `x (GET, HEAD)`; an empty router prints `(empty tree)`. */
const ROUTE_LISTED = /\([A-Z]+[,)]/

const ROUTE_HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'preSerialization', 'onSend', 'onResponse', 'onTimeout', 'onError', 'onRequestAbort'] as const

/**
 * `authenticate` goes on each route as it is declared (like
 * @fastify/rate-limit), first among its own onRequest hooks so they see
 * `request.user`; app-level onRequest hooks run earlier whatever we do.
 * Fastify builds HEAD routes from the GET's options after this, so they carry
 * the hook too.
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
    route.config = { ...config, [kSeen]: true } as NonNullable<typeof route.config>
    if (setting === false) {
      // A guard in any of these hooks would refuse every request.
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
