import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import t from 'tap'
import { callProtected, serviceUserToken, type ServiceUserKey } from '../demo/service-user.js'
import { DEMO } from '../demo/dev-idp.js'
import { demoWithKeyFile, startDemo } from './helpers/demo.js'

/*
 * The demo end to end over real HTTP: the emulator, the demo API, and the
 * service-user script exactly as `npm run demo:service-user` runs it.
 */
const run = promisify(execFile)

t.test('the demo API: public route open, protected routes need roles', async (t) => {
  const demo = await startDemo()
  t.teardown(() => demo.close())
  const pub = await fetch(`${demo.api}/api/public`)
  t.equal(pub.status, 200)
  t.same(await pub.json(), { message: 'Hello from a public route', user: null })
  const noToken = await fetch(`${demo.api}/api/protected`)
  t.equal(noToken.status, 401)
  t.equal(noToken.headers.get('www-authenticate'), 'Bearer realm="api"')

  const bob = await demo.idp.mintAccessToken({ userId: demo.seed.users.bob.id, clientId: DEMO.clientId })
  const asBob = await fetch(`${demo.api}/api/protected`, { headers: { authorization: `Bearer ${bob}` } })
  t.equal(asBob.status, 200)
  const body = await asBob.json() as { user: { roles: string[] } }
  t.same(body.user.roles, ['user'])
  t.notOk(JSON.stringify(body).includes(bob), 'the token is not echoed')
  const admin = await fetch(`${demo.api}/api/protected/admin`, { headers: { authorization: `Bearer ${bob}` } })
  t.equal(admin.status, 403)

  // Zitadel's JWT access tokens carry no scope claim: the scope route refuses them, as its description says.
  const email = await fetch(`${demo.api}/api/email`, { headers: { authorization: `Bearer ${bob}` } })
  t.equal(email.status, 403, 'a JWT has no scope, so /api/email answers 403')
  t.equal((await email.json() as { code: string }).code, 'ZITADEL_AUTH_SCOPE_REQUIRED')
  t.match(email.headers.get('www-authenticate'), /error="insufficient_scope".*, scope="email"$/, 'the challenge names the scope')
  t.equal((await fetch(`${demo.api}/api/email`)).status, 401, 'no token: 401')

  const doc = await (await fetch(`${demo.api}/docs/json`)).json() as { paths: Record<string, { get: { security: unknown, description: string } }> }
  t.strictSame(doc.paths['/api/email']?.get.security, [{ zitadel: ['email'] }], 'documented with the scope it needs')
  t.match(doc.paths['/api/email']?.get.description, 'Zitadel\'s JWT access tokens carry no `scope` claim')
  t.match(doc.paths['/api/email']?.get.description, 'DEMO_TOKENS=opaque')
})

t.test('the service user: key file in Zitadel\'s format, JWT-profile grant, role "user"', async (t) => {
  const { demo, keyFile } = await demoWithKeyFile(t)

  const key = JSON.parse(readFileSync(keyFile, 'utf8')) as ServiceUserKey
  t.equal(key.type, 'serviceaccount')
  t.match(key.key, /^-----BEGIN RSA PRIVATE KEY-----/, 'PKCS#1, as Zitadel writes it')
  t.type(key.keyId, 'string')
  t.type(key.userId, 'string')

  const token = await serviceUserToken(key, demo.idp.issuer, DEMO.projectId)
  const res = await callProtected(demo.api, token)
  t.equal(res.status, 200, 'the service user holds the role "user"')
  // zitadel token_jwt_profile.go: a service user's client_id is its username.
  t.match(res.body, { user: { sub: key.userId, clientId: 'demo-service', roles: ['user'] } })

  await t.rejects(serviceUserToken({ ...key, keyId: 'not-the-key' }, demo.idp.issuer, DEMO.projectId), /token endpoint answered 4\d\d/, 'a wrong kid is refused by the token endpoint')
})

t.test('the demo with opaque tokens (DEMO_TOKENS=opaque): logins and the service user pass through introspection', async (t) => {
  const { demo, keyFile } = await demoWithKeyFile(t, { tokens: 'opaque' })
  t.equal(demo.seed.apiKeyFile?.type, 'application', 'the API application\'s key file, in Zitadel\'s format')

  const bob = await demo.idp.mintAccessToken({ userId: demo.seed.users.bob.id, clientId: DEMO.clientId })
  t.notMatch(bob, /\./, 'bob\'s token is opaque')
  const asBob = await fetch(`${demo.api}/api/protected`, { headers: { authorization: `Bearer ${bob}` } })
  t.equal(asBob.status, 200)
  t.match(await asBob.json(), { user: { sub: demo.seed.users.bob.id, roles: ['user'] } })
  t.equal((await fetch(`${demo.api}/api/protected/admin`, { headers: { authorization: `Bearer ${bob}` } })).status, 403)
  t.equal(demo.idp.requests.introspect, 1, 'one introspection call; the second request was answered from the cache')
  // Introspection answers carry the scope: bob's login asked for email.
  const email = await fetch(`${demo.api}/api/email`, { headers: { authorization: `Bearer ${bob}` } })
  t.equal(email.status, 200, 'an introspected token has the scope "email"')
  t.match(await email.json(), { email: 'bob@acme.localhost', user: { sub: demo.seed.users.bob.id } })

  const key = JSON.parse(readFileSync(keyFile, 'utf8')) as ServiceUserKey
  const token = await serviceUserToken(key, demo.idp.issuer, DEMO.projectId)
  t.notMatch(token, /\./, 'the service user\'s token is opaque')
  const res = await callProtected(demo.api, token)
  t.equal(res.status, 200)
  t.match(res.body, { user: { sub: key.userId, roles: ['user'] } })
  const serviceEmail = await fetch(`${demo.api}/api/email`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(serviceEmail.status, 403, 'the service user did not ask for the scope "email"')
  t.equal((await serviceEmail.json() as { code: string }).code, 'ZITADEL_AUTH_SCOPE_REQUIRED')
})

t.test('npm run demo:service-user against the emulator prints the protected answer', async (t) => {
  const { demo, keyFile } = await demoWithKeyFile(t)

  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'demo/service-user.ts'], {
    env: { ...process.env, ZITADEL_ISSUER: demo.idp.issuer, ZITADEL_PROJECT_ID: DEMO.projectId, API_URL: demo.api, SERVICE_USER_KEY_FILE: keyFile }
  })
  t.match(stdout, /GET http:\/\/127\.0\.0\.1:\d+\/api\/protected -> 200/)
  t.match(stdout, /"message": "Hello from a protected route/)
})
