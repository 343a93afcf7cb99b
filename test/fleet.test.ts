import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import zitadelAuth, { DIAGNOSTICS_CHANNELS, zitadelEvents, type RevocationMessage } from '../lib/index.js'
import { FAST, bearer } from './helpers/app.js'
import { hasRedisServer, startRedis, REDIS_SERVER, type TestRedis } from './helpers/redis.js'
import { ROLES_SCOPE, addTenant, audScope, codeFlow, startIdp } from './emulator/helpers.js'

/**
 * A fleet: three API instances, one emulator, one real redis-server. One
 * introspection call per token across the fleet; a user deactivated in
 * Zitadel is refused on every instance within a second; a forged event
 * changes nothing; Redis going away causes no 5xx and loses no revocation.
 */

const KEY = 'fleet-signing-key-0123456789abcdefgh'

if (!hasRedisServer()) {
  if (process.env.REQUIRE_REDIS === '1') t.fail(`Redis test required (REQUIRE_REDIS=1) but ${REDIS_SERVER} is not installed`)
  else t.test('a fleet of three instances on Redis', { skip: `Redis test SKIPPED: ${REDIS_SERVER} not found (apt-get install redis-server, or set REDIS_SERVER_PATH)` }, async () => {})
} else {
  t.test('a fleet of three instances on Redis', async (t) => {
    const redis = await startRedis()
    t.teardown(() => redis.stop())
    const idp = await startIdp()
    t.teardown(() => idp.close())
    const tenant = addTenant(idp)
    const backend = idp.addApiApp({ projectId: tenant.projectId, name: 'backend' })
    const fleet = await Promise.all([0, 1, 2].map(async (i) => instance(t, redis, i === 0)))
    const eventsUrl = `${await fleet[0]!.listen({ port: 0, host: '127.0.0.1' })}/zitadel/events`
    idp.addEventTarget({ url: eventsUrl, events: ['user.*'], signingKey: KEY })
    // One instance after the other, as a load balancer would spread a client's requests.
    const everywhere = async (token: string) => {
      const answers: Array<number | string> = []
      for (const api of fleet) {
        const res = await api.inject({ url: '/me', headers: bearer(token) })
        answers.push(res.statusCode === 200 ? 200 : `${res.statusCode} ${res.json().code as string}`)
      }
      return answers
    }

    async function instance (t: Test, redis: TestRedis, events: boolean, extra: Record<string, unknown> = {}): Promise<FastifyInstance> {
      const client = new Redis(redis.url, { maxRetriesPerRequest: 1 })
      // The app's own client: its errors are the app's to log (ioredis prints them when no one listens).
      client.on('error', () => {})
      const api = Fastify()
      t.teardown(async () => {
        await api.close()
        client.disconnect()
      })
      await api.register(zitadelAuth, {
        ...FAST,
        issuer: idp.issuer,
        projectId: tenant.projectId,
        introspection: { clientId: backend.clientId, clientSecret: backend.clientSecret, cacheMaxAge: 300 },
        redis: client,
        ...extra
      })
      if (events) await api.register(zitadelEvents, { signingKey: KEY })
      api.get('/me', { preHandler: api.zitadel.requireRoles(['user']) }, async (req) => ({ sub: req.zitadelUser?.sub }))
      await api.ready()
      return api
    }

    await t.test('closing an app leaves the app\'s Redis client as it was', async (t) => {
      const client = new Redis(redis.url)
      t.teardown(() => { client.disconnect() })
      await client.ping()
      const listeners = client.listenerCount('ready')
      const api = Fastify()
      await api.register(zitadelAuth, { ...FAST, issuer: idp.issuer, projectId: tenant.projectId, redis: client })
      await api.ready()
      t.equal(client.listenerCount('ready'), listeners + 1, 'the plugin listens while the app runs')
      await api.close()
      t.equal(client.listenerCount('ready'), listeners, 'and no longer once it is closed')
      t.equal(client.status, 'ready', 'and open: it is the app\'s')
    })

    await t.test('one introspection call per token across the fleet', async (t) => {
      const opaque = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, roles: true, type: 'opaque' })
      idp.resetRequests()
      t.same(await everywhere(opaque), [200, 200, 200])
      t.same(await everywhere(opaque), [200, 200, 200])
      t.equal(idp.requests.introspect, 1, 'the other instances took the answer from Redis')
    })

    const scope = `openid ${audScope(tenant.projectId)} ${ROLES_SCOPE}`
    const alice = (await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw', { scope })).access_token
    const bob = (await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', { scope })).access_token

    await t.test('a deactivated user is refused on every instance; a forged event changes nothing', async (t) => {
      t.same(await everywhere(alice), [200, 200, 200], 'accepted and cached everywhere')
      const forged = await fetch(eventsUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'zitadel-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(64)}` },
        body: JSON.stringify({ aggregateID: tenant.bob.id, aggregateType: 'user', event_type: 'user.deactivated', created_at: new Date().toISOString() })
      })
      t.equal(forged.status, 401)
      const learnt = revocationsFrom('store', 2)
      const deliveries = await idp.deactivateUser(tenant.alice.id)
      t.same(deliveries.map((d) => d.status), [200], 'the event reached one instance')
      await learnt
      t.same(await everywhere(alice), Array(3).fill('401 ZITADEL_AUTH_TOKEN_REVOKED'), 'the other two learnt it through Redis')
      t.same(await everywhere(bob), [200, 200, 200], 'other users pass')
    })

    await t.test('Redis away: no 5xx, and no revocation lost once it is back', async (t) => {
      const opaque = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, roles: true, type: 'opaque' })
      await redis.stop()
      const startedWithout = await instance(t, redis, false)
      t.same(await everywhere(opaque), [200, 200, 200], 'introspection without the shared cache')
      await fleet[1]!.zitadel.revokeSubject(tenant.bob.id)
      const during = await everywhere(bob)
      t.equal(during[1], '401 ZITADEL_AUTH_TOKEN_REVOKED', 'in effect at once where it was made')
      t.ok(during.every((s) => s === 200 || s === '401 ZITADEL_AUTH_TOKEN_REVOKED'), 'no 5xx')

      const revokedEverywhere = async () => (await everywhere(bob)).every((s) => s === '401 ZITADEL_AUTH_TOKEN_REVOKED') &&
        (await startedWithout.inject({ url: '/me', headers: bearer(bob) })).statusCode === 401
      const learnt = afterRevocations(revokedEverywhere)
      await redis.start()
      await learnt
      t.same(await everywhere(bob), Array(3).fill('401 ZITADEL_AUTH_TOKEN_REVOKED'), 'written and shared once Redis is back')
      t.equal((await startedWithout.inject({ url: '/me', headers: bearer(bob) })).json().code, 'ZITADEL_AUTH_TOKEN_REVOKED', 'also by an instance that started while Redis was away')
      const carol = idp.addUser({ username: 'carol', password: 'carol-pw', orgId: tenant.orgId, grants: [{ projectId: tenant.projectId, roles: ['user'] }] })
      const carolToken = await idp.mintAccessToken({ userId: carol.id, clientId: tenant.clientId, roles: true })
      const refusesCarol = async () => (await startedWithout.inject({ url: '/me', headers: bearer(carolToken) })).statusCode === 401
      t.equal(await refusesCarol(), false)
      const heard = afterRevocations(refusesCarol)
      await fleet[0]!.zitadel.revokeSubject(carol.id)
      await heard
      t.pass('and it listens now: it learnt a later revocation made elsewhere')
      t.same(await everywhere(alice), Array(3).fill('401 ZITADEL_AUTH_TOKEN_REVOKED'), 'the earlier revocation holds')

      // What any client may have written there: taken for nothing, and nothing breaks.
      const writer = new Redis(redis.url)
      writer.on('error', () => {})
      t.teardown(() => { writer.disconnect() })
      const junk = ['not json', '[]', '{"kind":"subject","sub":"x","until":"soon"}', '{"kind":"subject","sub":"","before":1,"until":9e12}', '{"kind":"token","digest":"","until":9e12}', '{"kind":"tokenId","jti":7,"until":9e12}', '{"kind":"other","until":9e12}']
      for (const member of junk) {
        await writer.zadd('fastify-zitadel-auth:revocations', 9e12, member)
        await writer.publish('fastify-zitadel-auth:revocations', member)
      }
      await writer.publish('fastify-zitadel-auth:something-else', '{}')
      // Alice's, bob's and carol's: the list loaded.
      const loaded = revocationsFrom('store', 3)
      const late = await instance(t, redis, false)
      await loaded
      t.equal((await late.inject({ url: '/me', headers: bearer(alice) })).json().code, 'ZITADEL_AUTH_TOKEN_REVOKED',
        'an instance that starts later loads the list, though Redis lost it in the restart: the others wrote theirs back')
      await idp.reactivateUser(tenant.alice.id)
      const later = await idp.mintAccessToken({ userId: tenant.alice.id, clientId: tenant.clientId, roles: true, claims: { iat: Math.floor(Date.now() / 1000) + 2 } })
      t.same(await everywhere(later), [200, 200, 200], 'and nothing more: alice, let back in, passes with a token issued since')
      t.equal((await late.inject({ url: '/me', headers: bearer(later) })).statusCode, 200, 'the junk revoked nothing')
    })
  })
}

/** Resolves once `holds()` does: checked now and after each revocation put in effect (by any instance of this process). */
function afterRevocations (holds: () => Promise<boolean>): Promise<void> {
  return new Promise((resolve) => {
    let done = false
    const check = async () => {
      if (done || !await holds()) return
      done = true
      unsubscribe(DIAGNOSTICS_CHANNELS.revocation, listener)
      resolve()
    }
    const listener = () => { check().catch(() => {}) }
    subscribe(DIAGNOSTICS_CHANNELS.revocation, listener)
    check().catch(() => {})
  })
}

/** Resolves once `count` revocations from `source` were put in effect (by any instance of this process). */
function revocationsFrom (source: RevocationMessage['source'], count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0
    const listener = (message: unknown) => {
      if ((message as RevocationMessage).source === source && ++seen === count) {
        unsubscribe(DIAGNOSTICS_CHANNELS.revocation, listener)
        resolve()
      }
    }
    subscribe(DIAGNOSTICS_CHANNELS.revocation, listener)
  })
}
