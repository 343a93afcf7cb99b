import { createHmac } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import zitadelAuth, { zitadelEvents, type ZitadelAuthOptions } from '../lib/index.js'
import { validEventSignature } from '../lib/event-signature.js'
import { actionFor, readEvent } from '../lib/event-revocations.js'
import type { ZitadelEmulator } from '../lib/testing/index.js'
import { FAST, bearer, type TestOptions } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'
import { ROLES_SCOPE, addTenant, audScope, codeFlow, startIdp, type Tenant } from './emulator/helpers.js'
import { startReceiver } from './emulator/receiver.js'

/**
 * The zitadelEvents route: Zitadel's Actions v2 events, signed, from the
 * emulator over real HTTP, revoke the tokens they make invalid.
 */

const KEY = 'k'.repeat(36)
const sign = (body: string, key = KEY, t = Math.floor(Date.now() / 1000)) => `t=${t},v1=${createHmac('sha256', key).update(`${t}.${body}`).digest('hex')}`

t.test('the signature: HMAC-SHA256 of "t." and the exact body, any of the keys, t within maxAge', async (t) => {
  const body = Buffer.from('{"a":1}')
  const now = 1_800_000_000
  t.ok(validEventSignature(sign('{"a":1}', KEY, now), body, [KEY], now, 300))
  t.ok(validEventSignature(sign('{"a":1}', KEY, now - 300), body, ['other-key-of-some-length', KEY], now, 300), 'the second key, at the edge of maxAge')
  t.ok(validEventSignature(`t=${now},v1=${'0'.repeat(64)},${sign('{"a":1}', KEY, now).split(',')[1] as string},v0=zz`, body, [KEY], now, 300), 'any v1 entry; other schemes ignored')
  const refused: Array<[string, unknown]> = [
    ['another key', sign('{"a":1}', 'x'.repeat(36), now)],
    ['another body', sign('{"a":2}', KEY, now)],
    ['too old', sign('{"a":1}', KEY, now - 301)],
    ['too far ahead', sign('{"a":1}', KEY, now + 301)],
    ['no t', sign('{"a":1}', KEY, now).split(',')[1]],
    ['no v1', `t=${now}`],
    ['v1 not hex', `t=${now},v1=${'g'.repeat(64)}`],
    ['v1 too short', `t=${now},v1=abcd`],
    ['t not a number', `t=soon,${sign('{"a":1}', KEY, now).split(',')[1] as string}`],
    ['no header', undefined],
    ['a list of headers', ['a', 'b']],
    ['a huge header', `t=${now},${'v1=x,'.repeat(300)}`]
  ]
  for (const [what, header] of refused) t.notOk(validEventSignature(header, body, [KEY], now, 300), what)
})

t.test('events to revocations', async (t) => {
  const at = '2026-12-05T10:00:00.123456Z'
  const before = Date.parse(at) / 1000
  const event = (type: string, extra: Record<string, unknown> = {}) => readEvent({ aggregateID: 'agg-1', aggregateType: 'user', event_type: type, created_at: at, ...extra })!
  for (const type of ['user.deactivated', 'user.locked', 'user.removed']) {
    t.strictSame(actionFor(event(type), 100, undefined), { kind: 'revoke', revocation: { kind: 'subject', sub: 'agg-1', before, until: before + 100 } }, type)
  }
  t.strictSame(actionFor(event('user.pat.removed', { event_payload: { tokenId: 'tok-1' } }), 100, undefined), { kind: 'revoke', revocation: { kind: 'tokenId', jti: 'tok-1', until: before + 100 } })
  const base64 = Buffer.from(JSON.stringify({ tokenId: 'tok-2' })).toString('base64')
  t.match(actionFor(event('user.token.removed', { event_payload: base64 }), 100, undefined), { revocation: { jti: 'tok-2' } }, 'a payload in base64, as older versions send it')
  t.strictSame(actionFor(event('user.pat.removed', { event_payload: '!!' }), 100, undefined), { kind: 'ignore' }, 'a payload that is neither')
  t.strictSame(actionFor(event('user.pat.removed'), 100, undefined), { kind: 'ignore' }, 'no tokenId')
  t.strictSame(actionFor(event('user.grant.added', { event_payload: { userId: 'u-9', projectId: 'p' } }), 100, undefined), { kind: 'grant', grantId: 'agg-1', userId: 'u-9' })
  t.strictSame(actionFor(event('user.grant.added', { event_payload: {} }), 100, undefined), { kind: 'ignore' })
  t.match(actionFor(event('user.grant.removed'), 100, 'u-9'), { revocation: { kind: 'subject', sub: 'u-9' }, forgetGrant: 'agg-1' })
  t.strictSame(actionFor(event('user.grant.changed'), 100, undefined), { kind: 'unknown-grant', grantId: 'agg-1' })
  t.strictSame(actionFor(event('user.grant.changed'), 100, 'u-9'), { kind: 'revoke', revocation: { kind: 'subject', sub: 'u-9', before, until: before + 100 } }, 'a changed grant stays known')
  t.strictSame(actionFor(event('user.reactivated'), 100, undefined), { kind: 'ignore' })
  t.strictSame(actionFor(event('user.locked', { created_at: 'yesterday' }), 100, undefined), { kind: 'ignore' }, 'a time that is no time')
  t.equal(readEvent({ aggregateID: 1, aggregateType: 'user', event_type: 'x', created_at: at }), undefined)
  t.equal(readEvent([]), undefined)
})

