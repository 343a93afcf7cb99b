import { createHash, createHmac } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import zitadelAuth, { zitadelEvents, type ZitadelAuthOptions } from '../lib/index.js'
import { FAST, bearer, type TestOptions } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'
import { hasRedisServer, startRedis, REDIS_SERVER, type TestRedis } from './helpers/redis.js'
import { addTenant, startIdp, type Tenant } from './emulator/helpers.js'
import type { ZitadelEmulator } from '../lib/testing/index.js'

/**
 * What Redis must not be able to do, and what a slow Redis must not cost:
 * whoever can write to Redis cannot log anyone in, nor lock anyone out for
 * good; a write that timed out is retried; a grant learnt by one instance
 * serves another.
 */

const KEY = 'fleet-signing-key-0123456789abcdefgh'
const NS = 'fastify-zitadel-auth:'
const digest = (token: string) => createHash('sha256').update(token).digest('base64url')

if (!hasRedisServer()) {
  if (process.env.REQUIRE_REDIS === '1') t.fail(`Redis test required (REQUIRE_REDIS=1) but ${REDIS_SERVER} is not installed`)
  else t.test('Redis hardening', { skip: `Redis test SKIPPED: ${REDIS_SERVER} not found (apt-get install redis-server)` }, async () => {})
} else {
  const redis = await startRedis()
  t.teardown(() => redis.stop())
  const idp = await startIdp()
  t.teardown(() => idp.close())
  const admin = new Redis(redis.url)
  t.teardown(() => { admin.disconnect() })

  t.test('a forged or moved introspection answer in Redis lets nobody in', async (t) => {
    const tenant = addTenant(idp)
    const backend = idp.addApiApp({ projectId: tenant.projectId, name: 'backend' })
    const api = await instance(t, redis, idp, tenant, { introspection: { clientId: backend.clientId, clientSecret: backend.clientSecret } })
    const now = Math.floor(Date.now() / 1000)
    const made = 'made-up-opaque-token-of-some-length-0123456789'
    const claims = { active: true, iss: idp.issuer, aud: [tenant.projectId], sub: tenant.alice.id, iat: now, exp: now + 3600, [`urn:zitadel:iam:org:project:${tenant.projectId}:roles`]: { user: { [tenant.orgId]: tenant.orgDomain } } }
    await admin.set(`${NS}introspection:${digest(made)}`, JSON.stringify({ claims, until: now + 300 }))
    await admin.set(`${NS}introspection:${digest(made)}x`, JSON.stringify({ v: JSON.stringify({ claims, until: now + 300 }), m: 'AAAA' }))
    const forged = await api.inject({ url: '/me', headers: bearer(made) })
    t.equal(forged.statusCode, 401, 'an unsealed answer is ignored: Zitadel is asked, and knows no such token')
    t.equal(forged.json().code, 'ZITADEL_AUTH_TOKEN_INACTIVE')

    const real = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, roles: true, type: 'opaque' })
    t.equal((await api.inject({ url: '/me', headers: bearer(real) })).statusCode, 200)
    const sealed = await admin.get(`${NS}introspection:${digest(real)}`)
    t.ok(sealed !== null && !sealed.includes(real), 'stored sealed, by digest, without the token')
    const other = 'another-made-up-opaque-token-0123456789abcdef'
    await admin.set(`${NS}introspection:${digest(other)}`, sealed as string)
    t.equal((await api.inject({ url: '/me', headers: bearer(other) })).json().code, 'ZITADEL_AUTH_TOKEN_INACTIVE', 'a sealed answer moved to another token key is refused')
  })

  t.test('a revocation in Redis that no instance could have made is not taken', async (t) => {
    const tenant = addTenant(idp)
    const api = await instance(t, redis, idp, tenant, { revocation: { maxTokenLifetime: 600 } })
    const token = await idp.mintAccessToken({ userId: tenant.alice.id, clientId: tenant.clientId, roles: true })
    const now = Date.now() / 1000
    const forever = [
      { kind: 'subject', sub: tenant.alice.id, before: 9e12, until: 9e12 },
      { kind: 'subject', sub: tenant.alice.id, before: now, until: now + 86400 },
      { kind: 'tokenId', jti: 'some-id', until: 9e12 }
    ]
    for (const entry of forever) {
      await admin.zadd(`${NS}revocations`, entry.until, JSON.stringify(entry))
      await admin.publish(`${NS}revocations`, JSON.stringify(entry))
    }
    // A plausible one, last: once it is in, the others have been read.
    const real = { kind: 'subject', sub: tenant.bob.id, before: now, until: now + 600 }
    await admin.publish(`${NS}revocations`, JSON.stringify(real))
    const bob = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, roles: true, claims: { iat: Math.floor(now) - 1 } })
    t.ok(await waitFor(async () => (await api.inject({ url: '/me', headers: bearer(bob) })).statusCode === 401), 'a plausible one is taken')
    t.equal((await api.inject({ url: '/me', headers: bearer(token) })).statusCode, 200, 'entries dated in the future or longer than the longest token lifetime are not')
    await admin.del(`${NS}revocations`)
  })

  t.test('a revocation whose write timed out is written on a retry, and reaches the other instances', async (t) => {
    const tenant = addTenant(idp)
    const clock = new FakeClock()
    const a = await instance(t, redis, idp, tenant, { [kClock]: clock })
    const b = await instance(t, redis, idp, tenant)
    const token = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, roles: true })
    t.equal((await b.inject({ url: '/me', headers: bearer(token) })).statusCode, 200)
    await admin.call('CLIENT', 'PAUSE', '10000', 'WRITE')
    await a.zitadel.revokeSubject(tenant.bob.id)
    t.equal((await a.inject({ url: '/me', headers: bearer(token) })).statusCode, 401, 'in effect where it was made, though Redis did not answer')
    t.equal((await b.inject({ url: '/me', headers: bearer(token) })).statusCode, 200, 'not yet elsewhere')
    await admin.call('CLIENT', 'UNPAUSE')
    await clock.advance(2000)
    t.ok(await waitFor(async () => (await b.inject({ url: '/me', headers: bearer(token) })).statusCode === 401), 'the retry wrote and published it')
  })

  t.test('a grant learnt by one instance serves an event that reaches another', async (t) => {
    const tenant = addTenant(idp)
    const a = await instance(t, redis, idp, tenant, {}, true)
    const b = await instance(t, redis, idp, tenant, {}, true)
    const token = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, roles: true })
    const post = (api: FastifyInstance, event: Record<string, unknown>) => {
      const body = JSON.stringify({ aggregateType: 'usergrant', created_at: new Date().toISOString(), ...event })
      const ts = Math.floor(Date.now() / 1000)
      return api.inject({ method: 'POST', url: '/zitadel/events', headers: { 'content-type': 'application/json', 'zitadel-signature': `t=${ts},v1=${createHmac('sha256', KEY).update(`${ts}.${body}`).digest('hex')}` }, payload: body })
    }
    t.equal((await post(a, { aggregateID: 'grant-77', event_type: 'user.grant.added', event_payload: { userId: tenant.bob.id, projectId: tenant.projectId, roleKeys: ['user'] } })).statusCode, 200)
    t.equal((await post(b, { aggregateID: 'grant-77', event_type: 'user.grant.removed' })).statusCode, 200)
    t.equal((await b.inject({ url: '/me', headers: bearer(token) })).json().code, 'ZITADEL_AUTH_TOKEN_REVOKED', 'b knew whose grant it was')
    t.equal(await admin.get(`${NS}grant:grant-77`), null, 'a removed grant is forgotten')
  })
}

/** An API instance on `redis`, with `extra` options, and the events route when `events`. */
async function instance (t: Test, redis: TestRedis, idp: ZitadelEmulator, tenant: Tenant, extra: TestOptions = {}, events = false): Promise<FastifyInstance> {
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 })
  client.on('error', () => {})
  await client.ping()
  const api = Fastify()
  t.teardown(async () => { await api.close(); client.disconnect() })
  await api.register(zitadelAuth, { ...FAST, issuer: idp.issuer, projectId: tenant.projectId, redis: client, ...extra } as ZitadelAuthOptions)
  if (events) await api.register(zitadelEvents, { signingKey: KEY })
  api.get('/me', { preHandler: api.zitadel.requireRoles(['user']) }, async (req) => ({ sub: req.zitadelUser?.sub }))
  await api.ready()
  return api
}

/** True once `holds()` is, asked again on each turn of the event loop, at most 2 000 times: pub/sub delivery takes a few turns. */
async function waitFor (holds: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 2000; i++) {
    if (await holds()) return true
    await new Promise((resolve) => setImmediate(resolve))
  }
  return false
}
