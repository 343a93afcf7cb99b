import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Validator } from '@seriousme/openapi-schema-validator'
import zitadelAuth, { ZitadelErrorResponse, type ZitadelAuthOptions } from '../lib/index.js'
import { resolveOptions } from '../lib/options.js'
import { bearer, FAST, issuerFor, type Teardown } from './helpers/app.js'
import { CLIENT_ID, PROJECT_ID, type TestIssuer } from '../fixtures/issuer.js'
import { thrown } from './helpers/assertions.js'

type Assert = Pick<typeof t, 'ok' | 'equal' | 'strictSame' | 'type'>
type Doc = Record<string, any>

const ERROR_FIELDS = ['statusCode', 'code', 'error', 'message']
const DEFAULT_SCOPES = {
  openid: 'Sign in with OpenID Connect',
  profile: 'The user\'s name and profile',
  email: 'The user\'s email address',
  [`urn:zitadel:iam:org:project:id:${PROJECT_ID}:aud`]: 'Puts this API\'s project in the token audience',
  'urn:zitadel:iam:org:projects:roles': 'Adds the user\'s project roles to the token'
}

interface Setup {
  options?: Partial<ZitadelAuthOptions>
  swagger?: Record<string, unknown>
  ui?: Record<string, unknown>
  routes?: (app: FastifyInstance) => void
}

/** An app with the plugin, @fastify/swagger and @fastify/swagger-ui as docs/openapi.md shows them. */
async function docsApp (t: Teardown, setup: Setup = {}): Promise<{ app: FastifyInstance, issuer: TestIssuer }> {
  const issuer = await issuerFor(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, clientId: CLIENT_ID, ...FAST, ...setup.options })
  await app.register(swagger, app.zitadel.swaggerOptions(setup.swagger ?? { openapi: { info: { title: 'My API', version: '1.0.0' } } }))
  await app.register(swaggerUi, app.zitadel.swaggerUiOptions(setup.ui ?? { routePrefix: '/docs' }))
  setup.routes?.(app)
  await app.ready()
  return { app, issuer }
}

/** The routes most tests document. */
function routes (app: FastifyInstance): void {
  const z = app.zitadel
  app.get('/public', async () => ({ public: true }))
  app.get('/health', { config: { zitadel: false } }, async () => ({ ok: true }))
  app.get('/me', { preHandler: z.requireAuth() }, async (req) => req.user)
  app.get('/hello', { preHandler: z.optionalAuth() }, async (req) => ({ user: req.user?.sub ?? null }))
  app.get('/admin', {
    preHandler: z.requireRoles(['admin']),
    schema: { response: { 200: { type: 'object', properties: { admin: { type: 'boolean' } } } } }
  }, async () => ({ admin: true, secret: 'not in the schema' }))
  app.get('/either', { preHandler: z.requireRoles(['editor', 'viewer'], { any: true }) }, async () => 'ok')
  app.get('/both', { preHandler: z.requireRoles(['editor', 'viewer']) }, async () => 'ok')
  app.get('/read', { preHandler: z.requireScopes(['read', 'write']) }, async () => 'ok')
  app.post('/mixed', { preHandler: [z.requireAuth(), z.requireScopes(['read']), z.requireRoles(['admin'])] }, async () => 'ok')
  app.get('/early', { preValidation: z.requireAuth() }, async () => 'ok')
  app.register(async (child) => {
    child.get('/items/:id', { preHandler: child.zitadel.requireRoles(['user']) }, async () => 'ok')
    child.get('/open', async () => 'ok')
  }, { prefix: '/v1' })
}

async function validate (doc: unknown): Promise<{ valid: boolean, errors?: unknown }> {
  return new Validator().validate(structuredClone(doc) as Parameters<Validator['validate']>[0])
}

/** Asserts that `doc` is valid OpenAPI; when it is not, the validator's errors go to the output to show why. */
async function assertValid (t: Test, doc: unknown, message: string): Promise<void> {
  const result = await validate(doc)
  t.ok(result.valid, message)
  if (!result.valid) t.comment(JSON.stringify(result.errors, null, 2))
}

function operation (doc: Doc, path: string, method = 'get'): Doc {
  const op = doc.paths?.[path]?.[method]
  if (op === undefined) throw new Error(`no ${method.toUpperCase()} ${path} in the document`)
  return op
}

