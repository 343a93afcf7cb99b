import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto'
import t from 'tap'
import { ClientAssertion, readKeyFile, type ClientKey } from '../lib/client-assertion.js'

/*
 * lib/client-assertion.ts on its own: reading Zitadel's application key file,
 * and the private_key_jwt assertions signed with it (RFC 7523 §2.2). The
 * assertions are checked here with node:crypto; the introspection tests check
 * that the emulator, which verifies them as Zitadel does, accepts them.
 */

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const PKCS1 = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string
const PKCS8 = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
const FILE = { type: 'application', keyId: '263786016389947095', key: PKCS1, clientId: '263786016389881559@demo', appId: '263786016389816023' }
const ISSUER = 'https://my-instance.zitadel.cloud'

function decode (jwt: string): { header: Record<string, unknown>, claims: Record<string, unknown>, signed: boolean } {
  const [h, c, s] = jwt.split('.') as [string, string, string]
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    claims: JSON.parse(Buffer.from(c, 'base64url').toString('utf8')),
    signed: verify('sha256', Buffer.from(`${h}.${c}`), createPublicKey(rsa.privateKey), Buffer.from(s, 'base64url'))
  }
}

function keyOf (value: unknown): ClientKey {
  const key = readKeyFile(value)
  if (typeof key === 'string') throw new Error(`refused: ${key}`)
  return key
}

t.test('readKeyFile takes Zitadel\'s application key file as an object or as JSON text, PKCS#1 or PKCS#8', async (t) => {
  for (const [name, value] of [
    ['object, PKCS#1 (as Zitadel writes it)', FILE],
    ['JSON text', JSON.stringify(FILE)],
    ['PKCS#8', { ...FILE, key: PKCS8 }],
    ['without appId', { ...FILE, appId: undefined }]
  ] as const) {
    const key = keyOf(value)
    t.equal(key.keyId, FILE.keyId, `${name}: keyId`)
    t.equal(key.clientId, FILE.clientId, `${name}: clientId`)
    t.equal(key.key.type, 'private', `${name}: a private KeyObject`)
    t.ok(Object.isFrozen(key), `${name}: frozen`)
  }
})

t.test('readKeyFile says what is wrong, without repeating the key', async (t) => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
  const cases: Array<[string, unknown, RegExp]> = [
    ['not JSON', '{"type":', /does not parse/],
    ['null', null, /not an object/],
    ['an array', [FILE], /not an object/],
    ['JSON text of a string', '"x"', /not an object/],
    ['a service user key file', { ...FILE, type: 'serviceaccount' }, /of type "serviceaccount", not "application"/],
    ['no type', { ...FILE, type: undefined }, /of type undefined/],
    ['a type that is no short word', { ...FILE, type: 'x'.repeat(500) }, /of type another value, not "application"/],
    ['no keyId', { ...FILE, keyId: '' }, /without a "keyId"/],
    ['no clientId', { ...FILE, clientId: undefined }, /without a "clientId"/],
    ['no key', { ...FILE, key: 42 }, /without a "key"/],
    ['a key that is no PEM', { ...FILE, key: 'secret-garbage' }, /not a PEM private key/],
    ['a public key', { ...FILE, key: rsa.publicKey.export({ type: 'spki', format: 'pem' }) }, /not a PEM private key/],
    ['an EC key', { ...FILE, key: ec }, /not an RSA key/]
  ]
  for (const [name, value, message] of cases) {
    const result = readKeyFile(value)
    t.type(result, 'string', `${name}: refused`)
    t.match(result, message, `${name}: says why`)
    t.notMatch(String(result), /secret-garbage|PRIVATE KEY/, `${name}: the key is not repeated`)
  }
})

t.test('an assertion is an RS256 JWT for the issuer: kid = keyId, iss = sub = clientId, a short lifetime', async (t) => {
  const assertion = new ClientAssertion(keyOf(FILE), ISSUER)
  const before = Math.floor(Date.now() / 1000)
  const { header, claims, signed } = decode(assertion.current())
  t.ok(signed, 'signed with the key file\'s key')
  t.same(header, { alg: 'RS256', kid: FILE.keyId, typ: 'JWT' })
  t.equal(claims.iss, FILE.clientId)
  t.equal(claims.sub, FILE.clientId)
  t.equal(claims.aud, ISSUER)
  t.ok((claims.iat as number) >= before - 30 && (claims.iat as number) <= before - 29, 'iat is 30 s ago: a clock a little ahead of Zitadel\'s is no problem')
  t.equal((claims.exp as number) - (claims.iat as number), 300, 'five minutes, well within Zitadel\'s hour')
  t.type(claims.jti, 'string')
})

t.test('an assertion is reused until a minute before it expires, then signed anew; a clock set back signs anew', async (t) => {
  const realNow = Date.now
  t.teardown(() => { Date.now = realNow })
  let now = realNow()
  Date.now = () => now
  const assertion = new ClientAssertion(keyOf(FILE), ISSUER)
  now = Math.floor(now / 1000) * 1000 // on a whole second, so the boundaries below are exact
  const first = assertion.current()
  now += 209_000
  t.equal(assertion.current(), first, '209 s later: the same assertion (61 s left)')
  now += 1000
  const second = assertion.current()
  t.not(second, first, '210 s later: a new one (60 s left would be too close)')
  t.equal(decode(second).claims.iat, now / 1000 - 30)
  t.not(decode(second).claims.jti, decode(first).claims.jti, 'with its own jti')
  now -= 30_000
  t.equal(assertion.current(), second, 'the wall clock stepped back 30 s: within the backdating, the same one')
  now -= 1000
  const third = assertion.current()
  t.not(third, second, 'stepped back further: its iat would be in the future, so a new one')
  t.equal(decode(third).claims.iat, now / 1000 - 30)
  assertion.drop()
  t.not(assertion.current(), third, 'dropped (the IdP refused it): a new one')
})
