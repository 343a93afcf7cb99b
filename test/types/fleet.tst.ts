import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { expect, test } from 'tstyche'
import zitadelAuth, { zitadelEvents, type RedisClient, type RevocationMessage } from 'fastify-zitadel-auth'

const app = Fastify()

test('an ioredis client is the redis option', () => {
  expect<RedisClient>().type.toBeAssignableFrom(new Redis())
  expect(app.register).type.toBeCallableWith(zitadelAuth, { issuer: 'https://x.zitadel.cloud', projectId: '1', redis: new Redis(), redisNamespace: 'api:' })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { issuer: 'https://x.zitadel.cloud', projectId: '1', redis: 'redis://localhost' })
})

test('revocation', async () => {
  expect(app.zitadel.revokeSubject('263785111111111111', { before: new Date() })).type.toBe<Promise<void>>()
  expect(app.zitadel.revokeToken).type.toBeCallableWith('a.b.c')
  expect(app.zitadel.revokeTokenId).type.toBeCallableWith('V2_1-at_2')
  expect(app.zitadel.revokeSubject).type.not.toBeCallableWith('u', { before: 5 })
  expect(app.register).type.toBeCallableWith(zitadelAuth, { issuer: 'https://x.zitadel.cloud', projectId: '1', revocation: { maxTokenLifetime: 86400 } })
  expect<RevocationMessage['source']>().type.toBe<'api' | 'event' | 'store'>()
})

test('the events route', () => {
  expect(app.register).type.toBeCallableWith(zitadelEvents, { signingKey: 'k' })
  expect(app.register).type.toBeCallableWith(zitadelEvents, { signingKey: ['old', 'new'], path: '/hooks/zitadel', maxAge: 60 })
  expect(app.register).type.not.toBeCallableWith(zitadelEvents, { path: '/hooks/zitadel' })
})
