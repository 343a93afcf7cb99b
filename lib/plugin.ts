import type { FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify'
import { setMaxListeners } from 'node:events'
import fp from 'fastify-plugin'
import { bearerCredential, hasOneAuthorization, isB64Token, NONE } from './bearer.js'
import { awaitable, BadRequestError, createErrorFactory, failHook, InvalidOptionError, TokenMalformedError } from './errors.js'
import { callExample, createGuards, guardsOf, uncalledFactory } from './guards.js'
import { Discovery } from './discovery.js'
import { createIntrospector } from './introspection.js'
import { JwksCache } from './jwks.js'
import { createOpenApiHelpers, type SwaggerOptionsBase, type ZitadelSwaggerOptions, type ZitadelSwaggerUiOptions } from './openapi.js'
import { introspectionCredentials, resolveOptions, type ResolvedOptions, type ZitadelAuthOptions } from './options.js'
import { ZitadelUser } from './user.js'
import { createTokenVerifier } from './verify.js'

/** `fastify.zitadel` */
export interface ZitadelAuth extends ReturnType<typeof createGuards> {
  /** The options after validation and defaults. Frozen. */
  readonly options: ResolvedOptions
  /** Verifies a raw access token, for tokens that do not come in an HTTP request (WebSockets, queues, tests). Shares the token cache with the hook. Throws the coded errors. */
  verify (token: string): Promise<ZitadelUser>
  /** The onRequest hook the plugin adds to every route: verifies a Bearer token if there is one and sets `request.user`. */
  authenticate: onRequestHookHandler
  /**
   * Options for `@fastify/swagger` (dynamic mode, OpenAPI 3): `base` with the
   * `oauth2` security scheme (authorization code flow at
   * `{issuer}/oauth/v2/authorize` and `{issuer}/oauth/v2/token`) added to
   * `openapi.components.securitySchemes`, and a `transform` that documents
   * every route guarded by `requireAuth`, `requireRoles` or `requireScopes`
   * (in its route options): its security requirement and its 401 and 403
   * responses with the `ZitadelErrorResponse` body. A route with
   * `optionalAuth` alone gets `[{}, { zitadel: [] }]`: a token is optional,
   * and Swagger UI sends it when logged in. A route keeps a
   * `security`, 401 or 403 it declares itself. Public routes and routes with
   * `config.zitadel: false` are left alone. Only the document changes, never
   * the routes. Your own `transform` runs first; a route's
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
   * Zitadel's PKCE login: `clientId` (the plugin option), `usePkceWithAuthorizationCodeGrant: true`
   * and all the scopes of the security scheme. Fields of `base.initOAuth` win.
   * With PKCE and no `clientSecret`, a stylesheet appended to `theme.css`
   * hides Swagger UI's client_secret input. `base` is not modified. Register this redirect URI in the Zitadel app:
   * `<origin><routePrefix>/static/oauth2-redirect.html`.
   *
   * Throws `ZITADEL_AUTH_INVALID_OPTION` when the plugin has no `clientId` option.
   *
   * @example
   * await app.register(swaggerUi, app.zitadel.swaggerUiOptions({ routePrefix: '/docs' }))
   */
  swaggerUiOptions<T extends object = Record<never, never>> (base?: T): ZitadelSwaggerUiOptions<T>
}

/** On the config of every route the plugin's onRoute hook has seen. */
const kSeen = Symbol('fastify-zitadel-auth.route')
/** On a request whose token `authenticate` has handled. */
const kChecked = Symbol('fastify-zitadel-auth.checked')
/** A route in `printRoutes()`'s tree: its methods in parentheses, `x (GET, HEAD)`; an empty router prints `(empty tree)`. */
const ROUTE_LISTED = /\([A-Z]+[,)]/

/** The hooks of a route's options where a guard factory could be listed by mistake. */
const ROUTE_HOOKS = ['onRequest', 'preParsing', 'preValidation', 'preHandler', 'preSerialization', 'onSend', 'onResponse', 'onTimeout', 'onError', 'onRequestAbort'] as const

/**
 * Wiring only: options → verifier (JWKS cache) → user → guards.
 * Registered with fastify-plugin so that the decorator and the route hook
 * apply to the whole application, not just this plugin's scope.
 */
const fastifyZitadelAuth: FastifyPluginAsync<ZitadelAuthOptions> = async function fastifyZitadelAuth (fastify, options) {
  const opts = resolveOptions(options)
  const log = fastify.log.child({ plugin: 'fastify-zitadel-auth' })
  const errors = createErrorFactory(opts.realm)
  // Aborts every request to the IdP when the app closes.
  const closing = new AbortController()
  // Every request to the IdP listens to it while in flight; dozens at once are normal.
  setMaxListeners(0, closing.signal)
  const discovery = new Discovery(opts.issuer, opts.discoveryUrl, { timeoutMs: opts.httpTimeout * 1000, signal: closing.signal })
  const jwks = new JwksCache(opts, log, errors, discovery)
  const verifier = createTokenVerifier(opts, jwks, errors, log)
  const credentials = introspectionCredentials(opts)
  const introspector = opts.introspection === undefined || credentials === undefined
    ? undefined
    : createIntrospector(opts, opts.introspection, credentials, discovery, log, errors, closing.signal)

  async function verify (token: string): Promise<ZitadelUser> {
    // Plain JavaScript may pass anything: a coded 401, never a TypeError (a 500 in a handler).
    if (typeof token !== 'string') throw errors.auth(TokenMalformedError)
    return check(token, false)
  }

  /**
   * The user of a credential, at once when it is cached, otherwise through a
   * promise; a synchronous throw for a credential refused outright. JWTs are
   * looked up in the token cache first (only tokens that passed every check
   * are there, so a hit needs no syntax check). With `introspection`, opaque
   * tokens (and with `tokens: 'all'`, every token) go to Zitadel instead.
   * `fromHeader`: the credential of an Authorization header, where a
   * credential that is no `b64token` is a bad request (400) rather than a
   * malformed token (401, what `verify()` says).
   */
  function check (credential: string, fromHeader: boolean): ZitadelUser | Promise<ZitadelUser> {
    if (introspector === undefined) return verifier.cached(credential) ?? verifyCredential(credential, fromHeader)
    if (!introspector.all) {
      const user = verifier.cached(credential)
      if (user !== undefined) return user
    }
    if (!introspector.applies(credential)) return verifyCredential(credential, fromHeader)
    // RFC 6750 §2.1: what is not a b64token is not a token to ask Zitadel about.
    if (!isB64Token(credential)) throw errors.auth(fromHeader ? BadRequestError : TokenMalformedError)
    return introspector.check(credential)
  }

  /**
   * A JWT not in the cache: every check. A compact JWS is a `b64token` too,
   * so the `b64token` rule (400 rather than 401) is only looked at once the
   * verifier refused the token: one scan of the token instead of two. The
   * verifier refuses a token that is no compact JWS before anything else
   * happens (no key lookup, no fetch).
   */
  function verifyCredential (credential: string, fromHeader: boolean): Promise<ZitadelUser> {
    try {
      return verifier.verify(credential)
    } catch (err) {
      throw !fromHeader || isB64Token(credential) ? err : errors.auth(BadRequestError)
    }
  }

  // RFC 6750 §3: a request that presents a token has it checked on every route,
  // public or not; one without a token goes on as anonymous and guards decide.
  // This runs on every request. Callback style, not async: a cache hit then
  // costs a lookup and two clock reads, and no promise.
  function authenticate (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    // Called by hand as an async hook (`await authenticate(req, reply)`): a promise, never a crash.
    if (typeof done !== 'function') return awaitable(authenticate, request, reply) as unknown as undefined
    ;(request as unknown as Record<symbol, boolean>)[kChecked] = true
    const header = request.headers.authorization
    if (header === undefined) {
      done()
      return
    }
    // Node keeps the first of two Authorization lines; a proxy or service that
    // reads the last would see another caller than the one authorised here
    // (RFC 9110 §5.3: Authorization is not a list; RFC 6750 §3.1).
    if (!hasOneAuthorization(request.raw.rawHeaders)) {
      failHook(reply, errors.auth(BadRequestError), done)
      return
    }
    const credential = bearerCredential(header)
    if (credential === NONE) {
      done()
      return
    }
    let result: ZitadelUser | Promise<ZitadelUser>
    try {
      if (typeof credential !== 'string') throw errors.auth(BadRequestError) // INVALID
      result = check(credential, true)
    } catch (err) {
      failHook(reply, err, done)
      return
    }
    // done() outside the try: an error thrown further down the chain must not end this hook twice.
    if (result instanceof ZitadelUser) {
      request.user = result
      done()
      return
    }
    result.then((user) => {
      request.user = user
      done()
    }, (err: unknown) => { failHook(reply, err, done) })
  }

  const zitadel: ZitadelAuth = Object.freeze({ options: opts, verify, authenticate, ...createGuards(errors), ...createOpenApiHelpers(opts) })
  fastify.decorate('zitadel', zitadel)
  // Same shape on every request (style: decorate once, up front).
  fastify.decorateRequest('user', null)
  fastify.decorateRequest(kChecked, false)

  // Decided per route when it is declared (like @fastify/rate-limit): the hook goes
  // first among the route's own onRequest hooks so they see request.user (hooks
  // added with app.addHook run before any route-level hook, as Fastify orders
  // them; from preHandler on, every hook sees the user). `config: { zitadel: false }`
  // opts a route out. Fastify's own HEAD routes are built from the GET's options
  // after this runs, so they carry the same hook.
  fastify.addHook('onRoute', (route) => {
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
  if (ROUTE_LISTED.test(fastify.printRoutes())) addRoutesDeclaredBeforeHook()
  function addRoutesDeclaredBeforeHook (): void {
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

  // Keys load in the background once the app is ready: start-up never waits on
  // (or fails because of) the IdP, and the first request usually finds keys.
  fastify.addHook('onReady', async function warmZitadelKeys () {
    // With tokens: 'all', no key is ever used.
    if (introspector?.all !== true) jwks.warm()
  })
  fastify.addHook('onClose', async function closeZitadelKeys () {
    jwks.close()
    closing.abort()
  })
}

export default fp(fastifyZitadelAuth, { fastify: '5.x', name: 'fastify-zitadel-auth' })
