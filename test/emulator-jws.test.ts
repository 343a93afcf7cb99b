import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import t from 'tap'
import { CompactSign, compactVerify } from 'jose'
import { EMULATOR_ALGORITHMS, type EmulatorAlgorithm } from '../lib/testing/index.js'
import { decodeJws, signJws, verifyJws } from '../lib/testing/jws.js'

// The emulator signs and checks JWS with node:crypto; jose, a separate
// implementation, checks that both directions agree with RFC 7515/7518.

function keyPair (alg: EmulatorAlgorithm): { privateKey: KeyObject, publicKey: KeyObject } {
  if (alg.startsWith('RS')) return generateKeyPairSync('rsa', { modulusLength: 2048 })
  if (alg === 'EdDSA') return generateKeyPairSync('ed25519')
  return generateKeyPairSync('ec', { namedCurve: { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg as 'ES256'] })
}

const pairs = Object.fromEntries(EMULATOR_ALGORITHMS.map((alg) => [alg, keyPair(alg)])) as Record<EmulatorAlgorithm, ReturnType<typeof keyPair>>
const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

t.test('every algorithm: jose verifies what the emulator signs, and the emulator verifies what jose signs', async (t) => {
  for (const alg of EMULATOR_ALGORITHMS) {
    const { privateKey, publicKey } = pairs[alg]
    const token = await signJws({ alg, kid: '1', typ: 'JWT' }, { sub: 'alice', n: 1 }, privateKey)
    const { payload, protectedHeader } = await compactVerify(token, publicKey, { algorithms: [alg] })
    t.same(protectedHeader, { alg, kid: '1', typ: 'JWT' }, alg)
    t.same(JSON.parse(Buffer.from(payload).toString()), { sub: 'alice', n: 1 })
    t.same(decodeJws(token)?.payload, { sub: 'alice', n: 1 })

    const joseToken = await new CompactSign(Buffer.from(JSON.stringify({ sub: 'bob' }))).setProtectedHeader({ alg, kid: '2' }).sign(privateKey)
    const decoded = decodeJws(joseToken)
    if (decoded === undefined) throw new Error('jose\'s JWS did not decode')
    t.same(decoded.header, { alg, kid: '2' })
    t.equal(await verifyJws(decoded, alg, publicKey), true, `${alg}: jose's signature holds`)
    t.equal(await verifyJws(decoded, alg, pairs[alg === 'RS256' ? 'RS384' : 'RS256'].publicKey), false, `${alg}: not with another key`)
  }
})

t.test('a signature does not hold for another alg, a crit header, changed bytes, no signature, or a key of another type', async (t) => {
  const { privateKey, publicKey } = pairs.RS256
  const token = await signJws({ alg: 'RS256' }, { sub: 'alice' }, privateKey)
  const jws = decodeJws(token)
  if (jws === undefined) throw new Error('did not decode')
  t.equal(await verifyJws(jws, 'RS256', publicKey), true)
  t.equal(await verifyJws(jws, 'RS384', publicKey), false, 'the header names RS256')
  const [, payload, signature] = token.split('.')
  const withCrit = await signJws({ alg: 'RS256', crit: ['exp'], exp: 1 } as never, { sub: 'alice' }, privateKey)
  t.equal(await verifyJws(decodeJws(withCrit)!, 'RS256', publicKey), false, 'crit: an extension this code does not understand')
  t.equal(await verifyJws(decodeJws(`${b64({ alg: 'RS256' })}.${b64({ sub: 'mallory' })}.${signature}`)!, 'RS256', publicKey), false, 'another payload')
  t.equal(await verifyJws(decodeJws(`${b64({ alg: 'RS256' })}.${payload}.`)!, 'RS256', publicKey), false, 'an empty signature')
  // Ed25519 takes no digest: crypto.verify fails, which is no valid signature either.
  t.equal(await verifyJws(jws, 'RS256', pairs.EdDSA.publicKey), false, 'an Ed25519 key for RS256')
  const es = decodeJws(await signJws({ alg: 'ES256' }, {}, pairs.ES256.privateKey))!
  t.equal(await verifyJws({ ...es, signature: es.signature.subarray(1) }, 'ES256', pairs.ES256.publicKey), false, 'an R || S of the wrong length')
})

t.test('signing with a key that does not fit the alg rejects', async (t) => {
  await t.rejects(signJws({ alg: 'RS256' }, {}, pairs.EdDSA.privateKey))
})

t.test('decodeJws: three base64url segments whose header and payload are JSON objects, or undefined', async (t) => {
  const header = b64({ alg: 'RS256' })
  const payload = b64({ sub: 'alice' })
  t.same(decodeJws(`${header}.${payload}.c2ln`), { header: { alg: 'RS256' }, payload: { sub: 'alice' }, signingInput: `${header}.${payload}`, signature: Buffer.from('sig') })
  for (const [name, token] of [
    ['two segments', `${header}.${payload}`],
    ['four segments', `${header}.${payload}.c2ln.c2ln`],
    ['an empty payload', `${header}..c2ln`],
    ['a character outside base64url', `${header}.${payload}+.c2ln`],
    ['padding', `${header}.${payload}=.c2ln`],
    ['a header that is not JSON', `${b64('{alg')}.${payload}.c2ln`],
    ['a payload that is not JSON', `${header}.${b64('sub')}.c2ln`],
    ['a header that is an array', `${b64(['RS256'])}.${payload}.c2ln`],
    ['a payload that is null', `${header}.${b64(null)}.c2ln`],
    ['a payload that is a string', `${header}.${b64('"alice"')}.c2ln`],
    ['not a JWS at all', 'not-a-jwt']
  ] as const) {
    t.equal(decodeJws(token), undefined, name)
  }
})
