import { sign } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import t from 'tap'
import { ZitadelUser } from '../lib/user.js'
import { withAlgorithm } from './helpers/app.js'
import { accepted, refused } from './helpers/assertions.js'
import { CLIENT_ID, ORG_ID, SUB, type IssuerKey, type TestIssuer } from './helpers/issuer.js'

/*
 * The claim rules of lib/verify.ts (checkClaims), through a real app and a
 * real issuer: who issued the token, for whom, when it is valid, and what
 * else it must (not) carry.
 */

/** ES256: key generation is instant, and the claim rules do not depend on the algorithm. */
const { issuerFor, testAppFor: appFor, testSetup: setup } = withAlgorithm('ES256')

const now = (): number => Math.floor(Date.now() / 1000)
const b64 = (value: string): string => Buffer.from(value).toString('base64url')

/**
 * An ES256 token over exactly this payload text, signed with the issuer's first
 * key: for JSON that JSON.stringify cannot write (1e400).
 */
function rawToken (issuer: TestIssuer, payload: string): string {
  const key = issuer.keys[0] as IssuerKey
  const input = `${b64(JSON.stringify({ alg: 'ES256', kid: key.kid, typ: 'JWT' }))}.${b64(payload)}`
  return `${input}.${sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
}

/** Good claims as JSON text, with `name` set to the literal JSON `literal`. */
function payloadWith (issuer: TestIssuer, name: string, literal: string): string {
  const t0 = now()
  const claims = { iss: issuer.url, sub: SUB, aud: [issuer.projectId], exp: t0 + 3600, iat: t0, nbf: t0, [name]: '@@' }
  return JSON.stringify(claims).replace('"@@"', literal)
}

// ---------------------------------------------------------------------------
// iss

t.test('iss must equal the issuer exactly', async (t) => {
  const { issuer, me } = await setup(t)
  accepted(t, await me(await issuer.token()), 'iss equal to the issuer')
  const port = new URL(issuer.url).port
  const wrong: Record<string, unknown> = {
    'another host': `http://localhost:${port}`,
    'another port': `http://127.0.0.1:${Number(port) + 1}`,
    https: `https://127.0.0.1:${port}`,
    'a trailing slash': `${issuer.url}/`,
    'a path': `${issuer.url}/oauth/v2`,
    'upper case scheme': issuer.url.replace('http', 'HTTP'),
    'surrounding space': ` ${issuer.url}`,
    missing: undefined,
    null: null,
    'an array': [issuer.url],
    'a number': 127001
  }
  for (const [name, iss] of Object.entries(wrong)) {
    refused(t, await me(await issuer.token({ claims: { iss } })), 'ISSUER_INVALID', `iss ${name}`)
  }
})

t.test('a trailing slash on the issuer option does not change the iss expected', async (t) => {
  const issuer = await issuerFor(t)
  const { me } = await appFor(t, issuer, { issuer: `${issuer.url}/` })
  accepted(t, await me(await issuer.token()), 'iss without slash')
  refused(t, await me(await issuer.token({ claims: { iss: `${issuer.url}/` } })), 'ISSUER_INVALID', 'iss with slash')
})

// ---------------------------------------------------------------------------
// aud

t.test('aud must be or contain the project id by default', async (t) => {
  const { issuer, me } = await setup(t)
  const good: Record<string, unknown> = {
    'the project id': issuer.projectId,
    'an array with the project id': [CLIENT_ID, issuer.projectId],
    'an array with only the project id': [issuer.projectId],
    'an array with junk and the project id': [42, null, { id: 1 }, issuer.projectId]
  }
  for (const [name, aud] of Object.entries(good)) {
    accepted(t, await me(await issuer.token({ claims: { aud } })), `aud ${name}`)
  }
  const bad: Record<string, unknown> = {
    'an array without the project id': [CLIENT_ID, 'other-project'],
    'the client id only': CLIENT_ID,
    'an empty array': [],
    missing: undefined,
    'a number': Number(issuer.projectId),
    'an array of the number': [Number(issuer.projectId)],
    'a nested array': [[issuer.projectId]],
    'an object': { [issuer.projectId]: true },
    'a space-separated list': `${CLIENT_ID} ${issuer.projectId}`,
    'a prefix of the project id': issuer.projectId.slice(0, -1),
    null: null
  }
  for (const [name, aud] of Object.entries(bad)) {
    refused(t, await me(await issuer.token({ claims: { aud } })), 'AUDIENCE_INVALID', `aud ${name}`)
  }
})

