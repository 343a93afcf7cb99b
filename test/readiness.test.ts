import Fastify from 'fastify'
import t from 'tap'
import zitadelAuth from '../lib/index.js'
import { FAST, appFor, issuerFor } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'
import { addTenant, startIdp } from './emulator/helpers.js'

/**
 * fastify.zitadel.status() for readiness routes, and waitForKeys: start-up
 * that waits for the first key load and fails when it fails. Over real HTTP
 * against the test issuer, with its fault modes.
 */

t.test('waitForKeys: app.ready() waits for the keys, and status() says they are in', async (t) => {
  const issuer = await issuerFor(t)
  const { app } = await appFor(t, issuer, { waitForKeys: true })
  t.equal(issuer.requests.jwks, 1, 'the keys were fetched before ready() resolved')
  const status = app.zitadel.status()
  t.match(status, { ready: true, keys: { usable: true, keys: 1, stale: false, lastFailure: undefined }, introspection: undefined })
  t.match(status.keys?.fetchedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'when, in ISO 8601')
  t.ok(Math.abs(Date.parse(status.keys?.fetchedAt as string) - Date.now()) < 60_000, 'and it is now')
})

t.test('waitForKeys: app.ready() fails when the first key load fails, naming the issuer and why', async (t) => {
  const issuer = await issuerFor(t)
  issuer.fault = 'error'
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, ...FAST, waitForKeys: true })
  await t.rejects(async () => { await app.ready() }, {
    code: 'ZITADEL_AUTH_KEYS_NOT_LOADED',
    message: `fastify-zitadel-auth: could not load the signing keys from ${issuer.url} (answered HTTP 500); waitForKeys makes start-up wait for them, and the log says more`
  })
})

t.test('without waitForKeys, start-up goes on while the keys fail, and status() is not ready', async (t) => {
  const issuer = await issuerFor(t)
  issuer.fault = 'error'
  const { app, me } = await appFor(t, issuer)
  t.equal((await me(await issuer.token())).statusCode, 503, 'a request meanwhile gets 503')
  t.match(app.zitadel.status(), { ready: false, keys: { usable: false, keys: 0, fetchedAt: undefined, stale: false, lastFailure: 'answered HTTP 500' } })
  issuer.fault = 'none'
})

t.test('status(): stale keys while a refresh fails keep the app ready, until jwksMaxStale', async (t) => {
  const issuer = await issuerFor(t)
  const clock = new FakeClock()
  const { app } = await appFor(t, issuer, { waitForKeys: true, jwksCacheTtl: 60, jwksMaxStale: 1, [kClock]: clock })
  const fetchedAt = app.zitadel.status().keys?.fetchedAt
  issuer.fault = 'error'
  await clock.advance(60_000)
  t.match(app.zitadel.status(), { ready: true, keys: { usable: true, keys: 1, fetchedAt, stale: true, lastFailure: 'answered HTTP 500' } }, 'the last good keys, stale')
  await clock.advance(1000)
  t.match(app.zitadel.status(), { ready: false, keys: { usable: false, keys: 0, fetchedAt, stale: false } }, 'past jwksMaxStale')
  issuer.fault = 'none'
})

t.test('status() with introspection: cooling down after a failed call is not ready', async (t) => {
  const issuer = await issuerFor(t)
  // The test issuer serves no introspection: every call gets its 404.
  issuer.discovery = { introspection_endpoint: `${issuer.url}/oauth/v2/introspect` }
  const { app, me } = await appFor(t, issuer, { introspection: { clientId: 'api', clientSecret: 'secret' } })
  t.match(app.zitadel.status(), { introspection: { coolingDown: false, lastFailure: undefined } }, 'no call yet')
  t.equal((await me('an-opaque-token-of-zitadel')).statusCode, 503)
  const status = app.zitadel.status()
  t.equal(status.ready, false)
  t.match(status.introspection, { coolingDown: true, lastFailure: 'answered HTTP 404' })
})

t.test('status() with introspection of every token has no key set to report', async (t) => {
  const issuer = await issuerFor(t)
  const { app } = await appFor(t, issuer, { introspection: { clientId: 'api', clientSecret: 'secret', tokens: 'all' } })
  t.match(app.zitadel.status(), { ready: true, keys: undefined, introspection: { coolingDown: false } })
  t.equal(issuer.requests.jwks, 0, 'no key is ever fetched')
})

t.test('waitForKeys is checked at registration', async (t) => {
  const issuer = await issuerFor(t)
  const mistakes: Array<[unknown, Record<string, unknown>, RegExp]> = [
    ['yes', {}, /option "waitForKeys" must be a boolean/],
    [true, { introspection: { clientId: 'api', clientSecret: 'secret', tokens: 'all' } }, /option "waitForKeys": with introspection.tokens 'all' no key is ever used/]
  ]
  for (const [waitForKeys, more, message] of mistakes) {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => { await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, ...FAST, ...more, waitForKeys: waitForKeys as boolean }) },
      { code: 'ZITADEL_AUTH_INVALID_OPTION', message })
  }
})

t.test('against the emulator: waitForKeys, status(), and a readiness route', async (t) => {
  const idp = await startIdp()
  t.teardown(() => idp.close())
  const tenant = addTenant(idp)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: idp.issuer, projectId: tenant.projectId, ...FAST, waitForKeys: true })
  app.get('/ready', { config: { zitadel: false } }, async (_request, reply) => {
    const status = app.zitadel.status()
    return reply.code(status.ready ? 200 : 503).send(status)
  })
  await app.ready()
  const ready = await app.inject({ url: '/ready' })
  t.equal(ready.statusCode, 200)
  t.match(ready.json(), { ready: true, keys: { usable: true, stale: false } })
  t.ok(ready.json().keys.keys >= 1, 'the emulator\'s keys are in')

  idp.fault = 'down'
  const late = Fastify()
  t.teardown(() => late.close())
  await late.register(zitadelAuth, { issuer: idp.issuer, projectId: tenant.projectId, ...FAST, waitForKeys: true })
  await t.rejects(async () => { await late.ready() }, { code: 'ZITADEL_AUTH_KEYS_NOT_LOADED', message: new RegExp(`from ${idp.issuer} \\(`) }, 'an instance that starts while Zitadel is down fails to start')
  idp.fault = 'none'
})
