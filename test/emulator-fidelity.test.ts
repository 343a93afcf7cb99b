import { generateKeyPairSync, sign } from 'node:crypto'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import zitadelAuth from '../lib/index.js'
import type { ZitadelEmulator } from '../lib/testing/index.js'
import { addTenant, audScope, assertion, headerOf, jwtProfile, ROLES_SCOPE, startIdp } from './emulator/helpers.js'
import { bearer, type Teardown, type TestOptions } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'
import { introspectedApi, opaqueTenant } from './helpers/introspection.js'

/*
 * The plugin on its defaults against the emulator behaving as a real Zitadel
 * does where deployments differ from a fresh instance: a web key of another
 * algorithm activated mid-run, an older server without `typ`, custom domains,
 * service users (client_id = username), and Zitadel's HTTP 400 for refused
 * client credentials at introspection. Over real HTTP.
 */

async function apiFor (t: Teardown, options: TestOptions & { issuer: string | string[], projectId: string }): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { jwksCooldown: 0.2, httpTimeout: 2, ...options })
  app.get('/me', { preHandler: app.zitadel.requireRoles(['user']) }, async (req) => ({ sub: req.user?.sub, clientId: req.user?.clientId }))
  await app.ready()
  return app
}

async function status (app: FastifyInstance, token: string): Promise<number> {
  return (await app.inject({ url: '/me', headers: bearer(token) })).statusCode
}

t.test('the signing key switches to ES256, then EdDSA, then RS512 mid-run: no restart, no option change', async (t) => {
  const idp = await startIdp()
  t.teardown(() => idp.close())
  const tenant = addTenant(idp)
  const clock = new FakeClock()
  const app = await apiFor(t, { issuer: idp.issuer, projectId: tenant.projectId, [kClock]: clock })
  t.equal(await status(app, await idp.mintAccessToken({ userId: tenant.bob.id })), 200, 'RS256 (the default web key)')
  for (const algorithm of ['ES256', 'EdDSA', 'RS512'] as const) {
    // Switches are minutes apart in real life; here just past the 0.2 s cooldown of the last fetch for a new kid.
    await clock.advance(250)
    await idp.rotateKeys({ algorithm, keepOld: true })
    const token = await idp.mintAccessToken({ userId: tenant.bob.id })
    t.equal(headerOf(token).alg, algorithm, `the emulator signs with ${algorithm}`)
    t.equal((await clock.throughTimer(() => status(app, token))).outcome, 200, `${algorithm}: accepted on the defaults`)
  }
  // A genuine RS256 signature, under the kid of the published EC key.
  const jwks = await (await fetch(`${idp.issuer}/oauth/v2/keys`)).json() as { keys: Array<{ kid: string, kty: string, crv?: string }> }
  const ec = jwks.keys.find((k) => k.kty === 'EC') as { kid: string }
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const now = Math.floor(Date.now() / 1000)
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
  const input = `${b64({ alg: 'RS256', kid: ec.kid, typ: 'JWT' })}.${b64({ iss: idp.issuer, sub: tenant.bob.id, aud: [tenant.projectId], exp: now + 60, iat: now, jti: 'x' })}`
  const forged = `${input}.${sign('sha256', Buffer.from(input), rsa).toString('base64url')}`
  const res = await app.inject({ url: '/me', headers: bearer(forged) })
  t.equal(res.statusCode, 401, 'an RS256 token whose kid points at an EC key')
  t.equal(res.json().code, 'ZITADEL_AUTH_TOKEN_UNSUPPORTED')
})

