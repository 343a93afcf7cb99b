import type { FastifyInstance, FastifyPluginAsync, onRequestHookHandler } from 'fastify'
import { setMaxListeners } from 'node:events'
import fp from 'fastify-plugin'
import { createAuthenticate, kChecked } from './authenticate.js'
import { clockOf } from './clock.js'
import { verifyUnlessRevoked } from './credential-check.js'
import { createErrorFactory, invalidOption, KeysNotLoadedError } from './errors.js'
import { createGuards, type Guard } from './guards.js'
import { createOpenApiHelpers, type SwaggerOptionsBase, type ZitadelSwaggerOptions, type ZitadelSwaggerUiOptions } from './openapi.js'
import type { HttpSettings } from './http.js'
import { resolveTenants, type ResolvedOptions, type ZitadelPluginOptions } from './options.js'
import { guardRoutes, protectRoutes } from './routes.js'
import { createTenant, type Tenant, type ZitadelTenantStatus } from './tenant.js'
import { createTenantRouter } from './tenant-router.js'
import { kInternals } from './internals.js'
import { RedisShared } from './redis.js'
import { RevocationList } from './revocations.js'
import { createRevoker, type RevocationApi } from './revoke.js'
import type { ZitadelUser } from './user.js'

/** `fastify.zitadel` */
export interface ZitadelAuth extends ReturnType<typeof createGuards>, RevocationApi {
  /** The options after validation and defaults; with `tenants`, the first tenant's (the shared options are the same in each). Frozen. */
  readonly options: ResolvedOptions
  /** Each tenant's options, in the order of the `tenants` option; without it, `[options]`. Frozen. */
  readonly tenants: readonly ResolvedOptions[]
  /** Verifies a raw access token that does not come in an HTTP request (WebSockets, queues, tests). Shares the token cache with the hook; throws the coded errors. */
  verify (token: string): Promise<ZitadelUser>
  /** The onRequest hook the plugin adds to every route: verifies a Bearer token if there is one and sets `request.user`. */
  authenticate: onRequestHookHandler
  /**
   * The plugin's state, for a readiness route: `ready` when a token can be
   * checked now without waiting on Zitadel (keys loaded and usable, and
   * introspection not cooling down after a failure).
   * @example app.get('/ready', { config: { zitadel: false } }, async (req, reply) => {
   *   const status = app.zitadel.status()
   *   return reply.code(status.ready ? 200 : 503).send(status)
   * })
   */
  status (): ZitadelStatus
  /**
   * Puts `guards` first in the `preHandler` of every route declared from now
   * on in `scope` and its child plugins: the routes' own guards, enforced and
   * documented in the OpenAPI document like guards in the route options. For
   * a group of routes: `scope.addHook('preHandler', guard)` enforces the guard
   * too, but the document cannot see app-level hooks and shows such routes as
   * public. Routes elsewhere (the parent, sibling plugins) are not touched.
   * Several calls add up, outer scopes' guards first.
   *
   * Call it before declaring the scope's routes. Throws
   * `ZITADEL_AUTH_INVALID_OPTION` when routes were already declared in
   * `scope` or its child plugins (they would stay unguarded), when `scope` is
   * not a Fastify instance that sees the plugin, and for anything but the
   * plugin's guards (a factory listed uncalled included). A route with
   * `config: { zitadel: false }` in such a scope throws when declared: its
   * guards would refuse every request.
   *
   * @example
   * await app.register(async (admin) => {
   *   app.zitadel.guardRoutes(admin, app.zitadel.requireRoles(['admin']))
   *   admin.get('/users', async () => [])
   * }, { prefix: '/admin' })
   */
  // Any instance, whatever its server, logger or type provider.
  guardRoutes (scope: FastifyInstance<any, any, any, any, any>, guards: Guard | readonly Guard[]): void
  /**
   * Options for `@fastify/swagger` (dynamic mode, OpenAPI 3): `base` plus the
   * `oauth2` security scheme (authorization code flow at
   * `{issuer}/oauth/v2/authorize` and `{issuer}/oauth/v2/token`), and a
   * `transform` that gives every route guarded by `requireAuth`,
   * `requireRoles` or `requireScopes` its security requirement and its 401
   * and 403 responses (`ZitadelErrorResponse`). A route with `optionalAuth`
   * alone gets `[{}, { zitadel: [] }]`, so Swagger UI sends a token when logged
   * in. A `security`, 401 or 403 the route declares itself is kept; public
   * routes and `config.zitadel: false` are left alone; the routes themselves
   * never change. Your own `transform` runs first; a route's
   * `config.swaggerTransform` replaces both. `base` is not modified.
   *
   * Throws `ZITADEL_AUTH_INVALID_OPTION` for `swagger` (OpenAPI 2) options,
   * for `mode: 'static'`, and when the scheme name is already taken.
   *
   * @example
   * await app.register(zitadelAuth, { issuer, projectId, clientId })
   * await app.register(swagger, app.zitadel.swaggerOptions({ openapi: { info: { title: 'My API', version: '1.0.0' } } }))
   * await app.register(swaggerUi, app.zitadel.swaggerUiOptions({ routePrefix: '/docs' }))
   */
  swaggerOptions<T extends object & SwaggerOptionsBase = Record<never, never>> (base?: T): ZitadelSwaggerOptions<T>
  /**
   * Options for `@fastify/swagger-ui`: `base` with `initOAuth` set for
   * Zitadel's PKCE login (`clientId` from the plugin options,
   * `usePkceWithAuthorizationCodeGrant: true`, every scope of the security
   * scheme); fields of `base.initOAuth` win. With PKCE and no `clientSecret`, a
   * stylesheet appended to `theme.css` hides Swagger UI's client_secret input.
   * `base` is not modified. Register this redirect URI in the Zitadel app:
   * `<origin><routePrefix>/static/oauth2-redirect.html`.
   *
   * Throws `ZITADEL_AUTH_INVALID_OPTION` when the plugin has no `clientId` option.
   *
   * @example
   * await app.register(swaggerUi, app.zitadel.swaggerUiOptions({ routePrefix: '/docs' }))
   */
  swaggerUiOptions<T extends object = Record<never, never>> (base?: T): ZitadelSwaggerUiOptions<T>
}

