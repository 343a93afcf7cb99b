import t from 'tap'
import Fastify from 'fastify'
import { Type } from '@sinclair/typebox'
import zitadelAuth, { type ZitadelAuthOptions } from '../lib/index.js'
import { resolveOptions, SUPPORTED_ALGORITHMS, ZITADEL_ALGORITHMS } from '../lib/options.js'
import type { Teardown } from './helpers/app.js'

const ISSUER = 'https://my-instance.zitadel.cloud'
const PROJECT = '263783958406348951'
const BASE = { issuer: ISSUER, projectId: PROJECT }

type CodedError = Error & { code?: string, statusCode?: number }
type Tap = Pick<typeof t, 'ok' | 'equal' | 'match' | 'fail'>

/** The error resolveOptions throws for `input`; fails the test when it throws none. */
function optionError (input: unknown): CodedError {
  try {
    resolveOptions(input)
  } catch (err) {
    return err as CodedError
  }
  throw new Error(`resolveOptions accepted ${JSON.stringify(input)}`)
}

/** Registers the plugin with `options`, right or wrong, on a new app (closed when the test ends); the error ready() rejects with, if any. */
async function readyError (t: Teardown, options: unknown): Promise<CodedError | undefined> {
  const app = Fastify()
  t.teardown(() => app.close())
  app.register(zitadelAuth, options as ZitadelAuthOptions)
  return app.ready().then(() => undefined, (e: CodedError) => e)
}

/** Asserts that resolveOptions gives back each of these durations as it was given. */
function assertDurationsKept (t: Tap, durations: Partial<Record<'clockTolerance' | 'jwksCacheTtl' | 'jwksCooldown' | 'jwksMaxStale' | 'httpTimeout', number>>): void {
  const o = resolveOptions({ ...BASE, ...durations })
  for (const [name, value] of Object.entries(durations)) t.equal(o[name as keyof typeof durations], value, name)
}

/** Asserts a registration error: a TypeError with the stable code and a message naming the option. */
function assertRefused (t: Tap, input: unknown, name: string, why = `refuses ${name}`): void {
  let err: CodedError
  try {
    err = optionError(input)
  } catch (e) {
    t.fail(`${why}: ${(e as Error).message}`)
    return
  }
  t.ok(err instanceof TypeError, `${why}: a TypeError`)
  t.equal(err.code, 'ZITADEL_AUTH_INVALID_OPTION', `${why}: code`)
  t.match(err.message, `"${name}"`, `${why}: names the option`)
}

t.test('defaults', async (t) => {
  const o = resolveOptions({ ...BASE })
  t.equal(o.issuer, ISSUER)
  t.equal(o.projectId, PROJECT)
  t.equal(o.clientId, undefined)
  t.same(o.audience, [PROJECT])
  t.equal(o.allowedClientIds, undefined)
  t.equal(o.allowedSubjects, undefined)
  t.same(o.issuers, [ISSUER], 'one issuer')
  t.same(o.algorithms, ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'EdDSA'], 'every algorithm of Zitadel\'s web keys')
  t.same(o.algorithms, ZITADEL_ALGORITHMS)
  t.equal(o.clockTolerance, 0)
  t.equal(o.jwksCacheTtl, 600)
  t.equal(o.jwksCooldown, 10)
  t.equal(o.jwksMaxStale, 3600)
  t.equal(o.httpTimeout, 5)
  t.equal(o.claimsSchema, undefined)
  t.equal(o.realm, 'api')
  t.equal(o.allowInsecureIssuer, false)
  t.equal(o.discoveryUrl, `${ISSUER}/.well-known/openid-configuration`)
  t.equal(o.roleClaim, `urn:zitadel:iam:org:project:${PROJECT}:roles`)
})

t.test('every option given is carried through', async (t) => {
  const claimsSchema = Type.Object({ sub: Type.String() })
  const o = resolveOptions({
    ...BASE,
    clientId: '263784183128768663@demo',
    audience: ['a', 'b'],
    allowedClientIds: ['c1', 'c2'],
    allowedSubjects: ['s1', 's2', 's1'],
    algorithms: ['ES256', 'RS256'],
    clockTolerance: 5,
    jwksCacheTtl: 120,
    jwksCooldown: 2,
    jwksMaxStale: 0,
    httpTimeout: 3,
    claimsSchema,
    realm: 'my api',
    allowInsecureIssuer: true
  })
  t.equal(o.clientId, '263784183128768663@demo')
  t.same(o.audience, ['a', 'b'])
  t.same(o.allowedClientIds, ['c1', 'c2'])
  t.same(o.allowedSubjects, ['s1', 's2'], 'repeats dropped')
  t.ok(Object.isFrozen(o.allowedSubjects))
  t.same(o.algorithms, ['ES256', 'RS256'])
  t.equal(o.clockTolerance, 5)
  t.equal(o.jwksCacheTtl, 120)
  t.equal(o.jwksCooldown, 2)
  t.equal(o.jwksMaxStale, 0, 'jwksMaxStale 0 is kept, not replaced by the default')
  t.equal(o.httpTimeout, 3)
  t.equal(o.claimsSchema, claimsSchema)
  t.equal(o.realm, 'my api')
  t.equal(o.allowInsecureIssuer, true)
})

