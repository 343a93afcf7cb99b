import { generateKeyPairSync } from 'node:crypto'
import Fastify from 'fastify'
import t from 'tap'
import zitadelAuth, { type ZitadelAuthOptions } from '../lib/index.js'
import { introspectionCredentials } from '../lib/introspection-options.js'
import { resolveOptions } from '../lib/options.js'

/**
 * The `introspection` option at registration (each wrong shape names its
 * field, and no message repeats a secret or a key), and the two pure parts
 * of private_key_jwt: reading Zitadel's application key file and signing the
 * client assertion. Keys are generated at run time.
 */

// Nothing listens there: an app that did register fails its background fetch at once, and nothing leaves the machine.
const ISSUER = 'http://127.0.0.1:9'
const PROJECT = '263783958406348951'
const CLIENT_ID = '263783958406348952@backend'

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const PKCS1 = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string
const PKCS8 = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
const EC = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
const PUBLIC = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string
const KEY_FILE = { type: 'application', keyId: '263783958406348953', key: PKCS1, clientId: CLIENT_ID, appId: '263783958406348954' } as const
const SECRET = 'the-client-secret-1234'
/** Lines of key material that must never show up in a message. */
const KEY_LINES = [PKCS1, PKCS8, EC].map((pem) => pem.split('\n')[1] as string)

type CodedError = Error & { code?: string }

/** The error registering the plugin with this `introspection` fails with; undefined when it registers. */
async function registrationError (introspection: unknown): Promise<CodedError | undefined> {
  const app = Fastify()
  try {
    await app.register(zitadelAuth, { issuer: ISSUER, projectId: PROJECT, introspection } as unknown as ZitadelAuthOptions)
    await app.ready()
    return undefined
  } catch (err) {
    return err as CodedError
  } finally {
    await app.close()
  }
}

t.test('each wrong shape fails registration with ZITADEL_AUTH_INVALID_OPTION, naming the field', async (t) => {
  const cases: Array<[string, unknown, RegExp[]]> = [
    ['not an object', 'keyfile.json', [/"introspection"/]],
    ['null', null, [/"introspection"/]],
    ['an array', [KEY_FILE], [/"introspection"/]],
    ['both keyFile and a secret', { keyFile: KEY_FILE, clientId: CLIENT_ID, clientSecret: SECRET }, [/"introspection"/, /"keyFile"/, /"clientSecret"/]],
    ['keyFile and a client id', { keyFile: KEY_FILE, clientId: CLIENT_ID }, [/"introspection"/, /"keyFile"/, /"clientId"/]],
    ['neither', {}, [/"introspection\.clientId"/, /"keyFile"/]],
    ['only settings', { tokens: 'all' }, [/"introspection\.clientId"/]],
    ['a client id without a secret', { clientId: CLIENT_ID }, [/"introspection\.clientSecret"/]],
    ['a secret without a client id', { clientSecret: SECRET }, [/"introspection\.clientId"/]],
    ['an empty secret', { clientId: CLIENT_ID, clientSecret: '' }, [/"introspection\.clientSecret"/]],
    ['a numeric secret', { clientId: CLIENT_ID, clientSecret: 1234 }, [/"introspection\.clientSecret"/]],
    ['an empty client id', { clientId: '', clientSecret: SECRET }, [/"introspection\.clientId"/]],
    ['keyFile JSON text that does not parse', { keyFile: '{"type":"application",' }, [/"introspection\.keyFile"/, /does not parse/]],
    ['keyFile JSON text of a string', { keyFile: '"application"' }, [/"introspection\.keyFile"/, /not an object/]],
    ['keyFile null', { keyFile: null }, [/"introspection\.keyFile"/, /not an object/]],
    ['keyFile an array', { keyFile: [KEY_FILE] }, [/"introspection\.keyFile"/, /not an object/]],
    ['keyFile of a service user', { keyFile: { type: 'serviceaccount', keyId: '1', key: PKCS1, userId: '2' } }, [/"introspection\.keyFile"/, /"application"/]],
    ['keyFile without type', { keyFile: { ...KEY_FILE, type: undefined } }, [/"introspection\.keyFile"/, /"application"/]],
    ['keyFile without keyId', { keyFile: { ...KEY_FILE, keyId: undefined } }, [/"introspection\.keyFile"/, /keyId/]],
    ['keyFile with an empty keyId', { keyFile: { ...KEY_FILE, keyId: '' } }, [/"introspection\.keyFile"/, /keyId/]],
    ['keyFile without clientId', { keyFile: { ...KEY_FILE, clientId: undefined } }, [/"introspection\.keyFile"/, /clientId/]],
    ['keyFile without key', { keyFile: { ...KEY_FILE, key: undefined } }, [/"introspection\.keyFile"/, /"key"/]],
    ['a key that is not a PEM', { keyFile: { ...KEY_FILE, key: 'not-a-pem-but-secret-material' } }, [/"introspection\.keyFile"/, /PEM/]],
    ['a public key', { keyFile: { ...KEY_FILE, key: PUBLIC } }, [/"introspection\.keyFile"/, /private key/]],
    ['an EC key', { keyFile: { ...KEY_FILE, key: EC } }, [/"introspection\.keyFile"/, /RSA/]],
    ['tokens "some"', { clientId: CLIENT_ID, clientSecret: SECRET, tokens: 'some' }, [/"introspection\.tokens"/, /"opaque"/, /"all"/]],
    ['tokens null', { clientId: CLIENT_ID, clientSecret: SECRET, tokens: null }, [/"introspection\.tokens"/]],
    ['cacheMaxAge -1', { clientId: CLIENT_ID, clientSecret: SECRET, cacheMaxAge: -1 }, [/"introspection\.cacheMaxAge"/]],
    ['cacheMaxAge 3601', { clientId: CLIENT_ID, clientSecret: SECRET, cacheMaxAge: 3601 }, [/"introspection\.cacheMaxAge"/]],
    ['cacheMaxAge NaN', { clientId: CLIENT_ID, clientSecret: SECRET, cacheMaxAge: Number.NaN }, [/"introspection\.cacheMaxAge"/]],
    ['cacheMaxAge "60"', { clientId: CLIENT_ID, clientSecret: SECRET, cacheMaxAge: '60' }, [/"introspection\.cacheMaxAge"/]],
    ['cacheSize 1.5', { clientId: CLIENT_ID, clientSecret: SECRET, cacheSize: 1.5 }, [/"introspection\.cacheSize"/]],
    ['cacheSize -1', { clientId: CLIENT_ID, clientSecret: SECRET, cacheSize: -1 }, [/"introspection\.cacheSize"/]],
    ['cacheSize 1000001', { clientId: CLIENT_ID, clientSecret: SECRET, cacheSize: 1_000_001 }, [/"introspection\.cacheSize"/]],
    ['an unknown field', { clientId: CLIENT_ID, clientSecret: SECRET, cacheTtl: 60 }, [/"introspection\.cacheTtl"/]],
    ['a typo of keyFile', { keyfile: KEY_FILE }, [/"introspection\.keyfile"/]]
  ]
  for (const [name, introspection, expected] of cases) {
    const err = await registrationError(introspection)
    t.ok(err instanceof TypeError, `${name}: a TypeError`)
    t.equal(err?.code, 'ZITADEL_AUTH_INVALID_OPTION', `${name}: the code`)
    for (const pattern of expected) t.match(err?.message, pattern, `${name}: ${pattern}`)
    for (const secret of [SECRET, 'not-a-pem-but-secret-material', ...KEY_LINES]) {
      t.notOk(err?.message.includes(secret), `${name}: no secret or key in the message`)
    }
  }
})