/** An API with the plugin and the events route, listening on 127.0.0.1, for `tenant` of `idp`. */
async function apiFor (t: Test, idp: ZitadelEmulator, tenant: Tenant, clock = new FakeClock()): Promise<{ api: FastifyInstance, url: string }> {
  const api = Fastify()
  await api.register(zitadelAuth, { issuer: idp.issuer, projectId: tenant.projectId, ...FAST, [kClock]: clock } as TestOptions as ZitadelAuthOptions)
  await api.register(zitadelEvents, { signingKey: [KEY, 'x'.repeat(36)] })
  api.get('/me', { preHandler: api.zitadel.requireRoles(['user']) }, async (req) => ({ sub: req.zitadelUser?.sub }))
  const address = await api.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => api.close())
  return { api, url: `${address}/zitadel/events` }
}

t.test('end to end: a deactivated user\'s token is refused at once, other users\' pass; a new login after reactivation passes', async (t) => {
  const idp = await startIdp()
  t.teardown(() => idp.close())
  const clock = new FakeClock()
  const tenant = addTenant(idp)
  const { api, url } = await apiFor(t, idp, tenant, clock)
  idp.addEventTarget({ url, events: ['user.*'], signingKey: KEY })
  const recorder = await startReceiver()
  t.teardown(() => recorder.close())
  // The same condition as the API's: Zitadel runs only the best-matching condition's targets.
  idp.addEventTarget({ url: recorder.url, events: ['user.*'], signingKey: KEY })
  const scope = `openid ${audScope(tenant.projectId)} ${ROLES_SCOPE}`
  const alice = (await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw', { scope })).access_token
  const bob = (await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', { scope })).access_token
  const me = (token: string) => api.inject({ url: '/me', headers: bearer(token) })
  t.equal((await me(alice)).statusCode, 200, 'accepted and cached')

  const deliveries = await idp.deactivateUser(tenant.alice.id)
  t.same(deliveries.map((d) => d.status), [200, 200], 'the API and the recorder acknowledged the event')
  const refused = await me(alice)
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().code, 'ZITADEL_AUTH_TOKEN_REVOKED')
  t.equal((await me(bob)).statusCode, 200, 'another user of the same project')

  await idp.reactivateUser(tenant.alice.id)
  const fresh = await idp.mintAccessToken({ userId: tenant.alice.id, clientId: tenant.clientId, roles: true, claims: { iat: Math.floor(Date.now() / 1000) + 2 } })
  t.equal((await me(fresh)).statusCode, 200, 'a token issued after the event passes')

  // The deactivation again, byte for byte: a replay within maxAge changes nothing for later tokens.
  const recorded = recorder.received.find((r) => r.body.includes('"user.deactivated"'))
  t.ok(recorded !== undefined, 'the recorder saw the deactivation')
  const replay = () => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'zitadel-signature': recorded?.headers['zitadel-signature'] as string }, body: new Uint8Array(recorded?.body ?? []) })
  t.equal((await replay()).status, 200)
  t.equal((await me(fresh)).statusCode, 200, 'the replayed event covers only tokens issued before it happened')
  clock.stepWall(301)
  const late = await replay()
  t.equal(late.status, 401, 'past maxAge: refused')
  t.equal((await late.json() as { code: string }).code, 'ZITADEL_AUTH_EVENT_REFUSED')
})

