import t from 'tap'
import { startZitadelEmulator } from '../lib/testing/index.js'
import { isLoopbackHost } from '../lib/issuer-url.js'
import { originOf, resolveEmulatorOptions } from '../lib/testing/options.js'
import { startIdp } from './emulator/helpers.js'

t.test('options are checked once, and a wrong one is named', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [null, /options must be an object/],
    [{ prot: 1 }, /unknown option "prot"/],
    [{ port: -1 }, /"port" must be an integer/],
    [{ port: 1.5 }, /"port"/],
    [{ port: 70000 }, /"port"/],
    [{ host: '' }, /"host" must be a non-empty string/],
    [{ host: 7 }, /"host"/],
    [{ host: '0.0.0.0' }, /not a loopback address.*allowNonLoopback/],
    [{ host: '192.168.1.10' }, /not a loopback address/],
    [{ host: 'example.com' }, /not a loopback address/],
    [{ allowNonLoopback: 'yes' }, /"allowNonLoopback" must be a boolean/],
    [{ logger: 1 }, /"logger" must be a boolean/],
    [{ quiet: 'no' }, /"quiet" must be a boolean/],
    [{ algorithm: 'HS256' }, /"algorithm" must be one of RS256/],
    [{ algorithm: 'PS256' }, /"algorithm"/],
    [{ accessTokenLifetime: 0 }, /"accessTokenLifetime" must be a whole number/],
    [{ idTokenLifetime: 1.5 }, /"idTokenLifetime"/],
    [{ issuer: 'not a url' }, /"issuer" must be an absolute http\(s\) URL/],
    [{ issuer: 'ftp://localhost' }, /"issuer" must be an absolute/],
    [{ issuer: 42 }, /"issuer" must be an absolute/],
    [{ issuer: 'http://localhost:8002?x=1' }, /without credentials, query or fragment/],
    [{ issuer: 'http://user:pw@localhost:8002' }, /without credentials/],
    [{ typHeader: 'no' }, /"typHeader" must be a boolean/],
    [{ jwksCacheControl: '' }, /"jwksCacheControl" must be a non-empty header value/],
    [{ jwksCacheControl: 5 }, /"jwksCacheControl"/],
    [{ jwksCacheControl: 'no-store\r\nx-evil: 1' }, /"jwksCacheControl"/],
    [{ domains: 'localhost' }, /"domains" must be an array/],
    [{ domains: [7] }, /"domains" must list origins/],
    [{ domains: ['not a host'] }, /"domains" must list origins/],
    [{ domains: ['ftp://id.example'] }, /"domains" must list origins/],
    [{ domains: ['https://id.example/path'] }, /"domains" must list origins/],
    [{ domains: ['https://user@id.example'] }, /"domains" must list origins/]
  ]
  for (const [options, message] of bad) {
    t.throws(() => resolveEmulatorOptions(options as never), { name: 'TypeError', message }, JSON.stringify(options))
  }
  await t.rejects(startZitadelEmulator({ host: '0.0.0.0' }), /loopback/, 'start refuses before listening')

  const opts = resolveEmulatorOptions()
  t.same(opts, { port: 0, host: '127.0.0.1', issuer: undefined, algorithm: 'RS256', accessTokenLifetime: 43200, idTokenLifetime: 43200, logger: false, quiet: false, typHeader: true, jwksCacheControl: 'max-age=300, must-revalidate', domains: [] })
  t.ok(Object.isFrozen(opts))
  t.equal(resolveEmulatorOptions({ host: '0.0.0.0', allowNonLoopback: true }).host, '0.0.0.0')
  t.equal(resolveEmulatorOptions({ issuer: 'https://idp.example//' }).issuer, 'https://idp.example')
  t.same(resolveEmulatorOptions({ domains: ['LocalHost', 'https://id.example/', 'http://auth.example:8080'] }).domains, ['localhost', 'https://id.example', 'http://auth.example:8080'])
})