t.test('good shapes register; the resolved options carry no secret and no key', async (t) => {
  for (const [name, introspection, shown] of [
    ['Basic', { clientId: CLIENT_ID, clientSecret: SECRET }, { authMethod: 'client_secret_basic', keyId: undefined }],
    ['a key file', { keyFile: KEY_FILE }, { authMethod: 'private_key_jwt', keyId: KEY_FILE.keyId }],
    ['a key file as JSON text', { keyFile: JSON.stringify(KEY_FILE) }, { authMethod: 'private_key_jwt', keyId: KEY_FILE.keyId }],
    ['a PKCS#8 key', { keyFile: { ...KEY_FILE, key: PKCS8 } }, { authMethod: 'private_key_jwt', keyId: KEY_FILE.keyId }]
  ] as const) {
    t.equal(await registrationError(introspection), undefined, `${name}: registers`)
    const resolved = resolveOptions({ issuer: ISSUER, projectId: PROJECT, introspection })
    t.same(resolved.introspection, { clientId: CLIENT_ID, ...shown, tokens: 'opaque', cacheMaxAge: 60, cacheSize: 10_000 }, `${name}: defaults`)
    t.ok(Object.isFrozen(resolved.introspection))
    const text = JSON.stringify(resolved)
    t.notOk(text.includes(SECRET), `${name}: no secret`)
    t.notOk(KEY_LINES.some((line) => text.includes(line)), `${name}: no key`)
    t.ok(introspectionCredentials(resolved), `${name}: the credentials are kept apart`)
  }
  const edges = resolveOptions({ issuer: ISSUER, projectId: PROJECT, introspection: { clientId: CLIENT_ID, clientSecret: SECRET, tokens: 'all', cacheMaxAge: 0, cacheSize: 0 } })
  t.match(edges.introspection, { tokens: 'all', cacheMaxAge: 0, cacheSize: 0 }, '0 turns either cache bound off')
  const top = resolveOptions({ issuer: ISSUER, projectId: PROJECT, introspection: { clientId: CLIENT_ID, clientSecret: SECRET, cacheMaxAge: 3600, cacheSize: 1_000_000 } })
  t.match(top.introspection, { cacheMaxAge: 3600, cacheSize: 1_000_000 }, 'the upper bounds')
  t.match(resolveOptions({ issuer: ISSUER, projectId: PROJECT, introspection: { keyFile: KEY_FILE, cacheMaxAge: 0.25 } }).introspection, { cacheMaxAge: 0.25 }, 'fractional seconds')
  const none = resolveOptions({ issuer: ISSUER, projectId: PROJECT })
  t.equal(none.introspection, undefined, 'off by default')
  t.equal(introspectionCredentials(none), undefined)
  const input = { keyFile: { ...KEY_FILE } }
  resolveOptions({ issuer: ISSUER, projectId: PROJECT, introspection: input })
  t.same(input, { keyFile: KEY_FILE }, 'the caller\'s object is not changed')
})
