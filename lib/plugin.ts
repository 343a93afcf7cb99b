import type { FastifyInstance, FastifyPluginAsync, onRequestHookHandler } from 'fastify'
import { setMaxListeners } from 'node:events'
import fp from 'fastify-plugin'
import { createAuthenticate, kChecked } from './authenticate.js'
import { clockOf } from './clock.js'
import { createCredentialCheck } from './credential-check.js'
import { createErrorFactory, invalidOption, KeysNotLoadedError } from './errors.js'
import { createGuards, type Guard } from './guards.js'
import { Discovery } from './discovery.js'
import { createIntrospector, type IntrospectionStatus } from './introspection.js'
import { JwksCache, type KeySetStatus } from './jwks.js'
import { createOpenApiHelpers, type SwaggerOptionsBase, type ZitadelSwaggerOptions, type ZitadelSwaggerUiOptions } from './openapi.js'
import { introspectionCredentials } from './introspection-options.js'
import type { HttpSettings } from './http.js'
import { resolveOptions, type ResolvedOptions, type ZitadelAuthOptions } from './options.js'
import { guardRoutes, protectRoutes } from './routes.js'
import type { ZitadelUser } from './user.js'
import { createUserFactory } from './user-factory.js'
import { createTokenVerifier } from './verify.js'

/** `fastify.zitadel` */
export interface ZitadelAuth extends ReturnType<typeof createGuards> {
  /** The options after validation and defaults. Frozen. */
  readonly options: ResolvedOptions
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

/** What `fastify.zitadel.status()` answers. Nothing secret: no key material, token or credential. */
export interface ZitadelStatus {
  /** A token can be checked now without waiting on Zitadel. */
  readonly ready: boolean
  /** The signing keys; undefined with `introspection.tokens: 'all'` (no key is used). */
  readonly keys: KeySetStatus | undefined
  /** Introspection; undefined without the `introspection` option. */
  readonly introspection: IntrospectionStatus | undefined
}

/** Wrapped with fastify-plugin below so the decorator and route hook reach the whole app, not just this scope. */
const fastifyZitadelAuth: FastifyPluginAsync<ZitadelAuthOptions> = async function fastifyZitadelAuth (fastify, options) {
  const opts = resolveOptions(options)
  const clock = clockOf(options)
  const log = fastify.log.child({ plugin: 'fastify-zitadel-auth' })
  const errors = createErrorFactory(opts.realm)
  const closing = new AbortController()
  // Every request to the IdP listens to it while in flight; dozens at once are normal.
  setMaxListeners(0, closing.signal)
  const http: HttpSettings = { timeoutMs: opts.httpTimeout * 1000, signal: closing.signal, dispatcher: options.dispatcher }
  const discovery = new Discovery(opts.issuer, opts.discoveryUrl, http)
  const jwks = new JwksCache(opts, log, errors, discovery, clock, http)
  const users = createUserFactory(opts, errors, log)
  const verifier = createTokenVerifier(opts, jwks, errors, log, clock, users)
  const clientCredentials = introspectionCredentials(opts)
  const introspector = opts.introspection === undefined || clientCredentials === undefined
    ? undefined
    : createIntrospector(opts, opts.introspection, clientCredentials, discovery, log, errors, http, clock, users)

  const credentials = createCredentialCheck(verifier, introspector, errors)
  const authenticate = createAuthenticate(credentials, errors, opts.cookie)

  function status (): ZitadelStatus {
    const keys = introspector?.all === true ? undefined : jwks.status()
    const introspection = introspector?.status()
    const ready = (keys === undefined || keys.usable) && introspection?.coolingDown !== true
    return { ready, keys, introspection }
  }

  const zitadel: ZitadelAuth = Object.freeze({ options: opts, verify: credentials.verify, authenticate, status, guardRoutes, ...createGuards(errors), ...createOpenApiHelpers(opts) })
  fastify.decorate('zitadel', zitadel)
  fastify.decorateRequest('user', null)
  fastify.decorateRequest('zitadelUser', null)
  fastify.decorateRequest(kChecked, false)

  protectRoutes(fastify, authenticate, log)

  // In the background: start-up never waits on, or fails because of, the IdP.
  if (opts.cookie !== undefined) {
    // Plugins may come in any order; by ready they are all registered.
    fastify.addHook('onReady', async function checkZitadelCookieSetup () {
      if (!fastify.hasRequestDecorator('cookies')) {
        invalidOption('option "cookie" reads request.cookies, which @fastify/cookie provides: register it (await app.register(cookie)) in the same app')
      }
    })
  }
  fastify.addHook('onReady', async function warmZitadelKeys () {
    // With tokens: 'all', no key is ever used.
    if (introspector?.all === true) return
    const loading = jwks.warm()
    if (!opts.waitForKeys) return
    await loading
    const { usable, lastFailure } = jwks.status()
    // The fetch always fails with a reason here: only closing the app aborts one without, and close waits for ready.
    if (!usable) throw new KeysNotLoadedError(`could not load the signing keys from ${opts.issuer} (${lastFailure}); waitForKeys makes start-up wait for them, and the log says more`)
  })
  fastify.addHook('onClose', async function closeZitadelKeys () {
    closing.abort()
  })
}

export default fp(fastifyZitadelAuth, { fastify: '5.x', name: 'fastify-zitadel-auth' })
