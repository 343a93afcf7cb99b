import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import zitadelAuth, { type IntrospectionOptions } from '../lib/index.js'

export interface DemoAppOptions {
  issuer: string
  projectId: string
  /** The User Agent app Swagger UI logs in with. */
  clientId: string
  /** Set to check opaque tokens through Zitadel's introspection endpoint. */
  introspection?: IntrospectionOptions
  logger?: boolean
}

/** What the demo routes say about the caller: never the token itself. */
function caller (request: FastifyRequest) {
  const user = request.user
  return user === null ? null : { sub: user.sub, clientId: user.clientId, roles: Object.keys(user.roles) }
}

/**
 * The demo API: one public route, two role-protected ones and one that needs
 * a scope, documented in Swagger UI at /docs with an Authorize button that
 * logs in with PKCE.
 */
export async function buildDemoApp ({ issuer, projectId, clientId, introspection, logger = false }: DemoAppOptions): Promise<FastifyInstance> {
  // With logs on, at debug: the plugin explains every refused token there.
  const app = Fastify({ logger: logger && { level: 'debug' } })
  await app.register(zitadelAuth, { issuer, projectId, clientId, introspection })
  await app.register(swagger, app.zitadel.swaggerOptions({
    openapi: {
      info: { title: 'fastify-zitadel-auth demo', version: '1.0.0', description: 'Click Authorize, log in, then try the protected routes.' }
    }
  }))
  await app.register(swaggerUi, app.zitadel.swaggerUiOptions({ routePrefix: '/docs' }))

  // optionalAuth(): anyone may call it, and Swagger UI sends the token once you are logged in.
  app.get('/api/public', {
    schema: { summary: 'Anyone may call this; it shows the caller when logged in' },
    preHandler: app.zitadel.optionalAuth()
  }, async (request) => ({ message: 'Hello from a public route', user: caller(request) }))

  app.get('/api/protected', {
    schema: { summary: 'Needs the role "user"' },
    preHandler: app.zitadel.requireRoles(['user'])
  }, async (request) => ({ message: 'Hello from a protected route: you have the role "user"', user: caller(request) }))

  app.get('/api/protected/admin', {
    schema: { summary: 'Needs the role "admin"' },
    preHandler: app.zitadel.requireRoles(['admin'])
  }, async (request) => ({ message: 'Hello, admin', user: caller(request) }))

  // Zitadel's JWT access tokens carry no `scope` claim, so with the demo's
  // default tokens this route answers 403 to everyone. Introspection answers
  // have `scope`: with DEMO_TOKENS=opaque, a login (Swagger UI asks for
  // `email`) passes, and the service user (which does not ask for it) gets 403.
  app.get('/api/email', {
    schema: {
      summary: 'Needs the scope "email" (opaque tokens: DEMO_TOKENS=opaque)',
      description: 'Answers the email address of the caller. It requires the scope `email` in the access token\'s `scope`. ' +
        'Zitadel\'s JWT access tokens carry no `scope` claim, so with the demo\'s default JWTs this answers 403 ' +
        '`ZITADEL_AUTH_SCOPE_REQUIRED`, even to alice. Start the demo with `DEMO_TOKENS=opaque`: the API then checks tokens ' +
        'through Zitadel\'s introspection endpoint, whose answer lists the scopes. A login through Swagger UI asks for `email`, ' +
        'so alice and bob get 200; the service user does not ask for it, and gets 403.'
    },
    preHandler: app.zitadel.requireScopes(['email'])
  }, async (request) => ({ message: 'Your token has the scope "email"', email: request.user?.claims.email ?? null, user: caller(request) }))

  app.get('/', { schema: { hide: true }, config: { zitadel: false } }, async (_request, reply) => reply.redirect('/docs'))
  return app
}