/** Asserts a documented 401/403 with the error body schema and the challenge header. */
function assertErrorResponse (t: Assert, response: Doc | undefined, what: string): void {
  t.ok(response, `${what} is documented`)
  if (response === undefined) return
  const schema = response.content?.['application/json']?.schema
  t.equal(schema?.type, 'object', `${what}: JSON body`)
  t.strictSame(schema?.required, ERROR_FIELDS, `${what}: the four fields are required`)
  t.strictSame(Object.keys(schema?.properties ?? {}), ERROR_FIELDS)
  t.equal(schema?.properties?.statusCode?.type, 'integer')
  t.equal(schema?.properties?.code?.type, 'string')
  t.ok(response.headers?.['WWW-Authenticate'], `${what}: the challenge header`)
  t.type(response.description, 'string')
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

t.test('the document validates against the OpenAPI 3 schema', async (t) => {
  const { app } = await docsApp(t, { routes })
  const doc = app.swagger() as Doc
  await assertValid(t, doc, 'app.swagger() is a valid OpenAPI document')
  t.equal(doc.openapi, '3.0.3')
  t.ok(operation(doc, '/admin').security, 'the routes were documented')

  const res = await app.inject({ url: '/docs/json' })
  t.equal(res.statusCode, 200)
  t.strictSame(res.json(), JSON.parse(JSON.stringify(doc)), '/docs/json serves the same document')
  await assertValid(t, res.json(), '/docs/json is valid')
})

t.test('an OpenAPI 3.1 document validates too', async (t) => {
  const { app } = await docsApp(t, { routes, swagger: { openapi: { openapi: '3.1.0', info: { title: 'My API', version: '1.0.0' } } } })
  const doc = app.swagger() as Doc
  t.equal(doc.openapi, '3.1.0')
  await assertValid(t, doc, 'the 3.1 document is valid')
})

t.test('the validator rejects a broken document, so the validation above can fail', async (t) => {
  const { app } = await docsApp(t, { routes })
  const doc = app.swagger() as Doc
  await assertValid(t, doc, 'the document as built is valid')

  const noTokenUrl = structuredClone(doc)
  delete noTokenUrl.components.securitySchemes.zitadel.flows.authorizationCode.tokenUrl
  t.notOk((await validate(noTokenUrl)).valid, 'a flow without tokenUrl')

  const wrongType = structuredClone(doc)
  wrongType.components.securitySchemes.zitadel.type = 'oauth3'
  t.notOk((await validate(wrongType)).valid, 'an unknown scheme type')

  const badResponse = structuredClone(doc)
  badResponse.paths['/admin'].get.responses['403'].content['application/json'].schema.required = 'code'
  t.notOk((await validate(badResponse)).valid, 'a response schema that is not a schema')

  const noDescription = structuredClone(doc)
  delete noDescription.paths['/me'].get.responses['401'].description
  t.notOk((await validate(noDescription)).valid, 'a response without its description')
})

t.test('the security scheme: Zitadel\'s URLs and the default scopes, with the project id', async (t) => {
  const { app, issuer } = await docsApp(t)
  const doc = app.swagger() as Doc
  t.strictSame(Object.keys(doc.components.securitySchemes), ['zitadel'], 'named zitadel by default')
  const scheme = doc.components.securitySchemes.zitadel
  t.equal(scheme.type, 'oauth2')
  t.type(scheme.description, 'string')
  t.strictSame(Object.keys(scheme.flows), ['authorizationCode'], 'the authorization code flow only')
  t.strictSame(scheme.flows.authorizationCode, {
    authorizationUrl: `${issuer.url}/oauth/v2/authorize`,
    tokenUrl: `${issuer.url}/oauth/v2/token`,
    scopes: DEFAULT_SCOPES
  })
  t.strictSame(doc.info, { title: 'My API', version: '1.0.0' }, 'the caller\'s info')
})

t.test('openapi.description replaces the security scheme\'s description', async (t) => {
  const description = 'Log in with your **ACME** account. Service users: the client credentials grant.'
  const { app } = await docsApp(t, { routes, options: { openapi: { description } } })
  const doc = app.swagger() as Doc
  t.equal(doc.components.securitySchemes.zitadel.description, description, 'the caller\'s text, as given')
  t.equal(app.zitadel.options.openapi.description, description)
  t.equal(operation(doc, '/admin').responses['403'].description, 'Requires the Zitadel role `admin` (`ZITADEL_AUTH_ROLE_REQUIRED`)',
    'the routes are documented as before')
  await assertValid(t, doc, 'the document stays valid')

  const { app: renamed } = await docsApp(t, { options: { openapi: { securityScheme: 'login', description: 'Short.' } } })
  t.equal((renamed.swagger() as Doc).components.securitySchemes.login.description, 'Short.', 'with another scheme name too')
})

t.test('the issuer is normalised in the URLs (trailing slash)', async (t) => {
  const issuer = await issuerFor(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: `${issuer.url}/`, projectId: PROJECT_ID, ...FAST })
  await app.register(swagger, app.zitadel.swaggerOptions())
  await app.ready()
  const flow = (app.swagger() as Doc).components.securitySchemes.zitadel.flows.authorizationCode
  t.equal(flow.authorizationUrl, `${issuer.url}/oauth/v2/authorize`)
  t.equal(flow.tokenUrl, `${issuer.url}/oauth/v2/token`)
  await assertValid(t, app.swagger(), 'valid with no base options at all')
})