t.test('the audience option replaces the project id as the accepted audience', async (t) => {
  const issuer = await issuerFor(t)
  const { me } = await appFor(t, issuer, { audience: 'https://api.example.com' })
  accepted(t, await me(await issuer.token({ claims: { aud: 'https://api.example.com' } })), 'aud the configured audience')
  accepted(t, await me(await issuer.token({ claims: { aud: [CLIENT_ID, 'https://api.example.com'] } })), 'aud an array with it')
  refused(t, await me(await issuer.token()), 'AUDIENCE_INVALID', 'aud the project id only')

  const list = await appFor(t, issuer, { audience: ['api-a', 'api-b'] })
  accepted(t, await list.me(await issuer.token({ claims: { aud: 'api-b' } })), 'aud the second of two audiences')
  accepted(t, await list.me(await issuer.token({ claims: { aud: ['x', 'api-a'] } })), 'aud an array with the first')
  refused(t, await list.me(await issuer.token({ claims: { aud: ['api-c', issuer.projectId] } })), 'AUDIENCE_INVALID', 'aud neither')
})

// ---------------------------------------------------------------------------
// exp

t.test('exp must be a finite number', async (t) => {
  const { issuer, me } = await setup(t)
  for (const [name, exp] of Object.entries({ missing: undefined, 'a numeric string': String(now() + 3600), null: null, true: true, 'an array': [now() + 3600] })) {
    refused(t, await me(await issuer.token({ claims: { exp } })), 'CLAIMS_INVALID', `exp ${name}`)
  }
  // JSON.parse turns 1e400 into Infinity: it must not mean "never expires".
  t.equal(JSON.parse(payloadWith(issuer, 'exp', '1e400')).exp, Infinity)
  refused(t, await me(rawToken(issuer, payloadWith(issuer, 'exp', '1e400'))), 'CLAIMS_INVALID', 'exp 1e400')
  refused(t, await me(rawToken(issuer, payloadWith(issuer, 'exp', '-1e400'))), 'CLAIMS_INVALID', 'exp -1e400')
  accepted(t, await me(rawToken(issuer, payloadWith(issuer, 'exp', String(now() + 3600)))), 'the raw signer makes good tokens')
  accepted(t, await me(await issuer.token({ claims: { exp: now() + 3600.5 } })), 'a fractional exp')
})

t.test('a token past its exp is expired', async (t) => {
  const { issuer, me } = await setup(t)
  refused(t, await me(await issuer.token({ claims: { exp: now() - 10, iat: now() - 3600, nbf: now() - 3600 } })), 'TOKEN_EXPIRED', 'expired 10 s ago')
  refused(t, await me(await issuer.token({ claims: { exp: now() - 86400, iat: now() - 90000, nbf: undefined } })), 'TOKEN_EXPIRED', 'expired a day ago')
  refused(t, await me(await issuer.token({ claims: { exp: 0 } })), 'TOKEN_EXPIRED', 'exp 0')
  refused(t, await me(await issuer.token({ claims: { exp: -1 } })), 'TOKEN_EXPIRED', 'exp negative')
})

t.test('clockTolerance lets a token expired a little while ago pass, not one expired longer ago', async (t) => {
  const issuer = await issuerFor(t)
  const { me } = await appFor(t, issuer, { clockTolerance: 30 })
  accepted(t, await me(await issuer.token({ claims: { exp: now() - 10 } })), 'expired 10 s ago, 30 s tolerance')
  refused(t, await me(await issuer.token({ claims: { exp: now() - 60 } })), 'TOKEN_EXPIRED', 'expired 60 s ago, 30 s tolerance')
})

