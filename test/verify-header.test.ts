import { constants, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { SignJWT, exportJWK, type JWK } from 'jose'
import t from 'tap'
import { importVerificationKey, keyFitsAlgorithm, verifySignature, type VerificationKey } from '../lib/jws.js'
import { SUPPORTED_ALGORITHMS } from '../lib/options.js'
import { appFor, bearer, ES256_ONLY, issuerFor, setup } from './helpers/app.js'
import { accepted, refused } from './helpers/assertions.js'
import { startIssuer, type Alg, type IssuerKey, type TestIssuer } from '../fixtures/issuer.js'

/*
 * The header and signature rules of lib/verify.ts and lib/jws.ts, through a
 * real app and a real issuer: which algorithms, types and keys a token may
 * use, and that any change to a signed token is caught.
 */

/*
 * Keys and extra JWKs are added before the app is built: the app loads keys
 * once ready, and a kid met within the cooldown after that is not fetched again.
 */

/** One RSA key pair for the tests that sign locally (RSA keys take a while to generate). */
const RSA = generateKeyPairSync('rsa', { modulusLength: 2048 })

const b64 = (value: string | Buffer): string => Buffer.from(value).toString('base64url')

/** A compact JWS over exactly this header and payload text, signed with node:crypto (no library checks in the way). */
function signRaw (alg: string, key: KeyObject, header: Record<string, unknown>, payload: string): string {
  const input = `${b64(JSON.stringify(header))}.${b64(payload)}`
  return `${input}.${rawSignature(alg, key, Buffer.from(input)).toString('base64url')}`
}

function rawSignature (alg: string, key: KeyObject, data: Buffer): Buffer {
  const hash = `sha${alg.slice(2)}`
  if (alg === 'EdDSA') return sign(null, data, key)
  if (alg.startsWith('RS')) return sign(hash, data, key)
  if (alg.startsWith('PS')) return sign(hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8 })
  return sign(hash, data, { key, dsaEncoding: 'ieee-p1363' })
}

/** Zitadel-shaped claims valid for `issuer` right now. */
function claimsFor (issuer: TestIssuer): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  return { iss: issuer.url, sub: '263785111111111111', aud: [issuer.projectId], exp: now + 3600, iat: now, nbf: now }
}

/** The same key pair under another algorithm name (the JWK published stays as it was). */
const as = (key: IssuerKey, alg: Alg): IssuerKey => ({ ...key, alg })

function segments (token: string): [string, string, string] {
  return token.split('.') as [string, string, string]
}

/** Replaces the character at `index` with another base64url character. */
function flip (segment: string, index: number): string {
  const c = segment[index] === 'A' ? 'B' : 'A'
  return segment.slice(0, index) + c + segment.slice(index + 1)
}

// ---------------------------------------------------------------------------
// Algorithms

t.test('every supported algorithm verifies end to end when it is allowed, and only then', async (t) => {
  for (const alg of SUPPORTED_ALGORITHMS) {
    t.test(alg, async (t) => {
      const { issuer, me } = await setup(t, { algorithms: [alg] }, { alg })
      const token = await issuer.token()
      t.equal(JSON.parse(Buffer.from(segments(token)[0], 'base64url').toString()).alg, alg, 'the token is signed with ' + alg)
      accepted(t, await me(token), alg)

      const others = await appFor(t, issuer, { algorithms: SUPPORTED_ALGORITHMS.filter((a) => a !== alg) })
      refused(t, await others.me(token), 'TOKEN_UNSUPPORTED', `${alg} with every other algorithm allowed`)
    })
  }
})

t.test('EdDSA verifies with an Ed448 key too', async (t) => {
  const issuer = await issuerFor(t)
  const { privateKey, publicKey } = generateKeyPairSync('ed448')
  issuer.extraJwks.push({ ...publicKey.export({ format: 'jwk' }), kid: 'ed448', alg: 'EdDSA', use: 'sig' })
  const { me } = await appFor(t, issuer, { algorithms: ['EdDSA'] })
  const token = signRaw('EdDSA', privateKey, { alg: 'EdDSA', kid: 'ed448', typ: 'JWT' }, JSON.stringify(claimsFor(issuer)))
  accepted(t, await me(token), 'Ed448')
})