t.test('the scheme name and the scopes are configurable', async (t) => {
  const scopes = { openid: 'Sign in', 'api:read': 'Read the API' }
  const { app } = await docsApp(t, { routes, options: { openapi: { securityScheme: 'login', scopes } } })
  const doc = app.swagger() as Doc
  t.strictSame(Object.keys(doc.components.securitySchemes), ['login'])
  t.strictSame(doc.components.securitySchemes.login.flows.authorizationCode.scopes, scopes)
  t.strictSame(operation(doc, '/me').security, [{ login: [] }], 'routes name the configured scheme')
  t.strictSame(operation(doc, '/read').security, [{ login: ['read', 'write'] }])
  t.strictSame(operation(doc, '/hello').security, [{}, { login: [] }], 'optionalAuth names it too')
  await assertValid(t, doc, 'the document with its own scheme name and scopes is valid')

  const js = (await app.inject({ url: '/docs/static/swagger-initializer.js' })).body
  t.strictSame(initOAuthOf(js).scopes, ['openid', 'api:read'], 'Swagger UI asks for the configured scopes')
})

t.test('the caller\'s other components, schemes and settings survive', async (t) => {
  const { app } = await docsApp(t, {
    routes: (app) => {
      app.get('/keyed', { schema: { security: [{ apiKey: [] }], response: { 200: { type: 'object', properties: { name: { type: 'string' } } } } } }, async () => ({ name: 'x' }))
      app.get('/me', { preHandler: app.zitadel.requireAuth() }, async () => 'ok')
    },
    swagger: {
      openapi: {
        info: { title: 'Mine', version: '2.0.0' },
        servers: [{ url: 'http://localhost:8001' }],
        tags: [{ name: 'things' }],
        components: {
          securitySchemes: { apiKey: { type: 'apiKey', name: 'x-api-key', in: 'header' } },
          schemas: { Named: { type: 'object', properties: { name: { type: 'string' } } } },
          responses: { NotFound: { description: 'Not found' } }
        }
      }
    }
  })
  const doc = app.swagger() as Doc
  t.strictSame(Object.keys(doc.components.securitySchemes), ['apiKey', 'zitadel'], 'the caller\'s scheme is kept next to ours')
  t.strictSame(doc.components.securitySchemes.apiKey, { type: 'apiKey', name: 'x-api-key', in: 'header' })
  t.ok(doc.components.schemas.Named, 'the caller\'s schemas are kept')
  t.strictSame(doc.components.responses, { NotFound: { description: 'Not found' } })
  t.strictSame(doc.servers, [{ url: 'http://localhost:8001' }])
  t.strictSame(doc.tags, [{ name: 'things' }])
  t.strictSame(doc.info, { title: 'Mine', version: '2.0.0' })
  t.strictSame(operation(doc, '/keyed').security, [{ apiKey: [] }])
  await assertValid(t, doc, 'the merged document is valid')
})

t.test('guarded routes carry their security requirement and their 401 and 403 responses', async (t) => {
  const { app } = await docsApp(t, { routes })
  const doc = app.swagger() as Doc

  const me = operation(doc, '/me')
  t.strictSame(me.security, [{ zitadel: [] }], 'requireAuth')
  assertErrorResponse(t, me.responses['401'], 'requireAuth 401')
  t.notOk(me.responses['403'], 'requireAuth never answers 403')
  t.match(me.responses['401'].description, /Bearer access token/)

  const admin = operation(doc, '/admin')
  t.strictSame(admin.security, [{ zitadel: [] }], 'requireRoles: roles are not OAuth scopes')
  assertErrorResponse(t, admin.responses['401'], 'requireRoles 401')
  assertErrorResponse(t, admin.responses['403'], 'requireRoles 403')
  t.equal(admin.responses['403'].description, 'Requires the Zitadel role `admin` (`ZITADEL_AUTH_ROLE_REQUIRED`)')
  t.strictSame(admin.responses['200'].content['application/json'].schema, { type: 'object', properties: { admin: { type: 'boolean' } } },
    'the route\'s own 200 is kept')

  t.equal(operation(doc, '/either').responses['403'].description,
    'Requires one of the Zitadel roles `editor` or `viewer` (`ZITADEL_AUTH_ROLE_REQUIRED`)', 'any: true')
  t.equal(operation(doc, '/both').responses['403'].description,
    'Requires the Zitadel roles `editor` and `viewer` (`ZITADEL_AUTH_ROLE_REQUIRED`)', 'all roles')

  const read = operation(doc, '/read')
  t.strictSame(read.security, [{ zitadel: ['read', 'write'] }], 'requireScopes lists its scopes')
  assertErrorResponse(t, read.responses['403'], 'requireScopes 403')
  t.equal(read.responses['403'].description, 'Requires the scopes `read` and `write` (`ZITADEL_AUTH_SCOPE_REQUIRED`)')

  const mixed = operation(doc, '/mixed', 'post')
  t.strictSame(mixed.security, [{ zitadel: ['read'] }], 'a list of guards')
  t.equal(mixed.responses['403'].description,
    'Requires the scope `read` (`ZITADEL_AUTH_SCOPE_REQUIRED`), and the Zitadel role `admin` (`ZITADEL_AUTH_ROLE_REQUIRED`)')

  t.strictSame(operation(doc, '/early').security, [{ zitadel: [] }], 'a guard in preValidation')

  const child = operation(doc, '/v1/items/{id}')
  t.strictSame(child.security, [{ zitadel: [] }], 'a route in a child plugin with a prefix')
  assertErrorResponse(t, child.responses['403'], 'child route 403')
  t.match(child.responses['403'].description, '`user`')
  t.ok(child.parameters?.some((p: Doc) => p.name === 'id' && p.in === 'path'), 'the path parameter is still documented')

  for (const path of ['/me', '/either', '/read']) {
    t.strictSame(operation(doc, path).responses['200'], { description: 'Default Response' },
      `${path}: a route without a response schema keeps its default 200`)
  }
})

