import Fastify from 'fastify'
import { expect, test } from 'tstyche'
import zitadelAuth, { type ResolvedOptions, type ZitadelMultiTenantOptions, type ZitadelStatus, type ZitadelTenantStatus } from 'fastify-zitadel-auth'

const app = Fastify()
const eu = { name: 'eu', issuer: 'https://eu.zitadel.cloud', projectId: '1' }
const us = { name: 'us', issuer: 'https://us.zitadel.cloud', projectId: '2', introspection: { clientId: 'api', clientSecret: 's' } }

test('register takes tenants, with the shared options beside them', () => {
  expect(app.register).type.toBeCallableWith(zitadelAuth, { tenants: [eu, us], jwksCooldown: 5, realm: 'api' })
  expect<ZitadelMultiTenantOptions>().type.toBeAssignableFrom({ tenants: [eu, { ...us, openapi: { securityScheme: 'us' } }] })
  const fixed = [eu, { name: 'us', issuer: ['https://us.zitadel.cloud', 'https://auth.us.example.com'], projectId: '2', audience: ['2', 'api'] }] as const
  expect(app.register).type.toBeCallableWith(zitadelAuth, { tenants: fixed })
})

test('an issuer option is not also at the top level, and a tenant has a name and an issuer', () => {
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { tenants: [eu, us], issuer: 'https://x.zitadel.cloud' })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { tenants: [eu, us], projectId: '1', issuer: 'https://x.zitadel.cloud' })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { tenants: [{ issuer: 'https://x', projectId: '1' }] })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { tenants: [{ name: 'x', projectId: '1' }] })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { tenants: [{ ...eu, jwksCooldown: 5 }] })
})

test('the tenant on the user, the guards and the status', () => {
  app.get('/', { preHandler: app.zitadel.requireRoles(['admin'], { tenant: ['eu', 'us'] }) }, async (req) => {
    expect(req.zitadelUser?.tenant).type.toBe<string | undefined>()
  })
  expect(app.zitadel.requireAuth).type.toBeCallableWith({ tenant: 'eu' })
  expect(app.zitadel.requireAuth).type.not.toBeCallableWith({ tenant: 1 })
  expect(app.zitadel.tenants).type.toBe<readonly ResolvedOptions[]>()
  expect(app.zitadel.options.tenant).type.toBe<string | undefined>()
  expect(app.zitadel.status().tenants).type.toBe<Readonly<Record<string, ZitadelTenantStatus>> | undefined>()
  expect<ZitadelStatus>().type.toBeAssignableTo<ZitadelTenantStatus>()
})