t.test('by default every algorithm of Zitadel\'s web keys is accepted, and no other; `algorithms` narrows it', async (t) => {
  const issuer = await issuerFor(t)
  const keys = await Promise.all((['RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const).map((alg) => issuer.addKey(alg)))
  const ps = await issuer.addKey('PS256')
  const { me } = await appFor(t, issuer)
  t.same(issuer.keys[0]?.alg, 'RS256')
  accepted(t, await me(await issuer.token()), 'RS256 by default')
  for (const key of keys) accepted(t, await me(await issuer.token({ key })), `${key.alg} by default`)
  refused(t, await me(await issuer.token({ key: ps })), 'TOKEN_UNSUPPORTED', 'PS256 (no Zitadel web key uses it) is not accepted by default')

  const narrowed = await appFor(t, issuer, { algorithms: ['RS256'] })
  accepted(t, await narrowed.me(await issuer.token()), 'RS256 when listed')
  for (const key of keys) refused(t, await narrowed.me(await issuer.token({ key })), 'TOKEN_UNSUPPORTED', `${key.alg} when only RS256 is listed`)
})

t.test('alg "none" is refused, whatever the options allow', async (t) => {
  const { issuer, me } = await setup(t, { algorithms: [...SUPPORTED_ALGORITHMS] }, { alg: 'ES256' })
  const kid = issuer.keys[0]?.kid
  const unsigned = `${b64(JSON.stringify({ alg: 'none', kid, typ: 'JWT' }))}.${b64(JSON.stringify(claimsFor(issuer)))}`
  refused(t, await me(`${unsigned}.`), 'TOKEN_MALFORMED', 'alg none, empty signature')
  refused(t, await me(`${unsigned}.${b64('junk')}`), 'TOKEN_UNSUPPORTED', 'alg none, junk signature')
  for (const alg of ['None', 'NONE', 'nOnE']) {
    const token = `${b64(JSON.stringify({ alg, kid, typ: 'JWT' }))}.${b64(JSON.stringify(claimsFor(issuer)))}.${b64('x')}`
    refused(t, await me(token), 'TOKEN_UNSUPPORTED', `alg ${alg}`)
  }
})

t.test('HS256 keyed with the public key (algorithm confusion) is refused', async (t) => {
  const { issuer, me } = await setup(t, { algorithms: [...SUPPORTED_ALGORITHMS] })
  const key = issuer.keys[0] as IssuerKey
  const publicKey = createPublicKey(key.privateKey)
  const secrets = {
    'SPKI PEM': Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })),
    'PKCS#1 PEM': Buffer.from(publicKey.export({ type: 'pkcs1', format: 'pem' })),
    'SPKI DER': publicKey.export({ type: 'spki', format: 'der' }),
    'JWK JSON': Buffer.from(JSON.stringify(key.publicJwk))
  }
  for (const [name, secret] of Object.entries(secrets)) {
    const token = await new SignJWT(claimsFor(issuer)).setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'JWT' }).sign(secret)
    refused(t, await me(token), 'TOKEN_UNSUPPORTED', `HS256 with the ${name} as secret`)
  }
  const hs512 = await new SignJWT(claimsFor(issuer)).setProtectedHeader({ alg: 'HS512', kid: key.kid, typ: 'JWT' }).sign(secrets['SPKI PEM'])
  refused(t, await me(hs512), 'TOKEN_UNSUPPORTED', 'HS512')
})

t.test('alg that is not a string is refused', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  const key = issuer.keys[0] as IssuerKey
  for (const alg of [['RS256'], { RS256: true }, 256, null]) {
    const token = signRaw('ES256', key.privateKey, { alg, kid: key.kid, typ: 'JWT' }, JSON.stringify(claimsFor(issuer)))
    refused(t, await me(token), 'TOKEN_UNSUPPORTED', `alg ${JSON.stringify(alg)}`)
  }
  const noAlg = signRaw('ES256', key.privateKey, { kid: key.kid, typ: 'JWT' }, JSON.stringify(claimsFor(issuer)))
  refused(t, await me(noAlg), 'TOKEN_UNSUPPORTED', 'no alg')
})

// ---------------------------------------------------------------------------
// Algorithm and key binding

t.test("a header alg other than the key's JWK alg is refused, even when both are allowed", async (t) => {
  const { issuer, me } = await setup(t, { algorithms: ['RS256', 'RS384', 'PS256'] })
  const key = issuer.keys[0] as IssuerKey
  t.equal(key.publicJwk.alg, 'RS256')
  accepted(t, await me(await issuer.token({ key })), 'RS256 on the RS256 key')
  // A genuine RS384 signature by the same private key: only the binding can refuse it.
  refused(t, await me(await issuer.token({ key: as(key, 'RS384') })), 'TOKEN_UNSUPPORTED', 'RS384 on an RS256 key')
  refused(t, await me(await issuer.token({ key: as(key, 'PS256') })), 'TOKEN_UNSUPPORTED', 'PS256 on an RS256 key')
})