t.test('the result is frozen, arrays included, and the caller\'s object is not changed', async (t) => {
  const input = {
    ...BASE,
    audience: ['a', 'a', 'b'],
    allowedClientIds: ['c1', 'c1'],
    algorithms: ['RS256', 'RS256'] as ZitadelAuthOptions['algorithms']
  }
  const before = structuredClone(input)
  const o = resolveOptions(input)

  t.ok(Object.isFrozen(o), 'options frozen')
  t.ok(Object.isFrozen(o.audience), 'audience frozen')
  t.ok(Object.isFrozen(o.allowedClientIds), 'allowedClientIds frozen')
  t.ok(Object.isFrozen(o.algorithms), 'algorithms frozen')
  t.throws(() => { (o as { realm: string }).realm = 'x' }, TypeError)
  t.throws(() => { (o.audience as string[]).push('evil') }, TypeError)
  t.throws(() => { (o.algorithms as string[]).push('HS256') }, TypeError)
  t.throws(() => { (o.allowedClientIds as string[]).push('evil') }, TypeError)

  t.same(input, before, 'the caller\'s object is unchanged')
  t.notOk(Object.isFrozen(input), 'the caller\'s object is not frozen')
  t.notOk(Object.isFrozen(input.audience), 'the caller\'s arrays are not frozen')

  input.audience.push('later')
  input.allowedClientIds.push('later')
  t.same(o.audience, ['a', 'b'], 'later changes to the caller\'s arrays do not reach the result')
  t.same(o.allowedClientIds, ['c1'])
})

t.test('options must be an object', async (t) => {
  for (const input of [undefined, null, 'https://x', 42]) {
    const err = optionError(input)
    t.ok(err instanceof TypeError, 'a TypeError')
    t.equal(err.code, 'ZITADEL_AUTH_INVALID_OPTION')
    t.match(err.message, /options must be an object/)
  }
})

t.test('issuer: trailing slashes are removed, the host is normalised, the path kept', async (t) => {
  t.equal(resolveOptions({ ...BASE, issuer: `${ISSUER}/` }).issuer, ISSUER)
  t.equal(resolveOptions({ ...BASE, issuer: `${ISSUER}///` }).issuer, ISSUER)
  t.equal(resolveOptions({ ...BASE, issuer: 'https://My-Instance.ZITADEL.cloud' }).issuer, ISSUER)
  t.equal(resolveOptions({ ...BASE, issuer: 'https://my-instance.zitadel.cloud:443/' }).issuer, ISSUER, 'default port dropped')
  t.equal(resolveOptions({ ...BASE, issuer: 'https://idp.example.com:8443/Zitadel/' }).issuer, 'https://idp.example.com:8443/Zitadel')
  const o = resolveOptions({ ...BASE, issuer: `${ISSUER}/` })
  t.equal(o.discoveryUrl, `${ISSUER}/.well-known/openid-configuration`, 'no double slash in the discovery URL')
})

t.test('issuer: missing, not a string, not a URL or not http(s) is refused naming "issuer"', async (t) => {
  assertRefused(t, { projectId: PROJECT }, 'issuer', 'missing issuer')
  t.match(optionError({ projectId: PROJECT }).message, /required/)
  assertRefused(t, { ...BASE, issuer: 42 }, 'issuer', 'number')
  assertRefused(t, { ...BASE, issuer: '' }, 'issuer', 'empty string')
  assertRefused(t, { ...BASE, issuer: 'my-instance.zitadel.cloud' }, 'issuer', 'no scheme')
  assertRefused(t, { ...BASE, issuer: 'not a url' }, 'issuer', 'not a URL')
  assertRefused(t, { ...BASE, issuer: 'ftp://my-instance.zitadel.cloud' }, 'issuer', 'ftp:')
  assertRefused(t, { ...BASE, issuer: 'file:///etc/passwd' }, 'issuer', 'file:')
})