// ---------------------------------------------------------------------------
// iat and nbf

t.test('iat must be a finite number', async (t) => {
  const { issuer, me } = await setup(t)
  for (const [name, iat] of Object.entries({ missing: undefined, 'a numeric string': String(now()), null: null })) {
    refused(t, await me(await issuer.token({ claims: { iat } })), 'CLAIMS_INVALID', `iat ${name}`)
  }
  refused(t, await me(rawToken(issuer, payloadWith(issuer, 'iat', '-1e400'))), 'CLAIMS_INVALID', 'iat -1e400')
})

t.test('a token issued in the future, or with nbf in the future, is not valid yet', async (t) => {
  const { issuer, me } = await setup(t)
  refused(t, await me(await issuer.token({ claims: { iat: now() + 120 } })), 'TOKEN_NOT_YET_VALID', 'iat 120 s ahead')
  refused(t, await me(await issuer.token({ claims: { nbf: now() + 120 } })), 'TOKEN_NOT_YET_VALID', 'nbf 120 s ahead')
  refused(t, await me(await issuer.token({ claims: { nbf: now() + 120, iat: now() - 60 } })), 'TOKEN_NOT_YET_VALID', 'nbf ahead, iat past')
  accepted(t, await me(await issuer.token({ claims: { nbf: undefined } })), 'nbf is optional')
  accepted(t, await me(await issuer.token({ claims: { nbf: now() - 60, iat: now() - 60 } })), 'nbf and iat in the past')
})

t.test('nbf that is not a finite number is refused as not valid yet', async (t) => {
  const { issuer, me } = await setup(t)
  for (const [name, nbf] of Object.entries({ 'a numeric string': '0', 'an empty string': '', null: null, false: false, 'an object': {} })) {
    refused(t, await me(await issuer.token({ claims: { nbf } })), 'TOKEN_NOT_YET_VALID', `nbf ${name}`)
  }
  refused(t, await me(rawToken(issuer, payloadWith(issuer, 'nbf', '-1e400'))), 'TOKEN_NOT_YET_VALID', 'nbf -1e400')
})

t.test('clockTolerance lets a small clock skew on iat and nbf pass', async (t) => {
  const issuer = await issuerFor(t)
  const strict = await appFor(t, issuer)
  const { me } = await appFor(t, issuer, { clockTolerance: 30 })
  const ahead = await issuer.token({ claims: { iat: now() + 10, nbf: now() + 10 } })
  refused(t, await strict.me(ahead), 'TOKEN_NOT_YET_VALID', '10 s ahead without tolerance')
  accepted(t, await me(ahead), 'iat and nbf 10 s ahead, 30 s tolerance')
  refused(t, await me(await issuer.token({ claims: { iat: now() + 60 } })), 'TOKEN_NOT_YET_VALID', 'iat 60 s ahead, 30 s tolerance')
  refused(t, await me(await issuer.token({ claims: { nbf: now() + 60 } })), 'TOKEN_NOT_YET_VALID', 'nbf 60 s ahead, 30 s tolerance')
})

// ---------------------------------------------------------------------------
// sub and ID-token claims

t.test('sub must be a non-empty string', async (t) => {
  const { issuer, me } = await setup(t)
  for (const [name, sub] of Object.entries({ missing: undefined, empty: '', 'a number': 263785111111111, null: null, 'an array': [SUB] })) {
    refused(t, await me(await issuer.token({ claims: { sub } })), 'CLAIMS_INVALID', `sub ${name}`)
  }
})

t.test('an ID token (nonce, at_hash or c_hash) is not an access token', async (t) => {
  const { issuer, me } = await setup(t)
  for (const [name, value] of [['nonce', 'n-0S6_WzA2Mj'], ['at_hash', '77QmUPtjPfzWtF2AnpK9RQ'], ['c_hash', 'LDktKdoQak3Pk0cnXxCltA'], ['nonce', ''], ['nonce', null]] as const) {
    refused(t, await me(await issuer.token({ claims: { [name]: value } })), 'CLAIMS_INVALID', `${name} ${JSON.stringify(value)}`)
  }
})