t.test('an older server without typ, a second domain, and service users pinned by sub', async (t) => {
  const idp = await startIdp({ typHeader: false, domains: ['localhost'] })
  t.teardown(() => idp.close())
  const tenant = addTenant(idp)
  const port = new URL(idp.issuer).port
  const second = `http://localhost:${port}`
  const app = await apiFor(t, { issuer: [idp.issuer, second], projectId: tenant.projectId })

  const untyped = await idp.mintAccessToken({ userId: tenant.bob.id })
  t.notOk('typ' in headerOf(untyped), 'no typ in the header')
  t.equal(await status(app, untyped), 200, 'a token without typ')

  const viaDomain = await idp.mintAccessToken({ userId: tenant.bob.id, issuer: second })
  t.equal(await status(app, viaDomain), 200, 'a token of the second domain')
  const single = await apiFor(t, { issuer: idp.issuer, projectId: tenant.projectId })
  t.equal((await single.inject({ url: '/me', headers: bearer(viaDomain) })).json().code, 'ZITADEL_AUTH_ISSUER_INVALID', 'refused where the domain is not listed')

  const { user, keyFile } = await idp.addServiceUser({ username: 'reporting', orgId: tenant.orgId, grants: [{ projectId: tenant.projectId, roles: ['user'] }] })
  const res = await jwtProfile(idp, await assertion(keyFile, idp.issuer), `openid ${audScope(tenant.projectId)} ${ROLES_SCOPE}`)
  t.equal(res.status, 200, 'the JWT-profile grant')
  const token = (await res.json() as { access_token: string }).access_token
  const bySub = await apiFor(t, { issuer: idp.issuer, projectId: tenant.projectId, allowedSubjects: [user.id] })
  const ok = await bySub.inject({ url: '/me', headers: bearer(token) })
  t.equal(ok.statusCode, 200, 'pinned by sub: accepted')
  t.same(ok.json(), { sub: user.id, clientId: 'reporting' }, 'client_id is the username')
  const byIdAsClient = await apiFor(t, { issuer: idp.issuer, projectId: tenant.projectId, allowedClientIds: [user.id] })
  t.equal((await byIdAsClient.inject({ url: '/me', headers: bearer(token) })).json().code, 'ZITADEL_AUTH_CLIENT_NOT_ALLOWED', 'the user id is not its client_id')
  const human = await idp.mintAccessToken({ userId: tenant.bob.id })
  t.equal((await bySub.inject({ url: '/me', headers: bearer(human) })).json().code, 'ZITADEL_AUTH_CLIENT_NOT_ALLOWED', 'another subject: refused')
})

t.test('a wrong introspection key file: the documented error line, 503, and one call per cooldown against Zitadel\'s HTTP 400', async (t) => {
  const idp: ZitadelEmulator = await startIdp()
  t.teardown(() => idp.close())
  const { tenant, keyApi } = await opaqueTenant(idp)
  // A genuine key file of the app, whose key Zitadel does not know (never registered, or deleted).
  const registered = await idp.addApiAppKey(keyApi.clientId)
  const other = await startIdp()
  t.teardown(() => other.close())
  const otherApp = other.addApiApp({ projectId: other.addProject({ name: 'x' }).id, name: 'x', authMethod: 'private_key_jwt' })
  const stranger = await other.addApiAppKey(otherApp.clientId)
  const wrongKeyFile = { ...registered, key: stranger.key }

  const api = await introspectedApi(t, { issuer: idp.issuer, projectId: tenant.projectId, rolesScope: ROLES_SCOPE }, { keyFile: wrongKeyFile }, { jwksCooldown: 30 })
  const token = await idp.mintAccessToken({ userId: tenant.bob.id, projectIds: [tenant.projectId] })
  const direct = await fetch(`${idp.issuer}/oauth/v2/introspect`, {
    method: 'POST',
    body: new URLSearchParams({ token, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: await assertion(wrongKeyFile, idp.issuer) })
  })
  t.equal(direct.status, 400, 'the emulator answers as Zitadel: HTTP 400')
  t.equal((await direct.json() as { error: string }).error, 'unauthorized_client')

  const before = idp.requests.introspect
  for (let i = 0; i < 3; i++) {
    const res = await api.me(token)
    t.equal(res.statusCode, 503, `request ${i + 1}: 503`)
    t.equal(res.json().code, 'ZITADEL_AUTH_IDP_UNAVAILABLE')
    t.ok(Number(res.headers['retry-after']) >= 1, 'with Retry-After')
  }
  t.equal(idp.requests.introspect - before, 1, 'one call within the cooldown')
  const errors = api.pluginLogs().filter((l) => l.level >= 50)
  t.equal(errors.length, 1, 'one error line')
  t.match(errors[0]?.msg, /introspection refused this API's client authentication; check the introspection option/)
  t.equal(errors[0]?.clientId, keyApi.clientId, 'naming the client id')
  t.notOk(api.lines.some((line) => line.includes(token)), 'no token in the log')
})
