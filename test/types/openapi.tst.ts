import Fastify, { type RouteOptions } from 'fastify'
import swagger, { type FastifyDynamicSwaggerOptions, type SwaggerTransform } from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { Type, type Static } from '@sinclair/typebox'
import { expect, test } from 'tstyche'
import zitadelAuth, {
  ZitadelErrorResponse,
  type GuardRequirement,
  type OpenApiOptions,
  type ResolvedOptions,
  type ZitadelInitOAuth,
  type ZitadelThemeFile
} from 'fastify-zitadel-auth'

const app = Fastify()

test('the openapi option', () => {
  expect(app.register).type.toBeCallableWith(zitadelAuth, { issuer: 'https://x', projectId: '1', openapi: {} })
  expect(app.register).type.toBeCallableWith(zitadelAuth, {
    issuer: 'https://x',
    projectId: '1',
    openapi: { securityScheme: 'login', scopes: { openid: 'Sign in' } }
  })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { issuer: 'https://x', projectId: '1', openapi: { scopes: ['openid'] } })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { issuer: 'https://x', projectId: '1', openapi: { securityScheme: 1 } })
  expect<OpenApiOptions>().type.not.toBeAssignableFrom({ scheme: 'x' })
  expect<ResolvedOptions['openapi']['scopes']>().type.toBe<Readonly<Record<string, string>>>()
  expect<ResolvedOptions['openapi']['securityScheme']>().type.toBe<string>()
})

test('openapi.description: a string, always resolved', () => {
  expect(app.register).type.toBeCallableWith(zitadelAuth, { issuer: 'https://x', projectId: '1', openapi: { description: 'Log in with **ACME**' } })
  expect<OpenApiOptions>().type.toBeAssignableFrom({ description: undefined })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { issuer: 'https://x', projectId: '1', openapi: { description: 5 } })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { issuer: 'https://x', projectId: '1', openapi: { description: ['Log in'] } })
  expect<ResolvedOptions['openapi']['description']>().type.toBe<string>()
  expect(app.zitadel.options.openapi.description).type.toBe<string>()
})

test('swaggerOptions() fits @fastify/swagger', () => {
  expect(app.register).type.toBeCallableWith(swagger, app.zitadel.swaggerOptions())
  expect(app.register).type.toBeCallableWith(swagger, app.zitadel.swaggerOptions({}))
  expect(app.register).type.toBeCallableWith(swagger, app.zitadel.swaggerOptions({ openapi: { info: { title: 'My API', version: '1.0.0' } } }))
  expect(app.register).type.toBeCallableWith(swagger, app.zitadel.swaggerOptions({
    mode: 'dynamic',
    hideUntagged: true,
    openapi: {
      openapi: '3.1.0',
      info: { title: 'My API', version: '1.0.0' },
      tags: [{ name: 'users' }],
      servers: [{ url: 'http://localhost:8001' }],
      components: { securitySchemes: { apiKey: { type: 'apiKey', name: 'x-key', in: 'header' } } }
    }
  }))
  const typed: FastifyDynamicSwaggerOptions = { openapi: { info: { title: 'My API', version: '1.0.0' } }, exposeHeadRoutes: false }
  expect(app.register).type.toBeCallableWith(swagger, app.zitadel.swaggerOptions(typed))
  const mine: SwaggerTransform = ({ schema, url }) => ({ schema, url: url.toLowerCase() })
  expect(app.register).type.toBeCallableWith(swagger, app.zitadel.swaggerOptions({ transform: mine }))
  expect(app.register).type.toBeCallableWith(swagger, app.zitadel.swaggerOptions({ transform: ({ schema, url }) => ({ schema, url }) }))
  // In a real call the inline transform gets @fastify/swagger's own parameter types.
  app.register(swagger, app.zitadel.swaggerOptions({
    transform: ({ schema, url, route }) => {
      expect(route).type.toBe<RouteOptions>()
      return { schema, url }
    }
  }))
})