t.test('a header alg that does not suit the key type is refused', async (t) => {
  const issuer = await issuerFor(t)
  // Keys without a JWK alg: only the key type can refuse the algorithm.
  const rsa = await issuer.addKey('RS256', { jwk: { alg: undefined } })
  const p256 = await issuer.addKey('ES256', { jwk: { alg: undefined } })
  const ed = await issuer.addKey('EdDSA', { jwk: { alg: undefined } })
  const { me } = await appFor(t, issuer, { algorithms: [...SUPPORTED_ALGORITHMS] })
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  const claims = JSON.stringify(claimsFor(issuer))

  accepted(t, await me(await issuer.token({ key: rsa })), 'RS256 on an RSA key without alg')
  accepted(t, await me(await issuer.token({ key: p256 })), 'ES256 on a P-256 key without alg')
  accepted(t, await me(await issuer.token({ key: ed })), 'EdDSA on an Ed25519 key without alg')

  refused(t, await me(signRaw('ES256', ec, { alg: 'ES256', kid: rsa.kid, typ: 'JWT' }, claims)), 'TOKEN_UNSUPPORTED', 'ES256 with the kid of an RSA key')
  refused(t, await me(signRaw('EdDSA', ed.privateKey, { alg: 'EdDSA', kid: rsa.kid, typ: 'JWT' }, claims)), 'TOKEN_UNSUPPORTED', 'EdDSA with the kid of an RSA key')
  refused(t, await me(signRaw('RS256', rsa.privateKey, { alg: 'RS256', kid: p256.kid, typ: 'JWT' }, claims)), 'TOKEN_UNSUPPORTED', 'RS256 with the kid of an EC key')
  // Same key, same curve family, other curve: ES384 demands P-384.
  refused(t, await me(signRaw('ES384', p256.privateKey, { alg: 'ES384', kid: p256.kid, typ: 'JWT' }, claims)), 'TOKEN_UNSUPPORTED', 'ES384 on a P-256 key')
  refused(t, await me(signRaw('ES256', p256.privateKey, { alg: 'ES256', kid: ed.kid, typ: 'JWT' }, claims)), 'TOKEN_UNSUPPORTED', 'ES256 with the kid of an Ed25519 key')
})

t.test('PS256 on an RSA key whose JWK names no alg is allowed when PS256 is', async (t) => {
  const issuer = await issuerFor(t)
  const rsa = await issuer.addKey('RS256', { jwk: { alg: undefined } })
  const { me } = await appFor(t, issuer, { algorithms: ['RS256', 'PS256'] })
  t.notOk('alg' in JSON.parse(JSON.stringify(rsa.publicJwk)), 'the published JWK has no alg')
  accepted(t, await me(await issuer.token({ key: as(rsa, 'PS256') })), 'PS256')
  accepted(t, await me(await issuer.token({ key: rsa })), 'RS256, same key')

  const rsOnly = await appFor(t, issuer, { algorithms: ['RS256'] })
  refused(t, await rsOnly.me(await issuer.token({ key: as(rsa, 'PS256') })), 'TOKEN_UNSUPPORTED', 'PS256 when only RS256 is allowed')
})

// ---------------------------------------------------------------------------
// typ, crit, kid

t.test('typ: JWT and at+jwt in any case, with or without application/, are accepted', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  for (const typ of ['JWT', 'jwt', 'at+jwt', 'application/at+jwt', 'AT+JWT', 'application/jwt', 'Application/At+Jwt']) {
    accepted(t, await me(await issuer.token({ header: { typ } })), `typ ${typ}`)
  }
})

t.test('typ: absent is accepted (zitadel/oidc before v2.9.0 sent none)', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  const token = await issuer.token({ header: { typ: undefined } })
  t.notOk('typ' in JSON.parse(Buffer.from(segments(token)[0], 'base64url').toString()), 'the header has no typ')
  accepted(t, await me(token), 'no typ')
})

t.test('typ: any other type is refused', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  for (const typ of ['logout+jwt', 'JOSE', 'JOSE+JSON', 'id+jwt', 'secevent+jwt', 'application/logout+jwt', 'at+jwt+x', 'JWT ', ' JWT', 'JWT\n', 'xjwt', 'application/', '']) {
    refused(t, await me(await issuer.token({ header: { typ } })), 'TOKEN_UNSUPPORTED', `typ ${JSON.stringify(typ)}`)
  }
  for (const typ of [1, ['JWT'], { JWT: true }, null, true]) {
    refused(t, await me(await issuer.token({ header: { typ } })), 'TOKEN_UNSUPPORTED', `typ ${JSON.stringify(typ)}`)
  }
})

