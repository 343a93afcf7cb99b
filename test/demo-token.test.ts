import { join } from 'node:path'
import t from 'tap'
import { demoToken } from '../demo/token.js'
import { demoWithKeyFile, freePort, runScript } from './helpers/demo.js'

/*
 * `npm run demo:token`: tokens obtained from the demo's emulator the way
 * clients get them (the login form walked over HTTP, the service user's key
 * file), then sent to the demo API, whose roles decide 200 or 403.
 */
const { demo, dir, keyFile } = await demoWithKeyFile(t)
const target = { issuer: demo.idp.issuer, api: demo.api, keyFile }

async function status (path: string, token: string): Promise<number> {
  return (await fetch(`${demo.api}${path}`, { headers: { authorization: `Bearer ${token}` } })).status
}

t.test('alice and bob log in with PKCE; the API answers as their roles say', async (t) => {
  demo.idp.resetRequests()
  const alice = await demoToken('alice', target)
  t.match(demo.idp.requests, { authorize: 1, login: 1, token: 1 }, 'authorize, the login form, the token endpoint: nothing minted behind the scenes')
  const asAlice = await fetch(`${demo.api}/api/protected`, { headers: { authorization: `Bearer ${alice}` } })
  t.equal(asAlice.status, 200)
  t.match(await asAlice.json(), { user: { sub: demo.seed.users.alice.id, roles: ['user', 'admin'] } })
  t.equal(await status('/api/protected/admin', alice), 200, 'alice is an admin')
  t.equal(await status('/api/email', alice), 403, 'her login asked for the scope email, but a JWT access token carries no scope claim')

  const bob = await demoToken('bob', target)
  t.equal(await status('/api/protected', bob), 200)
  t.equal(await status('/api/protected/admin', bob), 403, 'bob is not')
})

t.test('service gets the service user\'s token through its key file', async (t) => {
  const service = await demoToken('service', target)
  const res = await fetch(`${demo.api}/api/protected`, { headers: { authorization: `Bearer ${service}` } })
  t.equal(res.status, 200)
  t.match(await res.json(), { user: { sub: demo.seed.serviceUser.user.id, clientId: 'demo-service', roles: ['user'] } })
  t.equal(await status('/api/protected/admin', service), 403)
})

t.test('mistakes are explained: unknown user, demo not running, other ports, no key file', async (t) => {
  await t.rejects(demoToken('carol', target), { message: 'unknown user "carol": choose one of alice, bob, service' })
  const nothing = `http://127.0.0.1:${await freePort()}`
  await t.rejects(demoToken('alice', { ...target, issuer: nothing }), { message: `the demo is not running: nothing answers at ${nothing} (ECONNREFUSED); start it with npm run demo` })
  await t.rejects(demoToken('service', { ...target, issuer: nothing }), /the demo is not running/)
  await t.rejects(demoToken('alice', { ...target, api: 'http://127.0.0.1:1' }), /redirect_uri http:\/\/127\.0\.0\.1:1\/docs\/static\/oauth2-redirect\.html\) answered 400 \(Invalid redirect URI\)/,
    'an API_PORT other than the demo\'s gives a redirect URI it did not register')
  await t.rejects(demoToken('service', { ...target, keyFile: join(dir, 'none.json') }), /no service user key file at .*none\.json: start the demo with npm run demo/)
})

t.test('the CLI prints the token alone on stdout, errors on stderr with exit code 1', async (t) => {
  const ports = { IDP_PORT: new URL(demo.idp.issuer).port, API_PORT: String(demo.apiPort) }
  const ok = await runScript('demo/token.ts', ['alice'], ports)
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'one line: the JWT, nothing around it')
  t.equal(ok.stderr, '')
  t.equal(await status('/api/protected/admin', ok.stdout.trim()), 200)

  const unknown = await runScript('demo/token.ts', ['carol'], ports)
  t.equal(unknown.code, 1)
  t.equal(unknown.stdout, '')
  t.equal(unknown.stderr, 'demo:token: unknown user "carol": choose one of alice, bob, service\n')

  const none = await runScript('demo/token.ts', [], ports)
  t.equal(none.code, 1)
  t.equal(none.stderr, 'demo:token: name a user: npm run -s demo:token -- alice|bob|service\n')

  const down = await runScript('demo/token.ts', ['bob'], { ...ports, IDP_PORT: String(await freePort()) })
  t.equal(down.code, 1)
  t.equal(down.stdout, '')
  t.match(down.stderr, /^demo:token: the demo is not running: nothing answers at http:\/\/localhost:\d+ \(\w+\); start it with npm run demo\n$/)
})