test('swaggerOptions() keeps the caller\'s types', () => {
  const options = app.zitadel.swaggerOptions({ openapi: { info: { title: 'My API', version: '1.0.0' } }, hideUntagged: true })
  expect(options.openapi.info.title).type.toBe<string>()
  expect(options.hideUntagged).type.toBe<boolean>()
  expect(options.transform).type.toBeCallableWith({ schema: {}, url: '/x', route: { url: '/x', method: 'GET' } })
  // A mistake in the caller's part still shows when it is registered.
  expect(app.register).type.not.toBeCallableWith(swagger, app.zitadel.swaggerOptions({ openapi: { info: 5 } }))
  expect(app.register).type.not.toBeCallableWith(swagger, app.zitadel.swaggerOptions({ hideUntagged: 'yes' }))
})

test('swaggerOptions() takes an options object', () => {
  expect(app.zitadel.swaggerOptions).type.not.toBeCallableWith('openapi')
  expect(app.zitadel.swaggerOptions).type.not.toBeCallableWith(5)
  expect(app.zitadel.swaggerOptions).type.not.toBeCallableWith({ transform: 'upper' })
  expect(app.zitadel.swaggerOptions).type.not.toBeCallableWith(null)
})

test('swaggerUiOptions() fits @fastify/swagger-ui', () => {
  expect(app.register).type.toBeCallableWith(swaggerUi, app.zitadel.swaggerUiOptions())
  expect(app.register).type.toBeCallableWith(swaggerUi, app.zitadel.swaggerUiOptions({ routePrefix: '/docs' }))
  expect(app.register).type.toBeCallableWith(swaggerUi, app.zitadel.swaggerUiOptions({
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', persistAuthorization: true },
    initOAuth: { appName: 'My API', scopes: 'openid profile' }
  }))
  expect(app.zitadel.swaggerUiOptions().initOAuth).type.toBe<ZitadelInitOAuth>()
  expect(app.zitadel.swaggerUiOptions({ routePrefix: '/docs' }).routePrefix).type.toBe<string>()
  expect(app.zitadel.swaggerUiOptions({ initOAuth: { scopes: 'openid' } }).initOAuth.scopes).type.toBe<string>()
  expect(app.zitadel.swaggerUiOptions({ initOAuth: { appName: 'x' } }).initOAuth.clientId).type.toBe<string>()
  expect(app.register).type.not.toBeCallableWith(swaggerUi, app.zitadel.swaggerUiOptions({ routePrefix: 5 }))
  expect(app.register).type.not.toBeCallableWith(swaggerUi, app.zitadel.swaggerUiOptions({ initOAuth: { usePkceWithAuthorizationCodeGrant: 'yes' } }))
  expect(app.zitadel.swaggerUiOptions).type.not.toBeCallableWith('/docs')
})

test('swaggerUiOptions() adds its stylesheet to the caller\'s theme', () => {
  expect(app.zitadel.swaggerUiOptions().theme?.css).type.toBe<ZitadelThemeFile[] | undefined>()
  const theme = { title: 'My API', css: [{ filename: 'mine.css', content: 'body {}' }] }
  expect(app.register).type.toBeCallableWith(swaggerUi, app.zitadel.swaggerUiOptions({ routePrefix: '/docs', theme }))
  expect(app.zitadel.swaggerUiOptions({ theme }).theme.title).type.toBe<string>()
  expect(app.register).type.not.toBeCallableWith(swaggerUi, app.zitadel.swaggerUiOptions({ theme: { css: 'body {}' } }))
})

test('GuardRequirement: what the transform reads from a guard', () => {
  expect<GuardRequirement['kind']>().type.toBe<'auth' | 'optional' | 'roles' | 'scopes' | 'claim' | 'anyOf'>()
  expect<{ kind: 'optional' }>().type.toBeAssignableTo<GuardRequirement>()
  expect<{ kind: 'anonymous' }>().type.not.toBeAssignableTo<GuardRequirement>()
})

test('ZitadelErrorResponse is a TypeBox schema of the error body', () => {
  expect<Static<typeof ZitadelErrorResponse>>().type.toBe<{ statusCode: number, code: string, error: string, message: string }>()
  app.get('/x', { schema: { response: { 401: ZitadelErrorResponse, 403: Type.Ref(ZitadelErrorResponse) } } }, async () => 'ok')
})
