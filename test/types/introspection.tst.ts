import Fastify from 'fastify'
import { expect, test } from 'tstyche'
import zitadelAuth, { type ApplicationKeyFile, type IntrospectionOptions, type ResolvedIntrospection } from '../../lib/index.js'

const app = Fastify()
const base = { issuer: 'https://x', projectId: '1' }
const keyFile: ApplicationKeyFile = { type: 'application', keyId: 'k', key: '-----BEGIN RSA PRIVATE KEY-----', clientId: 'c', appId: 'a' }

test('the introspection option', () => {
  expect(app.register).type.toBeCallableWith(zitadelAuth, { ...base, introspection: { keyFile } })
  expect(app.register).type.toBeCallableWith(zitadelAuth, { ...base, introspection: { keyFile: '{"type":"application"}' } })
  expect(app.register).type.toBeCallableWith(zitadelAuth, { ...base, introspection: { clientId: 'c', clientSecret: 's', tokens: 'all', cacheMaxAge: 30, cacheSize: 100 } })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { ...base, introspection: { keyFile, tokens: 'some' } })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { ...base, introspection: { keyFile: { ...keyFile, type: 'serviceaccount' } } })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { ...base, introspection: { keyFile, cacheMaxAge: '60' } })
  expect<IntrospectionOptions['tokens']>().type.toBe<'opaque' | 'all' | undefined>()
})

test('fastify.zitadel.options.introspection shows no secret or key', () => {
  expect(app.zitadel.options.introspection).type.toBe<ResolvedIntrospection | undefined>()
  expect<keyof ResolvedIntrospection>().type.toBe<'clientId' | 'authMethod' | 'keyId' | 'tokens' | 'cacheMaxAge' | 'cacheSize'>()
})
