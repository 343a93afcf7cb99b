import swagger from '@fastify/swagger'
import { Validator } from '@seriousme/openapi-schema-validator'
import Fastify from 'fastify'
import t from 'tap'
import zitadelAuth from '../lib/index.js'
import { FAST, issuerFor } from './helpers/app.js'
import { CLIENT_ID } from '../fixtures/issuer.js'

/**
 * How anyOf, requireScopes({ any }) and requireClaim appear in the OpenAPI
 * document: alternatives of the security requirement (OpenAPI 3.0.3
 * §4.7.30: the requirements of the list are alternatives), and the 403
 * description. The document stays valid.
 */

type Doc = Record<string, any>

t.test('composed guards in the OpenAPI document', async (t) => {
  const issuer = await issuerFor(t)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, clientId: CLIENT_ID, ...FAST })
  await app.register(swagger, app.zitadel.swaggerOptions({ openapi: { info: { title: 'My API', version: '1.0.0' } } }))
  const z = app.zitadel
  app.get('/any-scope', { preHandler: z.requireScopes(['read', 'admin'], { any: true }) }, async () => 'ok')
  app.get('/scope-or-role', { preHandler: z.anyOf([z.requireScopes(['reports:read']), z.requireRoles(['auditor'])]) }, async () => 'ok')
  app.get('/and-then-or', { preHandler: [z.requireScopes(['api']), z.anyOf([z.requireScopes(['a']), z.requireScopes(['b', 'c'])])] }, async () => 'ok')
  app.get('/claim', { preHandler: z.requireClaim('email_verified', { equals: true }, { description: 'a verified email' }) }, async () => 'ok')
  app.get('/claim-bare', { preHandler: z.requireClaim('tenant', { equals: 'secret-tenant-id' }) }, async () => 'ok')
  app.get('/auth-or-claim', { preHandler: z.anyOf([z.requireAuth(), z.requireClaim('tier', { equals: 2 })]) }, async () => 'ok')
  app.get('/role-or-anyone', { preHandler: z.anyOf([z.requireRoles(['admin']), z.optionalAuth()]) }, async () => 'ok')
  app.get('/twice', { preHandler: z.anyOf([z.requireScopes(['a', 'b']), z.requireScopes(['b', 'a'])]) }, async () => 'ok')
  app.get('/many', {
    preHandler: [
      z.requireScopes(['a1', 'a2', 'a3', 'a4', 'a5'], { any: true }),
      z.requireScopes(['b1', 'b2', 'b3', 'b4'], { any: true })
    ]
  }, async () => 'ok')
  await app.ready()
  const doc = app.swagger() as Doc
  const op = (path: string) => doc.paths[path].get

  t.strictSame(op('/any-scope').security, [{ zitadel: ['read'] }, { zitadel: ['admin'] }], 'any scope: one alternative per scope')
  t.equal(op('/any-scope').responses['403'].description, 'Requires one of the scopes `read` or `admin` (`ZITADEL_AUTH_SCOPE_REQUIRED`)')
  t.strictSame(op('/scope-or-role').security, [{ zitadel: ['reports:read'] }, { zitadel: [] }], 'a scope, or a role that needs no scope')
  t.equal(op('/scope-or-role').responses['403'].description,
    'Requires one of: the scope `reports:read` (`ZITADEL_AUTH_SCOPE_REQUIRED`); or the Zitadel role `auditor` (`ZITADEL_AUTH_ROLE_REQUIRED`)')
  t.strictSame(op('/and-then-or').security, [{ zitadel: ['api', 'a'] }, { zitadel: ['api', 'b', 'c'] }], 'and, then or: the product')
  t.equal(op('/claim').responses['403'].description, 'Requires the claim `email_verified` (a verified email) (`ZITADEL_AUTH_CLAIM_REQUIRED`)')
  t.equal(op('/claim-bare').responses['403'].description, 'Requires the claim `tenant` (`ZITADEL_AUTH_CLAIM_REQUIRED`)')
  t.notMatch(JSON.stringify(doc), /secret-tenant-id/, 'the value a claim must equal is never published')
  t.equal(op('/auth-or-claim').responses['403'].description, 'Requires one of: a verified token; or the claim `tier` (`ZITADEL_AUTH_CLAIM_REQUIRED`)')
  t.strictSame(op('/many').security, [{ zitadel: [] }], 'more than 16 alternatives: one requirement without scopes')
  t.strictSame(op('/role-or-anyone').security, [{}, { zitadel: [] }], 'anyOf with optionalAuth lets anyone in: the token is optional')
  t.equal(op('/role-or-anyone').responses['403'], undefined, 'and it never answers 403')
  t.match(op('/role-or-anyone').responses['401'].description, /a request without a token is answered as anonymous/)
  t.strictSame(op('/twice').security, [{ zitadel: ['a', 'b'] }], 'the same scopes in another order: one requirement')

  const result = await new Validator().validate(structuredClone(doc) as never)
  t.ok(result.valid, 'the document validates against the OpenAPI 3 schema')
})