/**
 * What `fastify.zitadel.status()` answers. Nothing secret: no key material,
 * token or credential. With the `tenants` option, `keys` and `introspection`
 * are undefined: each tenant's are under `tenants`, and `ready` means every
 * tenant is.
 */
export interface ZitadelStatus extends ZitadelTenantStatus {
  /** With the `tenants` option: each tenant's state, by name. */
  readonly tenants?: Readonly<Record<string, ZitadelTenantStatus>>
}

/** Wrapped with fastify-plugin below so the decorator and route hook reach the whole app, not just this scope. */
const fastifyZitadelAuth: FastifyPluginAsync<ZitadelPluginOptions> = async function fastifyZitadelAuth (fastify, options) {
  const tenantOptions = resolveTenants(options)
  // The shared options are the same in each tenant's.
  const opts = tenantOptions[0] as ResolvedOptions
  const log = fastify.log.child({ plugin: 'fastify-zitadel-auth' })
  const errors = createErrorFactory(opts.realm)
  const closing = new AbortController()
  // Every request to the IdP listens to it while in flight; dozens at once are normal.
  setMaxListeners(0, closing.signal)
  const http: HttpSettings = { timeoutMs: opts.httpTimeout * 1000, signal: closing.signal, dispatcher: options.dispatcher }
  const clock = clockOf(options)
  const shared = options.redis === undefined ? undefined : new RedisShared(options.redis, opts.redisNamespace as string, log, clock)
  const context = { log, errors, clock, http, shared }
  const tenants = tenantOptions.map((o) => createTenant(o, context))
  // One tenant is checked directly: no router on the request path.
  const credentials = tenants.length === 1 ? (tenants[0] as Tenant).credentials : createTenantRouter(tenants, errors, log)
  const revocations = new RevocationList(clock)
  const revoker = createRevoker(revocations, opts, clock, shared)
  const authenticate = createAuthenticate(credentials, revocations, errors, opts.cookie)

  function status (): ZitadelStatus {
    if (tenants.length === 1) return (tenants[0] as Tenant).status()
    const each = Object.fromEntries(tenants.map((t) => [t.options.tenant as string, t.status()]))
    return { ready: Object.values(each).every((s) => s.ready), keys: undefined, introspection: undefined, tenants: each }
  }

  const names = opts.tenant === undefined ? undefined : tenantOptions.map((o) => o.tenant as string)
  const zitadel: ZitadelAuth = {
    options: opts,
    tenants: Object.freeze([...tenantOptions]),
    verify: verifyUnlessRevoked(credentials, revocations, errors),
    authenticate,
    status,
    guardRoutes,
    ...revoker.api,
    ...createGuards(errors, names),
    ...createOpenApiHelpers(tenantOptions)
  }
  // For the plugins of this package (zitadelEvents): not enumerable, not public.
  Object.defineProperty(zitadel, kInternals, { value: Object.freeze({ clock, options: opts, apply: revoker.apply, shared }) })
  Object.freeze(zitadel)
  fastify.decorate('zitadel', zitadel)
  fastify.decorateRequest('user', null)
  fastify.decorateRequest('zitadelUser', null)
  fastify.decorateRequest(kChecked, false)

  protectRoutes(fastify, authenticate, log)

  if (opts.cookie !== undefined) {
    // Plugins may come in any order; by ready they are all registered.
    fastify.addHook('onReady', async function checkZitadelCookieSetup () {
      if (!fastify.hasRequestDecorator('cookies')) {
        invalidOption('option "cookie" reads request.cookies, which @fastify/cookie provides: register it (await app.register(cookie)) in the same app')
      }
    })
  }
  fastify.addHook('onReady', async function warmZitadelKeys () {
    if (!opts.waitForKeys) {
      for (const tenant of tenants) tenant.warm()
      return
    }
    const failed = (await Promise.all(tenants.map((t) => t.loadKeys()))).filter((f) => f !== undefined)
    if (failed.length > 0) throw new KeysNotLoadedError(`could not load the signing keys from ${failed.join(' and ')}; waitForKeys makes start-up wait for them, and the log says more`)
  })
  if (shared !== undefined) {
    // Never fails start-up: without Redis the instance works alone until it is back.
    fastify.addHook('onReady', async function shareZitadelRevocations () {
      await shared.start((entry) => revoker.receive(entry), () => revocations.entries())
    })
  }
  fastify.addHook('onClose', async function closeZitadelKeys () {
    closing.abort()
    await shared?.close()
  })
}

export default fp(fastifyZitadelAuth, { fastify: '5.x', name: 'fastify-zitadel-auth' })