t.test('optionalAuth routes make the token optional: an empty requirement next to the scheme', async (t) => {
  const { app, issuer } = await docsApp(t, {
    routes: (app) => {
      routes(app)
      app.get('/hello-or-admin', { preHandler: [app.zitadel.optionalAuth(), app.zitadel.requireRoles(['admin'])] }, async () => 'ok')
      app.get('/hello-with-schema', {
        preHandler: app.zitadel.optionalAuth(),
        schema: { response: { 200: { type: 'object', properties: { user: { type: 'string', nullable: true } } } } }
      }, async () => ({ user: null }))
    }
  })
  const doc = app.swagger() as Doc
  const hello = operation(doc, '/hello')
  // OpenAPI 3.0.3 §4.7.12: `{}` is the requirement "no security"; either alternative will do.
  t.strictSame(hello.security, [{}, { zitadel: [] }], 'no token, or a Zitadel token')
  assertErrorResponse(t, hello.responses['401'], 'optionalAuth 401 (a bad token)')
  t.equal(hello.responses['401'].description,
    'The Bearer access token sent is not accepted (`ZITADEL_AUTH_*` codes); a request without a token is answered as anonymous')
  t.notOk(hello.responses['403'], 'optionalAuth never answers 403')
  t.strictSame(hello.responses['200'], { description: 'Default Response' }, 'the default 200 is kept')
  t.ok(operation(doc, '/hello-with-schema').responses['200'].content, 'a route\'s own 200 is kept')

  const both = operation(doc, '/hello-or-admin')
  t.strictSame(both.security, [{ zitadel: [] }], 'next to a guard that needs a token, the token is required')
  t.match(both.responses['401'].description, /^Authentication required/)
  assertErrorResponse(t, both.responses['403'], 'the other guard\'s 403')
  await assertValid(t, doc, 'the empty requirement is valid OpenAPI')

  // What the document promises is what the route does.
  t.strictSame((await app.inject({ url: '/hello' })).json(), { user: null })
  t.strictSame((await app.inject({ url: '/hello', headers: bearer(await issuer.token()) })).json(), { user: '263785111111111111' })
  t.equal((await app.inject({ url: '/hello', headers: bearer('not.a.jwt') })).statusCode, 401)
})

t.test('public routes and config.zitadel: false routes carry nothing', async (t) => {
  const { app } = await docsApp(t, { routes })
  const doc = app.swagger() as Doc
  for (const path of ['/public', '/health', '/v1/open']) {
    const op = operation(doc, path)
    t.notOk('security' in op, `${path}: no security`)
    t.strictSame(op.responses, { 200: { description: 'Default Response' } }, `${path}: no 401 or 403`)
  }
  t.notOk('security' in doc, 'no document-wide security requirement either')
})

t.test('a route that defines its own security, 401 or 403 keeps it', async (t) => {
  const { app } = await docsApp(t, {
    swagger: { openapi: { components: { securitySchemes: { apiKey: { type: 'apiKey', name: 'x-api-key', in: 'header' } } } } },
    routes: (app) => {
      const z = app.zitadel
      app.get('/own-security', { preHandler: z.requireAuth(), schema: { security: [{ apiKey: [] }, { zitadel: ['openid'] }] } }, async () => 'ok')
      app.get('/own-401', {
        preHandler: z.requireRoles(['admin']),
        schema: { response: { 401: { description: 'Log in first', type: 'object', properties: { why: { type: 'string' } } } } }
      }, async () => 'ok')
      app.get('/own-403', {
        preHandler: z.requireRoles(['admin']),
        schema: { response: { 403: { description: 'Admins only', type: 'null' } } }
      }, async () => 'ok')
    }
  })
  const doc = app.swagger() as Doc
  const ownSecurity = operation(doc, '/own-security')
  t.strictSame(ownSecurity.security, [{ apiKey: [] }, { zitadel: ['openid'] }], 'security as declared')
  assertErrorResponse(t, ownSecurity.responses['401'], 'the 401 is still added')

  const own401 = operation(doc, '/own-401')
  t.equal(own401.responses['401'].description, 'Log in first', 'the route\'s 401 is kept')
  t.strictSame(Object.keys(own401.responses['401'].content['application/json'].schema.properties), ['why'])
  assertErrorResponse(t, own401.responses['403'], 'the 403 is still added')
  t.notOk(own401.responses['200'], 'a route with its own responses gets no default 200 added')
  t.strictSame(own401.security, [{ zitadel: [] }])

  const own403 = operation(doc, '/own-403')
  t.strictSame(own403.responses['403'], { description: 'Admins only' }, 'the route\'s 403 is kept')
  assertErrorResponse(t, own403.responses['401'], 'the 401 is still added')
  await assertValid(t, doc, 'the document with the routes\' own security is valid')
})