t.test('issuer: credentials, query and fragment are refused', async (t) => {
  for (const issuer of [
    'https://user:pass@my-instance.zitadel.cloud',
    'https://user@my-instance.zitadel.cloud',
    'https://my-instance.zitadel.cloud/?tenant=1',
    'https://my-instance.zitadel.cloud/#frag'
  ]) {
    assertRefused(t, { ...BASE, issuer }, 'issuer', issuer)
    t.match(optionError({ ...BASE, issuer }).message, /without credentials, query or fragment/)
  }
})

t.test('issuer: http on a non-loopback host is refused unless allowInsecureIssuer is true', async (t) => {
  for (const issuer of ['http://my-instance.zitadel.cloud', 'http://10.0.0.1', 'http://localhost.evil.com', 'http://127.0.0.1.nip.io']) {
    assertRefused(t, { ...BASE, issuer }, 'issuer', issuer)
    t.match(optionError({ ...BASE, issuer }).message, /allowInsecureIssuer/)
  }
  const o = resolveOptions({ ...BASE, issuer: 'http://my-instance.zitadel.cloud/', allowInsecureIssuer: true })
  t.equal(o.issuer, 'http://my-instance.zitadel.cloud')
  t.equal(o.allowInsecureIssuer, true)
  assertRefused(t, { ...BASE, issuer: 'http://my-instance.zitadel.cloud', allowInsecureIssuer: false }, 'issuer', 'explicit false')
})

t.test('issuer: a list of one instance\'s domains; the first is where keys come from', async (t) => {
  const o = resolveOptions({ ...BASE, issuer: [`${ISSUER}/`, 'https://auth.example.com', ISSUER, 'https://AUTH.example.com/'] })
  t.equal(o.issuer, ISSUER, 'the first, normalised')
  t.same(o.issuers, [ISSUER, 'https://auth.example.com'], 'every one normalised, repeats dropped')
  t.ok(Object.isFrozen(o.issuers))
  t.equal(o.discoveryUrl, `${ISSUER}/.well-known/openid-configuration`, 'discovery from the first')
  for (const [issuer, name, why] of [
    [[ISSUER, 'http://auth.example.com'], 'issuer[1]', /must use https/],
    [[ISSUER, 'https://u:p@auth.example.com'], 'issuer[1]', /must be a URL without credentials/],
    [['not a url'], 'issuer[0]', /must be an absolute/],
    [[ISSUER, 'ftp://auth.example.com'], 'issuer[1]', /must be an absolute/]
  ] as const) {
    assertRefused(t, { ...BASE, issuer }, name, JSON.stringify(issuer))
    t.match(optionError({ ...BASE, issuer }).message, why)
  }
})

t.test('issuer: http on loopback is accepted', async (t) => {
  for (const [issuer, expected] of [
    ['http://localhost:8080', 'http://localhost:8080'],
    ['http://LOCALHOST:8080/', 'http://localhost:8080'],
    ['http://127.0.0.1:8080/', 'http://127.0.0.1:8080'],
    ['http://[::1]:8080', 'http://[::1]:8080'],
    ['http://acme.localhost:8080', 'http://acme.localhost:8080']
  ] as const) {
    t.equal(resolveOptions({ ...BASE, issuer }).issuer, expected, issuer)
  }
})

t.test('projectId is required and has no colon or space', async (t) => {
  assertRefused(t, { issuer: ISSUER }, 'projectId', 'missing')
  t.match(optionError({ issuer: ISSUER }).message, /required/)
  for (const projectId of ['', 'a:b', 'a b', ' 123', 123]) {
    assertRefused(t, { ...BASE, projectId }, 'projectId', JSON.stringify(projectId))
  }
})