t.test('crit in the header is refused, whatever it lists', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  const key = issuer.keys[0] as IssuerKey
  const claims = JSON.stringify(claimsFor(issuer))
  const header = { alg: 'ES256', kid: key.kid, typ: 'JWT' }
  accepted(t, await me(signRaw('ES256', key.privateKey, header, claims)), 'the same token without crit')
  for (const crit of [['exp'], ['b64'], [], 'exp', null]) {
    const token = signRaw('ES256', key.privateKey, { ...header, crit, exp: 1, b64: true }, claims)
    refused(t, await me(token), 'TOKEN_UNSUPPORTED', `crit ${JSON.stringify(crit)}`)
  }
})

t.test('kid missing, empty or not a string is a malformed token', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  accepted(t, await me(await issuer.token()), 'a token with kid (the keys are loaded)')
  const fetches = issuer.requests.jwks
  for (const kid of [undefined, '', 1, ['x'], null]) {
    refused(t, await me(await issuer.token({ header: { kid } })), 'TOKEN_MALFORMED', `kid ${JSON.stringify(kid)}`)
  }
  t.equal(issuer.requests.jwks, fetches, 'a token without a usable kid causes no key fetch')
})

// ---------------------------------------------------------------------------
// Keys only ever come from the issuer's JWKS

t.test('jku, x5u, jwk and x5c in the header are ignored', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  const real = issuer.keys[0] as IssuerKey
  // The attacker runs a real JWKS too, publishing their key under the real kid.
  const attacker = await startIssuer({ alg: 'ES256' })
  t.teardown(() => attacker.close())
  const evil = await attacker.addKey('ES256', { jwk: { kid: real.kid } })
  const jku = `${attacker.url}/oauth/v2/keys`
  const embedded = { jku, x5u: `${attacker.url}/cert.pem`, jwk: evil.publicJwk, x5c: [createPublicKey(evil.privateKey).export({ type: 'spki', format: 'der' }).toString('base64')] }

  accepted(t, await me(await issuer.token({ header: embedded })), 'a genuine token that also carries jku/x5u/jwk/x5c')

  const forged = await attacker.token({ key: evil, header: { ...embedded, kid: real.kid }, claims: { iss: issuer.url } })
  refused(t, await me(forged), 'SIGNATURE_INVALID', 'attacker-signed, attacker jwk/jku, known kid')

  const unknown = await attacker.token({ key: evil, header: { ...embedded, kid: 'attacker-kid' }, claims: { iss: issuer.url } })
  refused(t, await me(unknown), 'KEY_UNKNOWN', 'attacker-signed, attacker jwk/jku, unknown kid')

  t.equal(attacker.requests.jwks, 0, "the attacker's jku was never fetched")
  t.equal(attacker.requests.discovery, 0, "the attacker's issuer was never asked for discovery")
})

// ---------------------------------------------------------------------------
// Signature tampering

t.test('any change to a signed token breaks its signature', async (t) => {
  const { issuer, app, me } = await setup(t)
  const token = await issuer.token()
  accepted(t, await me(token), 'the untouched token')
  const [header, payload, signature] = segments(token)

  refused(t, await me(`${header}.${flip(payload, 10)}.${signature}`), 'SIGNATURE_INVALID', 'one payload character changed')
  refused(t, await me(`${header}.${payload}.${flip(signature, 100)}`), 'SIGNATURE_INVALID', 'one signature character changed')

  // The classic forgery: new claims, old signature.
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
  claims.sub = 'someone-else'
  claims[`urn:zitadel:iam:org:project:${issuer.projectId}:roles`] = { admin: { 1: 'x' } }
  const forged = `${header}.${b64(JSON.stringify(claims))}.${signature}`
  refused(t, await me(forged), 'SIGNATURE_INVALID', 'payload replaced')
  const admin = await app.inject({ url: '/admin', headers: bearer(forged) })
  refused(t, admin, 'SIGNATURE_INVALID', 'payload replaced to gain a role')

  // The header is signed too.
  const otherHeader = b64(JSON.stringify({ ...JSON.parse(Buffer.from(header, 'base64url').toString()), typ: 'at+jwt' }))
  refused(t, await me(`${otherHeader}.${payload}.${signature}`), 'SIGNATURE_INVALID', 'header changed')

  const bytes = Buffer.from(signature, 'base64url')
  refused(t, await me(`${header}.${payload}.${b64(bytes.subarray(0, 128))}`), 'SIGNATURE_INVALID', 'RSA signature truncated')
  refused(t, await me(`${header}.${payload}.${b64(Buffer.concat([bytes, Buffer.from([0])]))}`), 'SIGNATURE_INVALID', 'RSA signature extended')
  refused(t, await me(`${header}.${payload}.${b64(Buffer.alloc(256, 0xff))}`), 'SIGNATURE_INVALID', 'RSA signature all ones')
})