// ---------------------------------------------------------------------------
// allowedClientIds

t.test('allowedClientIds: client_id must be listed; azp (an ID-token claim) never stands in for it', async (t) => {
  const issuer = await issuerFor(t)
  const { me } = await appFor(t, issuer, { allowedClientIds: [CLIENT_ID, 'service-user-1'] })
  accepted(t, await me(await issuer.token()), 'client_id listed')
  accepted(t, await me(await issuer.token({ claims: { client_id: 'service-user-1' } })), 'client_id the second listed')
  refused(t, await me(await issuer.token({ claims: { client_id: 'other@demo' } })), 'CLIENT_NOT_ALLOWED', 'client_id not listed')
  refused(t, await me(await issuer.token({ claims: { client_id: undefined, azp: CLIENT_ID } })), 'CLIENT_NOT_ALLOWED', 'no client_id, azp listed')
  refused(t, await me(await issuer.token({ claims: { client_id: null, azp: CLIENT_ID } })), 'CLIENT_NOT_ALLOWED', 'client_id null, azp listed')
  refused(t, await me(await issuer.token({ claims: { client_id: undefined, azp: 'other@demo' } })), 'CLIENT_NOT_ALLOWED', 'no client_id, azp not listed')
  refused(t, await me(await issuer.token({ claims: { client_id: undefined } })), 'CLIENT_NOT_ALLOWED', 'neither client_id nor azp')
  refused(t, await me(await issuer.token({ claims: { client_id: 'other@demo', azp: CLIENT_ID } })), 'CLIENT_NOT_ALLOWED', 'client_id not listed wins over azp listed')
  refused(t, await me(await issuer.token({ claims: { client_id: [CLIENT_ID] } })), 'CLIENT_NOT_ALLOWED', 'client_id an array')
  refused(t, await me(await issuer.token({ claims: { client_id: CLIENT_ID.toUpperCase() } })), 'CLIENT_NOT_ALLOWED', 'client_id in other case')
})

t.test('without allowedClientIds any client is accepted, even none', async (t) => {
  const { issuer, me } = await setup(t)
  accepted(t, await me(await issuer.token({ claims: { client_id: 'anyone@demo' } })), 'any client_id')
  accepted(t, await me(await issuer.token({ claims: { client_id: undefined } })), 'no client_id')
})

// ---------------------------------------------------------------------------
// claimsSchema

t.test('claimsSchema: the claims must also match the schema', async (t) => {
  const issuer = await issuerFor(t)
  const claimsSchema = Type.Object({
    'urn:zitadel:iam:user:metadata': Type.Optional(Type.Record(Type.String(), Type.String())),
    email: Type.String({ minLength: 3 })
  })
  const { me } = await appFor(t, issuer, { claimsSchema })

  const res = await me(await issuer.token({ claims: { email: 'ada@acme.localhost' } }))
  accepted(t, res, 'with email')
  t.equal(res.json().claims.email, 'ada@acme.localhost', 'request.user.claims.email')
  const withMetadata = await me(await issuer.token({ claims: { email: 'ada@acme.localhost', 'urn:zitadel:iam:user:metadata': { team: b64('red') } } }))
  accepted(t, withMetadata, 'with email and metadata')
  t.same(withMetadata.json().claims['urn:zitadel:iam:user:metadata'], { team: b64('red') })

  refused(t, await me(await issuer.token()), 'CLAIMS_INVALID', 'email missing')
  refused(t, await me(await issuer.token({ claims: { email: 42 } })), 'CLAIMS_INVALID', 'email a number')
  refused(t, await me(await issuer.token({ claims: { email: 'a' } })), 'CLAIMS_INVALID', 'email too short')
  refused(t, await me(await issuer.token({ claims: { email: 'ada@acme.localhost', 'urn:zitadel:iam:user:metadata': 'team' } })), 'CLAIMS_INVALID', 'metadata a string')
  refused(t, await me(await issuer.token({ claims: { email: 'ada@acme.localhost', 'urn:zitadel:iam:user:metadata': { team: 1 } } })), 'CLAIMS_INVALID', 'metadata value a number')

  // The registered claims come first: an expired token is expired, whatever the schema says.
  refused(t, await me(await issuer.token({ claims: { exp: now() - 60 } })), 'TOKEN_EXPIRED', 'email missing and expired')
})