t.test('the caller\'s transform runs first, then the plugin\'s', async (t) => {
  const seen: string[] = []
  const { app } = await docsApp(t, {
    routes,
    swagger: {
      openapi: { info: { title: 'My API', version: '1.0.0' } },
      transform: ({ schema, url, route }: { schema?: Record<string, unknown>, url: string, route: { method: string | string[] } }) => {
        seen.push(`${String(route.method)} ${url}`)
        if (url === '/public') return { schema: { ...schema, hide: true }, url }
        if (url === '/me') return { url: '/users/me' } // no schema: the route's own is used
        return { schema: { ...schema, tags: ['tagged'], security: url === '/both' ? [] : schema?.security }, url }
      }
    }
  })
  const doc = app.swagger() as Doc
  t.ok(seen.includes('GET /admin') && seen.includes('GET /v1/items/:id'), 'the caller\'s transform saw the routes')
  t.notOk(doc.paths['/public'], 'the caller\'s transform can hide a route')
  t.notOk(doc.paths['/me'], 'the caller\'s url is used')
  t.strictSame(operation(doc, '/users/me').security, [{ zitadel: [] }], 'and the route is still documented')
  const admin = operation(doc, '/admin')
  t.strictSame(admin.tags, ['tagged'], 'the caller\'s change is kept')
  t.strictSame(admin.security, [{ zitadel: [] }], 'the plugin documented the result')
  assertErrorResponse(t, admin.responses['403'], 'admin 403')
  t.strictSame(operation(doc, '/both').security, [], 'a security the caller\'s transform set wins')
  await assertValid(t, doc, 'the transformed document is valid')
})

t.test('a route\'s config.swaggerTransform replaces the plugin\'s transform too (documented limit)', async (t) => {
  const { app } = await docsApp(t, {
    routes: (app) => {
      app.get('/own-transform', { preHandler: app.zitadel.requireAuth(), config: { swaggerTransform: false } }, async () => 'ok')
    }
  })
  t.notOk('security' in operation(app.swagger() as Doc, '/own-transform'))
})

t.test('HEAD routes, when exposed, are documented like their GET', async (t) => {
  const { app } = await docsApp(t, { routes, swagger: { exposeHeadRoutes: true, openapi: {} } })
  const doc = app.swagger() as Doc
  t.strictSame(operation(doc, '/admin', 'head').security, [{ zitadel: [] }])
  t.ok(operation(doc, '/admin', 'head').responses['403'])
  t.notOk('security' in operation(doc, '/public', 'head'))
})

t.test('the routes themselves are unchanged: the transform only writes the document', async (t) => {
  const adminSchema = { response: { 200: { type: 'object', properties: { admin: { type: 'boolean' } } } } }
  const before = structuredClone(adminSchema)
  const { app, issuer } = await docsApp(t, {
    routes: (app) => {
      routes(app)
      app.get('/admin-with-schema', { preHandler: app.zitadel.requireRoles(['admin']), schema: adminSchema }, async () => ({ admin: true, extra: 1 }))
    }
  })
  app.swagger()
  // JSON: Fastify marks the schemas it compiled with a symbol of its own.
  t.strictSame(JSON.parse(JSON.stringify(adminSchema)), before, 'the route\'s schema object is not modified')

  const missing = await app.inject({ url: '/me' })
  t.equal(missing.statusCode, 401)
  t.strictSame(Object.keys(missing.json()).sort(), [...ERROR_FIELDS].sort(), 'the real 401 body has all four fields')
  t.strictSame(missing.json(), { statusCode: 401, code: 'ZITADEL_AUTH_TOKEN_MISSING', error: 'Unauthorized', message: 'Authentication required' })
  t.equal(missing.headers['www-authenticate'], 'Bearer realm="api"')

  const denied = await app.inject({ url: '/admin', headers: bearer(await issuer.token({ roles: ['user'] })) })
  t.equal(denied.statusCode, 403)
  t.strictSame(denied.json(), { statusCode: 403, code: 'ZITADEL_AUTH_ROLE_REQUIRED', error: 'Forbidden', message: 'The access token lacks a required role' })
  t.match(denied.headers['www-authenticate'], /error="insufficient_scope"/)

  const noScope = await app.inject({ url: '/read', headers: bearer(await issuer.token()) })
  t.equal(noScope.statusCode, 403)
  t.equal(noScope.json().code, 'ZITADEL_AUTH_SCOPE_REQUIRED')
  t.match(noScope.headers['www-authenticate'], 'scope="read write"')

  const me = await app.inject({ url: '/me', headers: bearer(await issuer.token()) })
  t.equal(me.statusCode, 200, 'a route documented with a body-less default 200 still sends its body')
  t.equal(me.json().sub, '263785111111111111')

  const admin = await app.inject({ url: '/admin-with-schema', headers: bearer(await issuer.token({ roles: ['admin'] })) })
  t.strictSame(admin.json(), { admin: true }, 'the route\'s own response schema serialises as before')
})