t.test("a signature by another of the issuer's keys, under this key's kid, is refused", async (t) => {
  const issuer = await issuerFor(t)
  const first = issuer.keys[0] as IssuerKey
  const second = await issuer.addKey('RS256')
  const { me } = await appFor(t, issuer)
  accepted(t, await me(await issuer.token({ key: second })), 'the second key under its own kid')
  const swapped = await issuer.token({ key: second, header: { kid: first.kid } })
  refused(t, await me(swapped), 'SIGNATURE_INVALID', 'signed by the second key, kid of the first')
})

t.test('ECDSA signatures must be R || S of the exact length', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  const key = issuer.keys[0] as IssuerKey
  const token = await issuer.token()
  accepted(t, await me(token), 'the untouched ES256 token')
  const [header, payload, signature] = segments(token)
  const bytes = Buffer.from(signature, 'base64url')
  t.equal(bytes.length, 64)

  refused(t, await me(`${header}.${payload}.${b64(bytes.subarray(0, 63))}`), 'SIGNATURE_INVALID', 'truncated by one byte')
  refused(t, await me(`${header}.${payload}.${b64(bytes.subarray(0, 32))}`), 'SIGNATURE_INVALID', 'R only')
  refused(t, await me(`${header}.${payload}.${b64(Buffer.concat([bytes, Buffer.from([0])]))}`), 'SIGNATURE_INVALID', 'one byte appended')
  refused(t, await me(`${header}.${payload}.${b64(Buffer.alloc(64))}`), 'SIGNATURE_INVALID', 'all zero')
  const zero = Buffer.from([0])
  const padded = Buffer.concat([zero, bytes.subarray(0, 32), zero, bytes.subarray(32)])
  refused(t, await me(`${header}.${payload}.${b64(padded)}`), 'SIGNATURE_INVALID', 'R and S each padded with a zero byte')
  // A genuine signature by the right key, but DER-encoded as node and OpenSSL produce by default.
  const der = sign('sha256', Buffer.from(`${header}.${payload}`), { key: key.privateKey, dsaEncoding: 'der' })
  refused(t, await me(`${header}.${payload}.${b64(der)}`), 'SIGNATURE_INVALID', 'DER-encoded signature')
})

t.test('EdDSA signatures of the wrong length are refused, not an error', async (t) => {
  const { issuer, me } = await setup(t, { algorithms: ['EdDSA'] }, { alg: 'EdDSA' })
  const token = await issuer.token()
  accepted(t, await me(token), 'the untouched EdDSA token')
  const [header, payload, signature] = segments(token)
  const bytes = Buffer.from(signature, 'base64url')
  refused(t, await me(`${header}.${payload}.${b64(bytes.subarray(0, 63))}`), 'SIGNATURE_INVALID', 'truncated')
  refused(t, await me(`${header}.${payload}.${b64(Buffer.concat([bytes, bytes]))}`), 'SIGNATURE_INVALID', 'doubled')
})

// ---------------------------------------------------------------------------
// Malformed tokens