// ---------------------------------------------------------------------------
// Order: signature before claims

t.test('a forged token is refused for its signature, before any claim is read', async (t) => {
  const { issuer, me } = await setup(t, { allowedClientIds: [CLIENT_ID] })
  // Each is refused for its claims when genuine; forged, for its signature.
  const bad: Record<string, [Record<string, unknown>, string]> = {
    expired: [{ exp: now() - 3600 }, 'TOKEN_EXPIRED'],
    'not yet valid': [{ nbf: now() + 3600 }, 'TOKEN_NOT_YET_VALID'],
    'another issuer': [{ iss: 'https://evil.example' }, 'ISSUER_INVALID'],
    'another audience': [{ aud: 'other' }, 'AUDIENCE_INVALID'],
    'without sub': [{ sub: undefined }, 'CLAIMS_INVALID'],
    'an ID token': [{ nonce: 'n' }, 'CLAIMS_INVALID'],
    'another client': [{ client_id: 'other@demo' }, 'CLIENT_NOT_ALLOWED']
  }
  for (const [name, [claims, code]] of Object.entries(bad)) {
    const token = await issuer.token({ claims })
    refused(t, await me(token), code, `${name}, genuine`)
    const [header, payload, signature] = token.split('.') as [string, string, string]
    const forged = `${header}.${payload}.${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`
    refused(t, await me(forged), 'SIGNATURE_INVALID', `${name}, forged`)
  }
  // A payload that is not even JSON: the signature fails first.
  const [header, , signature] = (await issuer.token()).split('.') as [string, string, string]
  refused(t, await me(`${header}.${b64('not json')}.${signature}`), 'SIGNATURE_INVALID', 'forged, payload not JSON')
})

// ---------------------------------------------------------------------------
// fastify.zitadel.verify

t.test('fastify.zitadel.verify resolves a ZitadelUser for a good token', async (t) => {
  const { issuer, app } = await setup(t)
  const token = await issuer.token({ roles: ['admin'] })
  const user = await app.zitadel.verify(token)
  t.ok(user instanceof ZitadelUser, 'a ZitadelUser')
  t.equal(user.sub, SUB)
  t.equal(user.clientId, CLIENT_ID)
  t.equal(user.orgId, ORG_ID)
  t.equal(user.token, token, 'the raw token')
  t.ok(user.hasRole('admin', ORG_ID), 'the role in the organisation')
  t.equal(user.claims.iss, issuer.url)
})

t.test('fastify.zitadel.verify rejects a bad token with the coded error', async (t) => {
  const { issuer, app } = await setup(t)
  const cases: Array<[string, Promise<string> | string, string]> = [
    ['expired', issuer.token({ claims: { exp: now() - 60 } }), 'ZITADEL_AUTH_TOKEN_EXPIRED'],
    ['another audience', issuer.token({ claims: { aud: 'other' } }), 'ZITADEL_AUTH_AUDIENCE_INVALID'],
    ['sub missing', issuer.token({ claims: { sub: undefined } }), 'ZITADEL_AUTH_CLAIMS_INVALID'],
    ['not a JWS', 'not-a-token', 'ZITADEL_AUTH_TOKEN_MALFORMED']
  ]
  for (const [name, token, code] of cases) {
    const err = await app.zitadel.verify(await token).then(() => undefined, (e: unknown) => e)
    t.match(err, { code, statusCode: 401 }, `${name}: ${code}`)
    t.match((err as { headers?: Record<string, string> }).headers?.['www-authenticate'], /error="invalid_token"/, `${name}: carries its challenge`)
  }
})