t.test('swaggerOptions does not modify its argument', async (t) => {
  const issuer = await issuerFor(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: PROJECT_ID, ...FAST })
  const transform = ({ schema, url }: { schema?: object, url: string }) => ({ schema: schema ?? {}, url })
  const base = deepFreeze({
    hideUntagged: false,
    openapi: { info: { title: 'x', version: '1' }, components: { securitySchemes: { apiKey: { type: 'apiKey', name: 'k', in: 'header' } } } },
    transform
  })
  const copy = structuredClone({ ...base, transform: undefined })
  const options = app.zitadel.swaggerOptions(base) as Doc
  t.strictSame({ ...base, transform: undefined }, copy, 'the argument is unchanged')
  t.not(options, base, 'a new object')
  t.equal(options.hideUntagged, false, 'other settings are carried over')
  t.equal(options.mode, undefined, 'mode is left alone')
  t.not(options.transform, transform, 'the transform is wrapped')
  t.strictSame(Object.keys(options.openapi.components.securitySchemes), ['apiKey', 'zitadel'])
  t.strictSame(Object.keys(base.openapi.components.securitySchemes), ['apiKey'])

  const bare = app.zitadel.swaggerOptions() as Doc
  t.strictSame(Object.keys(bare).sort(), ['openapi', 'transform'], 'no argument: OpenAPI 3 with the scheme and the transform')
  t.strictSame(Object.keys(bare.openapi.components.securitySchemes), ['zitadel'])
  t.equal(app.zitadel.swaggerOptions({ mode: 'dynamic' }).mode, 'dynamic', 'mode dynamic is accepted')
  t.type((app.zitadel.swaggerOptions({ transform: null } as object) as Doc).transform, 'function', 'transform: null (swagger\'s default) is accepted')
})

t.test('swaggerOptions refuses what it cannot honour, with a clear error', async (t) => {
  const issuer = await issuerFor(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: PROJECT_ID, ...FAST })
  const z = app.zitadel

  const oas2 = thrown(() => z.swaggerOptions({ swagger: { info: { title: 'x', version: '1' } } } as never))
  t.equal(oas2.code, 'ZITADEL_AUTH_INVALID_OPTION')
  t.ok(oas2 instanceof TypeError)
  t.match(oas2.message, /only OpenAPI 3 is supported/)
  t.match(oas2.message, '"swagger"')

  t.match(thrown(() => z.swaggerOptions({ mode: 'static', specification: { document: {} } } as never)).message, /mode "dynamic"/)
  t.match(thrown(() => z.swaggerOptions('openapi' as never)).message, /swaggerOptions: the argument must be an options object/)
  t.match(thrown(() => z.swaggerOptions(null as never)).message, /options object/)
  t.match(thrown(() => z.swaggerOptions({ openapi: 'yes' })).message, /"openapi" must be an object/)
  t.match(thrown(() => z.swaggerOptions({ openapi: { components: [] } })).message, /"openapi.components" must be an object/)
  t.match(thrown(() => z.swaggerOptions({ openapi: { components: { securitySchemes: 5 } } })).message, /"openapi.components.securitySchemes" must be an object/)
  t.match(thrown(() => z.swaggerOptions({ transform: 'upper' } as never)).message, /"transform" must be a function/)
  const taken = thrown(() => z.swaggerOptions({ openapi: { components: { securitySchemes: { zitadel: { type: 'http', scheme: 'bearer' } } } } }))
  t.equal(taken.code, 'ZITADEL_AUTH_INVALID_OPTION')
  t.match(taken.message, /already has "zitadel"/)
  t.match(taken.message, 'openapi.securityScheme', 'says how to resolve it')
})

/** The object Swagger UI's initializer passes to `ui.initOAuth(…)`. */
function initOAuthOf (js: string): Doc {
  const match = /ui\.initOAuth\((\{.*\})\)/.exec(js)
  if (match === null) throw new Error('no ui.initOAuth call in swagger-initializer.js')
  return JSON.parse(match[1] as string)
}

t.test('swaggerUiOptions gives Swagger UI the PKCE login: clientId, PKCE and the scopes', async (t) => {
  const { app } = await docsApp(t)
  const res = await app.inject({ url: '/docs/static/swagger-initializer.js' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], 'javascript')
  t.strictSame(initOAuthOf(res.body), {
    clientId: CLIENT_ID,
    usePkceWithAuthorizationCodeGrant: true,
    scopes: Object.keys(DEFAULT_SCOPES)
  })
  t.match(res.body, 'oauth2RedirectUrl: resolveUrl(\'./static/oauth2-redirect.html\')', 'the redirect URI Swagger UI uses')

  const redirect = await app.inject({ url: '/docs/static/oauth2-redirect.html' })
  t.equal(redirect.statusCode, 200, 'the redirect page to register in Zitadel is served')
  t.match(redirect.headers['content-type'], 'text/html')
  t.match(redirect.body, 'oauth2')

  const page = await app.inject({ url: '/docs' })
  t.equal(page.statusCode, 200, 'the UI itself is public')
})