t.test('a token that is not a compact JWS of two JSON objects is malformed', async (t) => {
  const { issuer, app, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  const key = issuer.keys[0] as IssuerKey
  const token = await issuer.token()
  const [header, payload, signature] = segments(token)
  const goodHeader = { alg: 'ES256', kid: key.kid, typ: 'JWT' }

  const cases: Record<string, string> = {
    'two segments': `${header}.${payload}`,
    'four segments': `${token}.${signature}`,
    'one segment': header,
    'empty header': `.${payload}.${signature}`,
    'empty payload': `${header}..${signature}`,
    // Characters a Bearer credential may hold (RFC 6750 §2.1) but base64url may not.
    'base64 "+" in the payload': `${header}.${payload.slice(0, -2)}+A.${signature}`,
    'base64 "/" in the signature': `${header}.${payload}.${signature.slice(0, -2)}/A`,
    '"~" in the header': `${header.slice(0, -2)}~A.${payload}.${signature}`,
    'trailing padding "="': `${token}=`,
    'header not JSON': `${b64('{"alg":"ES256",')}.${payload}.${signature}`,
    'header a JSON array': `${b64(JSON.stringify([goodHeader]))}.${payload}.${signature}`,
    'header JSON null': `${b64('null')}.${payload}.${signature}`,
    'header a JSON string': `${b64(JSON.stringify(JSON.stringify(goodHeader)))}.${payload}.${signature}`,
    'payload not JSON, correctly signed': signRaw('ES256', key.privateKey, goodHeader, 'not json'),
    'payload truncated JSON, correctly signed': signRaw('ES256', key.privateKey, goodHeader, JSON.stringify(claimsFor(issuer)).slice(0, -1)),
    'payload a JSON array, correctly signed': signRaw('ES256', key.privateKey, goodHeader, JSON.stringify([claimsFor(issuer)])),
    'payload JSON null, correctly signed': signRaw('ES256', key.privateKey, goodHeader, 'null'),
    'payload a JSON number, correctly signed': signRaw('ES256', key.privateKey, goodHeader, '42')
  }
  for (const [name, bad] of Object.entries(cases)) {
    refused(t, await me(bad), 'TOKEN_MALFORMED', name)
  }
  accepted(t, await me(signRaw('ES256', key.privateKey, goodHeader, JSON.stringify(claimsFor(issuer)))), 'the raw signer makes good tokens')

  // Not even a Bearer credential: the header check answers 400 first, so these go to verify() directly.
  const direct: Record<string, string> = {
    'padding "=" inside': `${header}=.${payload}.${signature}`,
    'a space inside': `${header}.${payload.slice(0, 5)} ${payload.slice(5)}.${signature}`,
    'a non-ASCII character': `${header}.${payload}é.${signature}`,
    'a newline at the end': `${token}\n`,
    'the empty string': ''
  }
  for (const [name, bad] of Object.entries(direct)) {
    await t.rejects(app.zitadel.verify(bad), { code: 'ZITADEL_AUTH_TOKEN_MALFORMED', statusCode: 401 }, `verify(): ${name}`)
  }
  t.equal((await app.inject({ url: '/me', headers: bearer(direct['a space inside'] as string) })).statusCode, 400, 'over HTTP such a token is a 400')
})

// ---------------------------------------------------------------------------
// JWKS key hygiene

t.test('importVerificationKey refuses keys a JWKS must not hold', async (t) => {
  const rsa = RSA
  const pub = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }
  const ok = importVerificationKey(pub)
  if (typeof ok === 'string') throw new Error(`the good key was refused: ${ok}`)
  t.equal(ok.kid, 'k1')
  t.equal(ok.alg, 'RS256')
  t.equal(ok.key.type, 'public')
  t.ok(Object.isFrozen(ok), 'frozen')
  t.equal(typeof importVerificationKey({ ...pub, use: undefined, alg: undefined }), 'object', 'use and alg are optional')
  t.equal(typeof importVerificationKey({ ...pub, key_ops: ['verify'] }), 'object', 'key_ops with verify')

  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' })
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const ecPriv = ec.privateKey.export({ format: 'jwk' })
  const ecPub = ec.publicKey.export({ format: 'jwk' })
  const edPriv = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' })
  const cases: Array<[string, unknown, string]> = [
    ['null', null, 'not an object'],
    ['a string', 'key', 'not an object'],
    ['an array', [pub], 'not an object'],
    ['no kid', { ...pub, kid: undefined }, 'no kid'],
    ['empty kid', { ...pub, kid: '' }, 'no kid'],
    ['numeric kid', { ...pub, kid: 1 }, 'no kid'],
    ['use enc', { ...pub, use: 'enc' }, 'not a signing key'],
    ['use SIG', { ...pub, use: 'SIG' }, 'not a signing key'],
    ['key_ops without verify', { ...pub, key_ops: ['encrypt', 'sign'] }, 'key_ops without verify'],
    ['key_ops empty', { ...pub, key_ops: [] }, 'key_ops without verify'],
    ['key_ops a string', { ...pub, key_ops: 'verify' }, 'key_ops without verify'],
    ['kty oct', { kty: 'oct', k: b64('secret'), kid: 'k1', alg: 'HS256' }, 'unsupported kty'],
    ['no kty', { ...pub, kty: undefined }, 'unsupported kty'],
    ['a private RSA key', { ...rsa.privateKey.export({ format: 'jwk' }), kid: 'k1' }, 'a private key'],
    ['a private EC key', { ...ecPriv, kid: 'k1' }, 'a private key'],
    ['a private OKP key', { ...edPriv, kid: 'k1' }, 'a private key'],
    ['alg HS256 on an RSA key', { ...pub, alg: 'HS256' }, 'unsupported alg'],
    ['alg RSA-OAEP', { ...pub, alg: 'RSA-OAEP' }, 'unsupported alg'],
    ['alg none', { ...pub, alg: 'none' }, 'unsupported alg'],
    ['alg toString', { ...pub, alg: 'toString' }, 'unsupported alg'],
    ['alg not a string', { ...pub, alg: 256 }, 'unsupported alg'],
    ['a one-byte modulus', { ...pub, n: 'AA' }, 'RSA key shorter than 2048 bits'],
    ['an EC point off the curve', { ...ecPub, x: ecPub.y, y: ecPub.x, kid: 'k1' }, 'not a valid public key'],
    ['RSA without e', { ...pub, e: undefined }, 'not a valid public key'],
    ['an unknown curve', { kty: 'EC', crv: 'P-999', x: 'AA', y: 'AA', kid: 'k1' }, 'not a valid public key'],
    ['a 1024-bit RSA key', { ...small, kid: 'k1' }, 'RSA key shorter than 2048 bits']
  ]
  for (const [name, jwk, reason] of cases) {
    t.equal(importVerificationKey(jwk), reason, name)
  }
})