t.test('each other option with a wrong value is refused, naming the option', async (t) => {
  const wrong: Array<[keyof ZitadelAuthOptions, unknown]> = [
    ['clientId', ''],
    ['clientId', 'a b'],
    ['clientId', 42],
    ['audience', ''],
    ['audience', []],
    ['audience', ['ok', '']],
    ['audience', ['ok', 7]],
    ['audience', 'a b'],
    ['revocation', { maxTokenLifetime: 59 }],
    ['revocation', { maxTokenLifetime: '3600' }],
    ['revocation', { lifetime: 3600 }],
    ['allowedClientIds', 'client'],
    ['allowedClientIds', []],
    ['allowedClientIds', ['']],
    ['allowedSubjects', 'sub'],
    ['allowedSubjects', []],
    ['allowedSubjects', ['']],
    ['allowedSubjects', ['a b']],
    ['issuer', []],
    ['issuer', [42]],
    ['algorithms', 'RS256'],
    ['algorithms', ['rs256']],
    ['clockTolerance', -1],
    ['clockTolerance', '5'],
    ['clockTolerance', Number.NaN],
    ['jwksCacheTtl', 0],
    ['jwksCacheTtl', 86401],
    ['jwksCacheTtl', Number.POSITIVE_INFINITY],
    ['jwksCooldown', 0],
    ['jwksCooldown', -0.5],
    ['jwksCooldown', 3601],
    ['jwksMaxStale', -1],
    ['jwksMaxStale', 7 * 86400 + 1],
    ['httpTimeout', 0],
    ['httpTimeout', 61],
    ['httpTimeout', '5'],
    ['claimsSchema', 'schema'],
    ['realm', ''],
    ['realm', 'a\\b'],
    ['realm', 'caf\u00e9'],
    ['realm', 'a\r\nb'],
    ['allowInsecureIssuer', 'yes'],
    ['allowInsecureIssuer', 1]
  ]
  for (const [name, value] of wrong) {
    assertRefused(t, { ...BASE, [name]: value }, name, `${name}: ${String(value)}`)
  }
})

t.test('boundary values are accepted', async (t) => {
  assertDurationsKept(t, { clockTolerance: 0, jwksCacheTtl: 86400, jwksCooldown: 3600, jwksMaxStale: 7 * 86400, httpTimeout: 60 })
})

t.test('an unknown option is refused and named', async (t) => {
  assertRefused(t, { ...BASE, clockTolerence: 5 }, 'clockTolerence', 'typo')
  t.match(optionError({ ...BASE, clockTolerence: 5 }).message, /unknown option/)
  t.match(optionError({ ...BASE, clockTolerence: 5 }).message, /clockTolerance/, 'lists the known options')
  assertRefused(t, { ...BASE, jwksUri: 'https://x/keys' }, 'jwksUri', 'jwksUri')
  assertRefused(t, { ...BASE, audiences: undefined }, 'audiences', 'even when undefined')
})

t.test('Fastify\'s own register options are accepted', async (t) => {
  const o = resolveOptions({ ...BASE, prefix: '/api', logLevel: 'warn', logSerializers: {} })
  t.equal(o.issuer, ISSUER)
  t.notOk('prefix' in o, 'not copied into the result')
})

t.test('algorithms: none, HS* and an empty list are refused', async (t) => {
  for (const algorithms of [['none'], ['HS256'], ['RS256', 'HS512'], []]) {
    assertRefused(t, { ...BASE, algorithms }, 'algorithms', JSON.stringify(algorithms))
  }
})

t.test('algorithms: every supported algorithm is accepted, duplicates collapse', async (t) => {
  t.same(resolveOptions({ ...BASE, algorithms: [...SUPPORTED_ALGORITHMS] }).algorithms, [...SUPPORTED_ALGORITHMS])
  for (const alg of SUPPORTED_ALGORITHMS) {
    t.same(resolveOptions({ ...BASE, algorithms: [alg] }).algorithms, [alg], alg)
  }
  t.same(resolveOptions({ ...BASE, algorithms: ['ES256', 'RS256', 'ES256', 'RS256'] }).algorithms, ['ES256', 'RS256'])
  t.same(SUPPORTED_ALGORITHMS.filter((a) => a.startsWith('HS') || a === ('none' as string)), [], 'nothing symmetric is supported')
})

t.test('clockTolerance: 31 is refused, 30 is accepted; fractional durations are accepted', async (t) => {
  assertRefused(t, { ...BASE, clockTolerance: 31 }, 'clockTolerance', '31')
  assertRefused(t, { ...BASE, clockTolerance: 30.5 }, 'clockTolerance', '30.5')
  assertDurationsKept(t, { clockTolerance: 30 })
  assertDurationsKept(t, { clockTolerance: 1.5, jwksCooldown: 0.2, jwksCacheTtl: 0.5, jwksMaxStale: 0.25, httpTimeout: 0.3 })
})

t.test('claimsSchema: a TypeBox schema is accepted, a plain object is refused', async (t) => {
  const schema = Type.Object({ email: Type.String() })
  t.equal(resolveOptions({ ...BASE, claimsSchema: schema }).claimsSchema, schema)
  assertRefused(t, { ...BASE, claimsSchema: { type: 'object', properties: { email: { type: 'string' } } } }, 'claimsSchema', 'JSON schema without TypeBox kind')
  assertRefused(t, { ...BASE, claimsSchema: null }, 'claimsSchema', 'null')
  t.match(optionError({ ...BASE, claimsSchema: {} }).message, /TypeBox schema/)
})