const THEME_CSS = '/docs/static/theme/fastify-zitadel-auth.css'

t.test('swaggerUiOptions hides Swagger UI\'s client_secret input: the PKCE login is a public client', async (t) => {
  const { app } = await docsApp(t)
  const page = (await app.inject({ url: '/docs' })).body
  t.match(page, `href="${THEME_CSS}"`, 'the page loads the stylesheet')
  const css = await app.inject({ url: THEME_CSS })
  t.equal(css.statusCode, 200)
  t.match(css.headers['content-type'], 'text/css')
  t.match(css.body, '.auth-container .wrapper:has(> label[for="client_secret_authorizationCode"]) { display: none; }',
    'the row of the client_secret input, in the Authorize dialog only')
  t.match((app.swagger() as Doc).components.securitySchemes.zitadel.description, 'no client secret',
    'the dialog says why, where the stylesheet cannot act')
})

t.test('swaggerUiOptions: the stylesheet joins the caller\'s theme, and stays out when there is a secret', async (t) => {
  const theme = deepFreeze({ title: 'My API docs', css: [{ filename: 'mine.css', content: 'body { color: teal; }' }] })
  const { app } = await docsApp(t, { ui: { routePrefix: '/docs', theme } })
  t.strictSame(theme, { title: 'My API docs', css: [{ filename: 'mine.css', content: 'body { color: teal; }' }] }, 'the caller\'s theme is unchanged')
  const page = (await app.inject({ url: '/docs' })).body
  t.match(page, '<title>My API docs</title>', 'the caller\'s theme settings are kept')
  t.ok(page.indexOf('theme/mine.css') > 0 && page.indexOf('theme/mine.css') < page.indexOf(THEME_CSS), 'the caller\'s stylesheet, then ours')
  t.equal((await app.inject({ url: '/docs/static/theme/mine.css' })).body, 'body { color: teal; }')
  t.equal((await app.inject({ url: THEME_CSS })).statusCode, 200)

  const z = app.zitadel
  t.notOk('theme' in z.swaggerUiOptions({ initOAuth: { clientSecret: 'a confidential client' } }), 'a client secret: the input stays')
  t.notOk('theme' in z.swaggerUiOptions({ initOAuth: { usePkceWithAuthorizationCodeGrant: false } }), 'no PKCE: the input stays')
  t.strictSame(z.swaggerUiOptions({ initOAuth: { clientSecret: '' } }).theme?.css?.map((f) => f.filename), ['fastify-zitadel-auth.css'], 'an empty secret is no secret')
  t.strictSame(z.swaggerUiOptions({ theme: { title: 'x' } }).theme, { title: 'x', css: [{ filename: 'fastify-zitadel-auth.css', content: z.swaggerUiOptions().theme?.css?.[0]?.content }] },
    'a theme without css gets ours')
  t.match(thrown(() => z.swaggerUiOptions({ theme: 'dark' })).message, /swaggerUiOptions: "theme" must be an object/)
  t.match(thrown(() => z.swaggerUiOptions({ theme: { css: 'body {}' } })).message, /swaggerUiOptions: "theme.css" must be an array/)

  const secret = await docsApp(t, { ui: { routePrefix: '/docs', initOAuth: { clientSecret: 'shh' } } })
  t.notMatch((await secret.app.inject({ url: '/docs' })).body, 'fastify-zitadel-auth.css', 'no stylesheet when a secret is configured')
})

t.test('the redirect page follows routePrefix', async (t) => {
  const { app } = await docsApp(t, { ui: { routePrefix: '/api-docs' } })
  t.equal((await app.inject({ url: '/api-docs/static/oauth2-redirect.html' })).statusCode, 200)
  t.equal((await app.inject({ url: '/docs/static/oauth2-redirect.html' })).statusCode, 404)
})

t.test('swaggerUiOptions: the caller\'s initOAuth fields win, the argument is not modified', async (t) => {
  const base = deepFreeze({ routePrefix: '/docs', uiConfig: { persistAuthorization: true }, initOAuth: { appName: 'My API', scopes: ['openid'] } })
  const copy = structuredClone(base)
  const { app } = await docsApp(t, { ui: base })
  t.strictSame(base, copy, 'the argument is unchanged')
  const options = app.zitadel.swaggerUiOptions(base)
  t.not(options.initOAuth, base.initOAuth)
  t.equal(options.uiConfig, base.uiConfig, 'other settings are carried over')
  const js = (await app.inject({ url: '/docs/static/swagger-initializer.js' })).body
  t.strictSame(initOAuthOf(js), { clientId: CLIENT_ID, usePkceWithAuthorizationCodeGrant: true, scopes: ['openid'], appName: 'My API' })
  t.strictSame(Object.keys(app.zitadel.swaggerUiOptions()), ['initOAuth', 'theme'], 'no argument: initOAuth and the stylesheet')
})

