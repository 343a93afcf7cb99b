import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import t from 'tap'
import zitadelAuth from '../lib/index.js'
import { FAST, bearer, type TestOptions } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'
import { JWT_BEARER, addTenant, post, startIdp } from './emulator/helpers.js'

const FAULTY = {
  discovery: (url: string) => fetch(`${url}/.well-known/openid-configuration`),
  jwks: (url: string) => fetch(`${url}/oauth/v2/keys`),
  token: (url: string) => fetch(`${url}/oauth/v2/token`, post({ grant_type: JWT_BEARER }))
} as const

t.test('fault "error": the discovery, JWKS and token endpoints answer 500; the others are untouched', async (t) => {
  const idp = await startIdp({ algorithm: 'ES256' })
  t.teardown(() => idp.close())
  const tenant = addTenant(idp)
  const token = await idp.mintAccessToken({ userId: tenant.bob.id })
  idp.fault = 'error'
  t.equal(idp.fault, 'error')
  for (const [name, call] of Object.entries(FAULTY)) {
    const res = await call(idp.issuer)
    t.equal(res.status, 500, name)
    t.same(await res.json(), { error: 'server_error', error_description: 'internal error' })
  }
  t.equal((await fetch(`${idp.issuer}/oidc/v1/userinfo`, { headers: bearer(token) })).status, 200)
  t.equal((await fetch(`${idp.issuer}/oauth/v2/authorize`, { redirect: 'manual' })).status, 400)
  idp.fault = 'none'
  t.equal((await FAULTY.jwks(idp.issuer)).status, 200)
})

t.test('fault "down": the connection is dropped without an answer, and the request still counts', async (t) => {
  const idp = await startIdp({ algorithm: 'ES256' })
  t.teardown(() => idp.close())
  idp.fault = 'down'
  for (const [name, call] of Object.entries(FAULTY)) {
    await t.rejects(call(idp.issuer), { name: 'TypeError', message: 'fetch failed' }, name)
  }
  t.match(idp.requests, { discovery: 1, jwks: 1, token: 1 })
  idp.fault = 'none'
  t.equal((await FAULTY.discovery(idp.issuer)).status, 200, 'back up')
})

t.test('fault "slow": answers come after slowMs', async (t) => {
  const idp = await startIdp({ algorithm: 'ES256' })
  t.teardown(() => idp.close())
  idp.fault = 'slow'
  idp.slowMs = 2000
  await t.rejects(fetch(`${idp.issuer}/oauth/v2/keys`, { signal: AbortSignal.timeout(50) }), { name: 'TimeoutError' }, 'no answer yet')
  idp.slowMs = 30
  const res = await fetch(`${idp.issuer}/oauth/v2/keys`)
  t.equal(res.status, 200, 'then the normal answer')
  t.ok(Array.isArray((await res.json() as { keys: unknown[] }).keys))
})

t.test('close() does not wait for a slow answer', async (t) => {
  const idp = await startIdp({ algorithm: 'ES256' })
  idp.fault = 'slow'
  idp.slowMs = 60_000
  const pending = fetch(`${idp.issuer}/.well-known/openid-configuration`)
  await sleep(50)
  await idp.close()
  await t.rejects(pending, { name: 'TypeError' })
})

t.test('request counters per endpoint, and their reset', async (t) => {
  const idp = await startIdp({ algorithm: 'ES256' })
  t.teardown(() => idp.close())
  const tenant = addTenant(idp)
  const token = await idp.mintAccessToken({ userId: tenant.bob.id })
  await FAULTY.discovery(idp.issuer)
  await FAULTY.jwks(idp.issuer)
  await FAULTY.jwks(idp.issuer)
  await FAULTY.token(idp.issuer)
  await fetch(`${idp.issuer}/oauth/v2/authorize`, { redirect: 'manual' })
  await fetch(`${idp.issuer}/ui/login/login`)
  await fetch(`${idp.issuer}/oauth/v2/introspect`, post({ token }))
  await fetch(`${idp.issuer}/oidc/v1/userinfo`, { headers: bearer(token) })
  await fetch(`${idp.issuer}/oauth/v2/revoke`, post({ token }))
  await fetch(`${idp.issuer}/oidc/v1/end_session`)
  await fetch(`${idp.issuer}/oauth/v2/token`, { method: 'OPTIONS', headers: { origin: 'http://localhost:8001' } })
  t.same(idp.requests, { discovery: 1, jwks: 2, authorize: 1, login: 1, token: 1, introspect: 1, userinfo: 1, revoke: 1, endSession: 1 })
  idp.resetRequests()
  t.same(idp.requests, { discovery: 0, jwks: 0, authorize: 0, login: 0, token: 0, introspect: 0, userinfo: 0, revoke: 0, endSession: 0 })
})

t.test('the plugin answers 503 while the emulator is down or failing, and recovers', async (t) => {
  const idp = await startIdp()
  t.teardown(() => idp.close())
  const tenant = addTenant(idp)
  const token = await idp.mintAccessToken({ userId: tenant.bob.id })
  for (const fault of ['down', 'error'] as const) {
    idp.fault = fault
    const clock = new FakeClock()
    const options: TestOptions = { ...FAST, [kClock]: clock }
    const app = Fastify()
    await app.register(zitadelAuth, { issuer: idp.issuer, projectId: tenant.projectId, ...options })
    app.get('/me', { preHandler: app.zitadel.requireAuth() }, async (req) => ({ sub: req.user?.sub }))
    await app.ready()
    t.teardown(() => app.close())
    const refused = await app.inject({ url: '/me', headers: bearer(token) })
    t.equal(refused.statusCode, 503, fault)
    t.equal(refused.json().code, 'ZITADEL_AUTH_IDP_UNAVAILABLE')
    t.ok(Number(refused.headers['retry-after']) >= 1)

    idp.fault = 'none'
    await clock.advance(FAST.jwksCooldown * 1000)
    const ok = await app.inject({ url: '/me', headers: bearer(token) })
    t.equal(ok.statusCode, 200, `${fault}, then up again`)
    t.equal(ok.json().sub, tenant.bob.id)
  }
})