t.test('a token signed with a key the JWKS publishes unusably gets KEY_UNKNOWN', async (t) => {
  const issuer = await issuerFor(t)
  const claims = JSON.stringify(claimsFor(issuer))
  const rsa = RSA.privateKey
  const pub = { ...(await exportJWK(createPublicKey(rsa))), alg: 'RS256' }
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey
  const smallPub = await exportJWK(createPublicKey(small))
  const privateJwk = await exportJWK(rsa)

  // Each flawed JWK holds the signing key under its own kid; the same key is also
  // published cleanly under 'clean', which proves the flaw is what refuses it.
  const flawed: Record<string, JWK> = {
    'use enc': { ...pub, kid: 'enc', use: 'enc' },
    'key_ops without verify': { ...pub, kid: 'ops', key_ops: ['encrypt'] },
    'a private JWK': { ...privateJwk, kid: 'private', alg: 'RS256' }
  }
  issuer.extraJwks.push({ ...pub, kid: 'clean', use: 'sig' }, ...Object.values(flawed), { ...smallPub, kid: 'small', alg: 'RS256' })
  issuer.extraJwks.push({ kty: 'oct', k: b64('secret'), kid: 'oct', alg: 'HS256' })
  const { me } = await appFor(t, issuer)

  accepted(t, await me(signRaw('RS256', rsa, { alg: 'RS256', kid: 'clean', typ: 'JWT' }, claims)), 'the clean copy of the key')
  for (const [name, jwk] of Object.entries(flawed)) {
    refused(t, await me(signRaw('RS256', rsa, { alg: 'RS256', kid: jwk.kid, typ: 'JWT' }, claims)), 'KEY_UNKNOWN', name)
  }
  // jose refuses to sign with RSA below 2048 bits; node:crypto does not.
  refused(t, await me(signRaw('RS256', small, { alg: 'RS256', kid: 'small', typ: 'JWT' }, claims)), 'KEY_UNKNOWN', 'a 1024-bit RSA key')
  refused(t, await me(signRaw('RS256', rsa, { alg: 'RS256', kid: 'oct', typ: 'JWT' }, claims)), 'KEY_UNKNOWN', 'the kid of a kty oct key')
})

t.test('a key without kid in the JWKS cannot be used', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
  issuer.extraJwks.push({ ...(await exportJWK(createPublicKey(ec))), alg: 'ES256' })
  const { me } = await appFor(t, issuer, ES256_ONLY)
  const claims = JSON.stringify(claimsFor(issuer))
  refused(t, await me(signRaw('ES256', ec, { alg: 'ES256', kid: 'whatever', typ: 'JWT' }, claims)), 'KEY_UNKNOWN', 'any kid')
})

// ---------------------------------------------------------------------------
// Unit tests of lib/jws.ts