t.test('loopback hosts and origins', async (t) => {
  for (const host of ['localhost', 'LOCALHOST', 'api.localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) t.ok(isLoopbackHost(host), host)
  for (const host of ['0.0.0.0', '::', '10.0.0.1', 'localhost.example.com', '128.0.0.1', 'mylocalhost']) t.notOk(isLoopbackHost(host), host)
  t.equal(originOf('127.0.0.1', 8002), 'http://127.0.0.1:8002')
  t.equal(originOf('::1', 8002), 'http://[::1]:8002')
  t.equal(originOf('[::1]', 8002), 'http://[::1]:8002')
})

t.test('one line on stderr at start-up says it is for development and tests only', async (t) => {
  const lines: string[] = []
  const write = process.stderr.write
  process.stderr.write = ((chunk: string) => { lines.push(String(chunk)); return true }) as typeof process.stderr.write
  let idp
  try {
    idp = await startZitadelEmulator({ algorithm: 'ES256' })
  } finally {
    process.stderr.write = write
  }
  t.teardown(() => idp.close())
  t.equal(lines.length, 1)
  t.match(lines[0], /^zitadel emulator: issuer http:\/\/127\.0\.0\.1:\d+, listening on .* For development and tests only: never use it in production\.\n$/)

  const quiet: string[] = []
  process.stderr.write = ((chunk: string) => { quiet.push(String(chunk)); return true }) as typeof process.stderr.write
  let other
  try {
    other = await startZitadelEmulator({ algorithm: 'ES256', quiet: true })
  } finally {
    process.stderr.write = write
  }
  t.teardown(() => other.close())
  t.same(quiet, [])
})

t.test('Zitadel-like ids, client ids and the default organisation', async (t) => {
  const idp = await startIdp({ algorithm: 'ES256' })
  t.teardown(() => idp.close())
  const project = idp.addProject({ name: 'My Project', roles: ['a'] })
  const org = idp.addOrganization({ name: 'ACME Corp' })
  t.same(org, { id: org.id, name: 'ACME Corp', domain: 'acme-corp.localhost' })
  t.ok(Object.isFrozen(org))
  t.equal(project.orgId !== org.id, true, 'the project went to the default organisation')
  const app = idp.addApp({ projectId: project.id, name: 'web', redirectUris: ['http://localhost:3000/cb'] })
  t.match(app.clientId, /^\d{18}@my_project$/)
  t.same(app.postLogoutRedirectUris, [])
  const user = idp.addUser({ username: 'dora', password: 'pw' })
  t.not(user.orgId, org.id)
  const ids = [org.id, project.id, user.id, app.clientId.split('@')[0]]
  t.equal(new Set(ids).size, 4)
  for (const id of ids) t.match(id, /^\d{18}$/)
  const chosen = idp.addProject({ id: '263783958406348951', name: 'fixed', orgId: org.id })
  t.equal(chosen.id, '263783958406348951')
  t.same(chosen.roles, [])
  t.equal(chosen.assertRoles, true)
})

t.test('the programmatic API refuses bad input with the function and argument named', async (t) => {
  const idp = await startIdp({ algorithm: 'ES256' })
  t.teardown(() => idp.close())
  const org = idp.addOrganization({ id: '100000000000000001', name: 'Acme', domain: 'acme.localhost' })
  const project = idp.addProject({ name: 'p', roles: ['user'] })
  const app = idp.addApp({ projectId: project.id, name: 'app', clientId: 'app@p', redirectUris: ['http://localhost:1/cb'] })
  const user = idp.addUser({ username: 'u', password: 'pw' })
  const ok = { projectId: project.id, name: 'x', redirectUris: ['http://localhost:1/cb'] }

  const bad: Array<[() => unknown, RegExp]> = [
    [() => idp.addOrganization(null as never), /addOrganization: the argument must be an object/],
    [() => idp.addOrganization({ name: ' ' }), /addOrganization: "name"/],
    [() => idp.addOrganization({ name: '!!!' }), /addOrganization: "domain"/],
    [() => idp.addOrganization({ name: 'Other', domain: 'acme.localhost' }), /the domain "acme.localhost" is taken/],
    [() => idp.addOrganization({ name: 'Other', id: '100000000000000001' }), /the id "100000000000000001" is taken/],
    [() => idp.addOrganization({ name: 'Other', id: 'a b' }), /"id" must be/],
    [() => idp.addProject(null as never), /addProject: the argument must be an object/],
    [() => idp.addProject({ name: '' }), /addProject: "name"/],
    [() => idp.addProject({ name: 'q', roles: ['a b'] }), /"roles"/],
    [() => idp.addProject({ name: 'q', roles: 'user' as never }), /"roles"/],
    [() => idp.addProject({ name: 'q', assertRoles: 1 as never }), /"assertRoles"/],
    [() => idp.addProject({ name: 'q', orgId: 'nope' }), /no organisation with id "nope"/],
    [() => idp.addProject({ name: 'q', id: project.id }), /is taken/],
    [() => idp.addApp(null as never), /addApp: the argument must be an object/],
    [() => idp.addApp({ ...ok, projectId: 'nope' }), /addApp: no project with id "nope"/],
    [() => idp.addApp({ ...ok, name: '' }), /addApp: "name"/],
    [() => idp.addApp({ ...ok, accessTokenType: 'bearer' as never }), /addApp: "accessTokenType" must be "jwt" or "opaque"/],
    [() => idp.addApp({ ...ok, roleAssertion: 'no' as never }), /"roleAssertion" must be a boolean/],
    [() => idp.addApp({ ...ok, clientSecret: 'short' }), /"clientSecret"/],
    [() => idp.addApp({ ...ok, redirectUris: [] }), /"redirectUris" must be a non-empty array/],
    [() => idp.addApp({ ...ok, redirectUris: ['/relative'] }), /"redirectUris"/],
    [() => idp.addApp({ ...ok, redirectUris: ['http://localhost/cb#frag'] }), /"redirectUris"/],
    [() => idp.addApp({ ...ok, redirectUris: ['http://localhost/cb#'] }), /"redirectUris"/],
    [() => idp.addApp({ ...ok, redirectUris: [42 as never] }), /"redirectUris"/],
    [() => idp.addApp({ ...ok, redirectUris: undefined as never }), /"redirectUris"/],
    [() => idp.addApp({ ...ok, postLogoutRedirectUris: ['nope'] }), /"postLogoutRedirectUris"/],
    [() => idp.addApp({ ...ok, postLogoutRedirectUris: 'x' as never }), /"postLogoutRedirectUris"/],
    [() => idp.addApp({ ...ok, clientId: 'app@p' }), /the client id "app@p" is taken/],
    [() => idp.addApp({ ...ok, clientId: user.id }), /is taken/],
    [() => idp.addApp({ ...ok, clientId: 'a b' }), /"clientId"/],
    [() => idp.addApiApp({ projectId: 'nope', name: 'api' }), /addApiApp: no project/],
    [() => idp.addApiApp({ projectId: project.id, name: 'api', authMethod: 'post' as never }), /addApiApp: "authMethod" must be "basic" or "private_key_jwt"/],
    [() => idp.addApiApp({ projectId: project.id, name: 'api', authMethod: 'private_key_jwt', clientSecret: 'a-secret-1' }), /"clientSecret" is for authMethod "basic"/],
    [() => idp.addUser(null as never), /addUser: the argument must be an object/],
    [() => idp.addUser({ username: 'v', password: '' }), /"password"/],
    [() => idp.addUser({ username: 'v w', password: 'pw' }), /"username"/],
    [() => idp.addUser({ username: 'v@x', password: 'pw' }), /"username"/],
    [() => idp.addUser({ username: 'u', password: 'pw' }), /the username "u" is taken/],
    [() => idp.addUser({ username: 'v', password: 'pw', email: 'not-an-email' }), /"email"/],
    [() => idp.addUser({ username: 'v', password: 'pw', givenName: '' }), /"givenName"/],
    [() => idp.addUser({ username: 'v', password: 'pw', familyName: 7 as never }), /"familyName"/],
    [() => idp.addUser({ username: 'v', password: 'pw', orgId: 'nope' }), /addUser: no organisation/],
    [() => idp.addUser({ username: 'v', password: 'pw', grants: 'x' as never }), /"grants" must be an array/],
    [() => idp.addUser({ username: 'v', password: 'pw', grants: [null as never] }), /"grants" must be an array/],
    [() => idp.addUser({ username: 'v', password: 'pw', grants: [{ projectId: 'nope', roles: ['user'] }] }), /addUser: no project with id "nope"/],
    [() => idp.addUser({ username: 'v', password: 'pw', grants: [{ projectId: project.id, roles: ['admin'] }] }), /has no role "admin"/],
    [() => idp.addUser({ username: 'v', password: 'pw', grants: [{ projectId: project.id, roles: [] }] }), /"roles" must be a non-empty array/],
    [() => idp.addUser({ username: 'v', password: 'pw', grants: [{ projectId: project.id, roles: ['user'], orgId: 'nope' }] }), /no organisation with id "nope"/],
    [() => idp.grantRoles('nobody', project.id, ['user']), /grantRoles: no user with id "nobody"/],
    [() => idp.grantRoles(user.id, 'nope', ['user']), /grantRoles: no project/],
    [() => idp.grantRoles(user.id, project.id, 'user' as never), /"roles"/],
    [() => { idp.fault = 'broken' as never }, /fault must be one of none, down, slow, error/],
    [() => { idp.slowMs = -1 }, /slowMs must be/],
    [() => { idp.slowMs = Number.NaN }, /slowMs must be/]
  ]
  for (const [fn, message] of bad) t.throws(fn, { name: 'TypeError', message: new RegExp(`^zitadel emulator: .*${message.source}`) }, message.source)

  await t.rejects(idp.addServiceUser(null as never), /addServiceUser: the argument must be an object/)
  await t.rejects(idp.addServiceUser({ username: 's', name: ' ' }), /addServiceUser: "name"/)
  await t.rejects(idp.addServiceUser({ username: 'u' }), /the username "u" is taken/)
  await t.rejects(idp.addServiceUser({ username: 's', accessTokenType: 'bearer' as never }), /addServiceUser: "accessTokenType" must be "jwt" or "opaque"/)
  const basicApi = idp.addApiApp({ projectId: project.id, name: 'basic api' })
  await t.rejects(idp.addApiAppKey('nobody'), { name: 'TypeError', message: /addApiAppKey: no app with client id "nobody"/ })
  await t.rejects(idp.addApiAppKey(app.clientId), /addApiAppKey: the app "app@p" does not use private_key_jwt/)
  await t.rejects(idp.addApiAppKey(basicApi.clientId), /does not use private_key_jwt/)
  // A failed grant leaves no half-made user behind.
  t.doesNotThrow(() => idp.addUser({ username: 'v', password: 'pw' }))
  t.equal(app.clientId, 'app@p')
  t.equal(org.domain, 'acme.localhost')
  idp.grantRoles(user.id, project.id, ['user'])
  idp.grantRoles(user.id, project.id, ['user'], org.id)
  t.equal(idp.slowMs, 1000)
  idp.slowMs = 0
  t.equal(idp.slowMs, 0)
  t.equal(idp.fault, 'none')
})

t.test('close() can be called twice', async (t) => {
  const idp = await startIdp({ algorithm: 'ES256' })
  await idp.close()
  await t.resolves(idp.close())
  await t.rejects(fetch(`${idp.url}/oauth/v2/keys`))
})
