import type { FastifyPluginAsync, onRequestHookHandler } from 'fastify'
import { setMaxListeners } from 'node:events'
import fp from 'fastify-plugin'
import { createAuthenticate, kChecked } from './authenticate.js'
import { clockOf } from './clock.js'
import { createCredentialCheck } from './credential-check.js'
import { createErrorFactory } from './errors.js'
import { createGuards } from './guards.js'
import { Discovery } from './discovery.js'
import { createIntrospector } from './introspection.js'
import { JwksCache } from './jwks.js'
import { createOpenApiHelpers, type SwaggerOptionsBase, type ZitadelSwaggerOptions, type ZitadelSwaggerUiOptions } from './openapi.js'
import { introspectionCredentials } from './introspection-options.js'
import { resolveOptions, type ResolvedOptions, type ZitadelAuthOptions } from './options.js'
import { protectRoutes } from './routes.js'
import type { ZitadelUser } from './user.js'
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

/**
 * Wiring only. A request goes one way: `authenticate` (authenticate.ts) reads
 * the header, `credentials` (credential-check.ts) answers from the caches or
 * asks the verifier (verify.ts, with the key set of jwks.ts) or the
 * introspector (introspection.ts), the user (user.ts) lands on
 * `request.user`, and the guards (guards.ts) judge it in preHandler.
 * Registered with fastify-plugin so that the decorator and the route hook
 * apply to the whole application, not just this plugin's scope.
 */
const fastifyZitadelAuth: FastifyPluginAsync<ZitadelAuthOptions> = async function fastifyZitadelAuth (fastify, options) {
  const opts = resolveOptions(options)
  // The system's clock, unless a test hands over its own (lib/clock.ts).
  const clock = clockOf(options)
  const log = fastify.log.child({ plugin: 'fastify-zitadel-auth' })
  const errors = createErrorFactory(opts.realm)
  // Aborts every request to the IdP when the app closes.
  const closing = new AbortController()
  // Every request to the IdP listens to it while in flight; dozens at once are normal.
  setMaxListeners(0, closing.signal)
  const discovery = new Discovery(opts.issuer, opts.discoveryUrl, { timeoutMs: opts.httpTimeout * 1000, signal: closing.signal })
  const jwks = new JwksCache(opts, log, errors, discovery, clock, closing.signal)
  const verifier = createTokenVerifier(opts, jwks, errors, log, clock)
  const clientCredentials = introspectionCredentials(opts)
  const introspector = opts.introspection === undefined || clientCredentials === undefined
    ? undefined
    : createIntrospector(opts, opts.introspection, clientCredentials, discovery, log, errors, closing.signal, clock)

  const credentials = createCredentialCheck(verifier, introspector, errors)
  const authenticate = createAuthenticate(credentials, errors)

  const zitadel: ZitadelAuth = Object.freeze({ options: opts, verify: credentials.verify, authenticate, ...createGuards(errors), ...createOpenApiHelpers(opts) })
  fastify.decorate('zitadel', zitadel)
  // Same shape on every request (style: decorate once, up front).
  fastify.decorateRequest('user', null)
  fastify.decorateRequest(kChecked, false)

  protectRoutes(fastify, authenticate, log)

  // Keys load in the background once the app is ready: start-up never waits on
  // (or fails because of) the IdP, and the first request usually finds keys.
  fastify.addHook('onReady', async function warmZitadelKeys () {
    // With tokens: 'all', no key is ever used.
    if (introspector?.all !== true) jwks.warm()
  })
  fastify.addHook('onClose', async function closeZitadelKeys () {
    closing.abort()
  })
}

export default fp(fastifyZitadelAuth, { fastify: '5.x', name: 'fastify-zitadel-auth' })