t.test('keyFitsAlgorithm binds each algorithm to its key type and curve', async (t) => {
  const key = (kp: { publicKey: KeyObject }, alg?: string): VerificationKey => ({ kid: 'k', alg, key: kp.publicKey })
  const rsa = RSA
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' })
  const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' })
  const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' })
  const ed25519 = generateKeyPairSync('ed25519')
  const ed448 = generateKeyPairSync('ed448')
  const x25519 = generateKeyPairSync('x25519')
  const fits: Record<string, Array<{ publicKey: KeyObject }>> = {
    RS256: [rsa],
    RS384: [rsa],
    RS512: [rsa],
    PS256: [rsa],
    PS384: [rsa],
    PS512: [rsa],
    ES256: [p256],
    ES384: [p384],
    ES512: [p521],
    EdDSA: [ed25519, ed448]
  }
  const all = [rsa, p256, p384, p521, k1, ed25519, ed448, x25519]
  for (const alg of SUPPORTED_ALGORITHMS) {
    for (const kp of all) {
      const expected = fits[alg]?.includes(kp) ?? false
      const details = `${kp.publicKey.asymmetricKeyType} ${kp.publicKey.asymmetricKeyDetails?.namedCurve ?? ''}`
      t.equal(keyFitsAlgorithm(key(kp), alg), expected, `${alg} on ${details}`)
    }
  }
  t.equal(keyFitsAlgorithm(key(rsa, 'RS256'), 'RS256'), true, 'JWK alg equal to the header alg')
  t.equal(keyFitsAlgorithm(key(rsa, 'RS256'), 'RS512'), false, 'JWK alg RS256, header RS512')
  t.equal(keyFitsAlgorithm(key(rsa, 'PS256'), 'RS256'), false, 'JWK alg PS256, header RS256')
  t.equal(keyFitsAlgorithm(key(p256, 'ES384'), 'ES256'), false, 'JWK alg wins even when the curve fits')
})

t.test('verifySignature checks each algorithm with its own hash and padding', async (t) => {
  const pairs: Record<Alg, { privateKey: KeyObject, publicKey: KeyObject }> = {
    RS256: RSA,
    RS384: RSA,
    RS512: RSA,
    PS256: RSA,
    PS384: RSA,
    PS512: RSA,
    ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }),
    ES384: generateKeyPairSync('ec', { namedCurve: 'P-384' }),
    ES512: generateKeyPairSync('ec', { namedCurve: 'P-521' }),
    EdDSA: generateKeyPairSync('ed25519')
  }
  const input = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0'
  for (const alg of SUPPORTED_ALGORITHMS) {
    const { privateKey, publicKey } = pairs[alg]
    const key: VerificationKey = { kid: 'k', alg, key: publicKey }
    const signature = rawSignature(alg, privateKey, Buffer.from(input))
    t.equal(await verifySignature(alg, key, input, signature), true, `${alg}: good signature`)
    t.equal(await verifySignature(alg, key, `${input}x`, signature), false, `${alg}: other input`)
    const bad = Buffer.from(signature)
    bad[5] = (bad[5] as number) ^ 1
    t.equal(await verifySignature(alg, key, input, bad), false, `${alg}: one bit flipped`)
  }
  // RS and PS differ only in padding; SHA-256 and SHA-384 only in the hash.
  const rsa = pairs.RS256
  const rsaKey: VerificationKey = { kid: 'k', alg: undefined, key: rsa.publicKey }
  t.equal(await verifySignature('PS256', rsaKey, input, rawSignature('RS256', rsa.privateKey, Buffer.from(input))), false, 'an RS256 signature is not a PS256 one')
  t.equal(await verifySignature('RS384', rsaKey, input, rawSignature('RS256', rsa.privateKey, Buffer.from(input))), false, 'an RS256 signature is not an RS384 one')
  t.equal(await verifySignature('PS384', rsaKey, input, rawSignature('PS256', rsa.privateKey, Buffer.from(input))), false, 'a PS256 signature is not a PS384 one')
  // PS256 salt must be 32 bytes (RFC 7518 §3.5).
  const saltless = sign('sha256', Buffer.from(input), { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 0 })
  t.equal(await verifySignature('PS256', rsaKey, input, saltless), false, 'PS256 with an empty salt')
})

t.test('verifySignature waits on the thread pool for at most 4 x its size at once; beyond that it checks on the spot', async (t) => {
  const { privateKey, publicKey } = RSA
  const key: VerificationKey = { kid: 'k', alg: 'RS256', key: publicKey }
  const input = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0'
  const good = rawSignature('RS256', privateKey, Buffer.from(input))
  const bad = Buffer.from(good)
  bad[9] = (bad[9] as number) ^ 1
  const cap = 4 * (Number(process.env.UV_THREADPOOL_SIZE) || 4)
  const waiting = Array.from({ length: cap }, () => verifySignature('RS256', key, input, good))
  t.ok(waiting.every((r) => r instanceof Promise), `the first ${cap} go to the pool`)
  const onTheSpot = [verifySignature('RS256', key, input, good), verifySignature('RS256', key, input, bad)]
  t.same(onTheSpot, [true, false], 'the next ones are answered at once, and right')
  t.same(await Promise.all(waiting), Array(cap).fill(true), 'the pooled ones hold too')
  t.type(verifySignature('RS256', key, input, good), Promise, 'once they are done, the pool is used again')
})