t.test('end to end: a removed grant revokes its user\'s tokens; forged, malformed and other events change nothing', async (t) => {
  const idp = await startIdp()
  t.teardown(() => idp.close())
  const tenant = addTenant(idp)
  const { api, url } = await apiFor(t, idp, tenant)
  // The target comes first, so that it hears the grants being added.
  idp.addEventTarget({ url, events: ['user.*'], signingKey: KEY })
  const carol = idp.addUser({ username: 'carol', password: 'carol-pw', orgId: tenant.orgId, grants: [{ projectId: tenant.projectId, roles: ['user'] }] })
  await idp.waitForDeliveries()
  const token = await idp.mintAccessToken({ userId: carol.id, clientId: tenant.clientId, roles: true })
  const other = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, roles: true })
  const me = (tk: string) => api.inject({ url: '/me', headers: bearer(tk) })
  t.equal((await me(token)).statusCode, 200)

  const forgedBody = JSON.stringify({ aggregateID: tenant.bob.id, aggregateType: 'user', event_type: 'user.deactivated', created_at: new Date().toISOString() })
  const post = (body: string, signature: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'zitadel-signature': signature }, body })
  const forged = await post(forgedBody, sign(forgedBody, 'f'.repeat(36)))
  t.equal(forged.status, 401, 'signed with another key')
  t.equal((await forged.json() as { code: string }).code, 'ZITADEL_AUTH_EVENT_REFUSED')
  t.equal((await post(forgedBody, '')).status, 401, 'not signed')
  t.equal((await me(other)).statusCode, 200, 'the forged event revoked nothing')
  const malformed = await post('[1,2]', sign('[1,2]'))
  t.equal(malformed.status, 400)
  t.equal((await malformed.json() as { code: string }).code, 'ZITADEL_AUTH_EVENT_MALFORMED')
  t.equal((await post('{', sign('{'))).status, 400, 'not JSON')
  const unknown = JSON.stringify({ aggregateID: 'x', aggregateType: 'org', event_type: 'org.added', created_at: new Date().toISOString() })
  const ignored = await post(unknown, sign(unknown))
  t.equal(ignored.status, 200, 'an event of no concern is acknowledged')
  t.same(await ignored.json(), {})

  const deliveries = await idp.removeGrant(carol.id, tenant.projectId)
  t.same(deliveries.map((d) => [d.eventType, d.ok]), [['user.grant.removed', true]])
  t.equal((await me(token)).json().code, 'ZITADEL_AUTH_TOKEN_REVOKED', 'carol\'s token carries roles she no longer has')
  t.equal((await me(other)).statusCode, 200)
})

t.test('registration mistakes are named', async (t) => {
  const bare = Fastify()
  t.teardown(() => bare.close())
  bare.register(zitadelEvents, { signingKey: KEY })
  await t.rejects(async () => { await bare.ready() }, { code: 'ZITADEL_AUTH_INVALID_OPTION', message: /register fastify-zitadel-auth first/ })
  const cases: Array<[unknown, RegExp]> = [
    [{ signingKey: 'short' }, /option "signingKey" must be the target's signing key/],
    [{ signingKey: [] }, /option "signingKey"/],
    [{ signingKey: KEY, path: 'events' }, /option "path" must be a path starting with "\/"/],
    [{ signingKey: KEY, maxAge: 5 }, /option "maxAge" must be a number of seconds from 10 to 3600/],
    [{ signingKey: KEY, key: 1 }, /unknown option "key"/],
    [undefined, /option "signingKey"/]
  ]
  for (const [options, message] of cases) {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(zitadelAuth, { issuer: 'http://127.0.0.1:1', projectId: '1' })
    app.register(zitadelEvents, options as never)
    const err = await app.ready().then(() => undefined, (e: Error) => e)
    t.match(err, { code: 'ZITADEL_AUTH_INVALID_OPTION', message }, String(message))
  }
})