t.test('swaggerUiOptions without the clientId option is a clear error', async (t) => {
  const issuer = await issuerFor(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: PROJECT_ID, ...FAST })
  const err = thrown(() => app.zitadel.swaggerUiOptions({ routePrefix: '/docs' }))
  t.equal(err.code, 'ZITADEL_AUTH_INVALID_OPTION')
  t.ok(err instanceof TypeError)
  t.match(err.message, '"clientId"')

  const withClient = Fastify()
  t.teardown(() => withClient.close())
  await withClient.register(zitadelAuth, { issuer: issuer.url, projectId: PROJECT_ID, clientId: CLIENT_ID, ...FAST })
  t.match(thrown(() => withClient.zitadel.swaggerUiOptions([] as never)).message, /swaggerUiOptions: the argument must be an options object/)
  t.match(thrown(() => withClient.zitadel.swaggerUiOptions({ initOAuth: 'x' })).message, /"initOAuth" must be an object/)
})

t.test('the openapi option is validated and resolved once', async (t) => {
  const base = { issuer: 'https://my-instance.zitadel.cloud', projectId: PROJECT_ID }
  const resolved = resolveOptions(base).openapi
  t.equal(resolved.securityScheme, 'zitadel')
  t.strictSame(resolved.scopes, DEFAULT_SCOPES)
  t.match(resolved.description, /^Zitadel login \(authorization code with PKCE; .*no client secret\)/, 'the default description')
  t.ok(Object.isFrozen(resolved) && Object.isFrozen(resolved.scopes), 'frozen')

  const scopes = { openid: 'x', 'urn:zitadel:iam:org:project:role:admin': 'Ask for admin' }
  const custom = resolveOptions({ ...base, openapi: { securityScheme: 'my.login-scheme_1', scopes, description: 'Mine' } }).openapi
  t.equal(custom.securityScheme, 'my.login-scheme_1')
  t.equal(custom.description, 'Mine')
  t.strictSame(custom.scopes, scopes)
  t.not(custom.scopes, scopes, 'a copy of the caller\'s scopes')
  t.equal(resolveOptions({ ...base, openapi: { securityScheme: 'x' } }).openapi.scopes[`urn:zitadel:iam:org:project:id:${PROJECT_ID}:aud`],
    DEFAULT_SCOPES[`urn:zitadel:iam:org:project:id:${PROJECT_ID}:aud`], 'scopes default when only the name is given')

  const refused: Array<[unknown, string]> = [
    [5, '"openapi"'],
    [[], '"openapi"'],
    [{ scheme: 'x' }, '"openapi"'],
    [{ securityScheme: '' }, '"openapi.securityScheme"'],
    [{ securityScheme: 'a b' }, '"openapi.securityScheme"'],
    [{ securityScheme: 'a/b' }, '"openapi.securityScheme"'],
    [{ securityScheme: 5 }, '"openapi.securityScheme"'],
    [{ scopes: {} }, '"openapi.scopes"'],
    [{ scopes: ['openid'] }, '"openapi.scopes"'],
    [{ scopes: 'openid' }, '"openapi.scopes"'],
    [{ scopes: { 'two words': 'x' } }, '"openapi.scopes"'],
    [{ scopes: { 'a"b': 'x' } }, '"openapi.scopes"'],
    [{ scopes: { 'a\\b': 'x' } }, '"openapi.scopes"'],
    [{ scopes: { openid: 1 } }, '"openapi.scopes"'],
    [{ description: '' }, '"openapi.description" must be a non-empty string'],
    [{ description: ' \n' }, '"openapi.description" must be a non-empty string'],
    [{ description: 5 }, '"openapi.description" must be a non-empty string'],
    [{ description: ['Log in'] }, '"openapi.description" must be a non-empty string'],
    [{ description: null }, '"openapi.description" must be a non-empty string']
  ]
  for (const [openapi, name] of refused) {
    const err = thrown(() => resolveOptions({ ...base, openapi }))
    t.equal(err.code, 'ZITADEL_AUTH_INVALID_OPTION', `${JSON.stringify(openapi)}: code`)
    t.match(err.message, name, `${JSON.stringify(openapi)}: names ${name}`)
  }
})

t.test('ZitadelErrorResponse is exported and matches the real error body', async (t) => {
  t.strictSame(ZitadelErrorResponse.required, ERROR_FIELDS)
  t.equal(ZitadelErrorResponse.type, 'object')
  const { app } = await docsApp(t, {
    routes: (app) => {
      app.get('/reuse', { preHandler: app.zitadel.requireAuth(), schema: { response: { 401: ZitadelErrorResponse } } }, async () => 'ok')
    }
  })
  const res = await app.inject({ url: '/reuse' })
  t.equal(res.statusCode, 401)
  t.strictSame(res.json(), { statusCode: 401, code: 'ZITADEL_AUTH_TOKEN_MISSING', error: 'Unauthorized', message: 'Authentication required' },
    'serialised through the schema, the body keeps its four fields')
  t.equal(operation(app.swagger() as Doc, '/reuse').responses['401'].description, 'The error body Fastify sends for fastify-zitadel-auth errors',
    'a route that reuses the schema keeps its own 401')
})