t.test('claimsSchema: mistakes that would refuse every token fail at registration, naming the option', async (t) => {
  const issuer = 'https://x.zitadel.cloud'
  const register = async (claimsSchema: unknown) => {
    const app = Fastify()
    t.teardown(() => app.close())
    app.register(zitadelAuth, { issuer, projectId: '1', claimsSchema } as ZitadelAuthOptions)
    await app.ready()
  }
  // TypeBox fails every value for a format nobody registered.
  await t.rejects(register(Type.Object({ email: Type.String({ format: 'email' }) })), {
    code: 'ZITADEL_AUTH_INVALID_OPTION',
    message: /option "claimsSchema" uses the format "email" that is not registered/
  })
  await t.rejects(register(Type.Object({ a: Type.Array(Type.String({ format: 'uuid' })) })), { message: /"uuid"/ }, 'nested in an array')
  await t.rejects(register(Type.Object({ other: Type.Ref('Missing') })), {
    code: 'ZITADEL_AUTH_INVALID_OPTION',
    message: /option "claimsSchema" could not be compiled/
  })
  await t.resolves(register(Type.Object({ format: Type.String() })), 'a claim named "format" is not a format keyword')
})

t.test('realm: printable ASCII accepted, a double quote refused', async (t) => {
  t.equal(resolveOptions({ ...BASE, realm: 'My API (v2)' }).realm, 'My API (v2)')
  assertRefused(t, { ...BASE, realm: 'a"b' }, 'realm', 'double quote')
  assertRefused(t, { ...BASE, realm: 'api", error="x' }, 'realm', 'header injection')
})

t.test('audience: a string becomes an array; duplicates collapse', async (t) => {
  t.same(resolveOptions({ ...BASE, audience: 'my-api' }).audience, ['my-api'])
  t.same(resolveOptions({ ...BASE, audience: ['x', 'y', 'x'] }).audience, ['x', 'y'])
  t.notOk(resolveOptions({ ...BASE, audience: 'my-api' }).audience.includes(PROJECT), 'an explicit audience replaces the default')
})

t.test('allowedClientIds: kept as given, duplicates collapse, absent stays undefined', async (t) => {
  t.same(resolveOptions({ ...BASE, allowedClientIds: ['app@demo', 'svc'] }).allowedClientIds, ['app@demo', 'svc'])
  t.same(resolveOptions({ ...BASE, allowedClientIds: ['svc', 'svc'] }).allowedClientIds, ['svc'])
  t.equal(resolveOptions({ ...BASE }).allowedClientIds, undefined)
})

t.test('plugin: registration without issuer rejects at ready() naming "issuer"', async (t) => {
  const err = await readyError(t, { projectId: 'x' })
  t.ok(err, 'ready() rejected')
  t.ok(err instanceof TypeError, 'a TypeError')
  t.equal(err?.code, 'ZITADEL_AUTH_INVALID_OPTION')
  t.match(err?.message, '"issuer"')
})

t.test('plugin: a misspelt option rejects at ready() naming it', async (t) => {
  const err = await readyError(t, { ...BASE, clockTolerence: 5 })
  t.equal(err?.code, 'ZITADEL_AUTH_INVALID_OPTION')
  t.match(err?.message, '"clockTolerence"')
})

t.test('plugin: an insecure issuer rejects at ready()', async (t) => {
  const err = await readyError(t, { ...BASE, issuer: 'http://my-instance.zitadel.cloud' })
  t.equal(err?.code, 'ZITADEL_AUTH_INVALID_OPTION')
  t.match(err?.message, '"issuer"')
})

t.test('plugin: prefix and logLevel pass; fastify.zitadel.options shows the resolved options', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  // Nothing listens on port 9: the background key fetch fails at once, and no request here needs keys.
  app.register(zitadelAuth, { ...BASE, issuer: 'http://127.0.0.1:9/', httpTimeout: 0.2, prefix: '/api', logLevel: 'warn' })
  await app.ready()
  const o = app.zitadel.options
  t.equal(o.issuer, 'http://127.0.0.1:9')
  t.same(o.audience, [PROJECT])
  t.ok(Object.isFrozen(o))
  t.ok(Object.isFrozen(app.zitadel))
})
