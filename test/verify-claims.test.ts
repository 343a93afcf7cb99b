import { sign } from 'node:crypto'
import { Type } from '@sinclair/typebox'
import t from 'tap'
import { ZitadelUser } from '../lib/user.js'
import { appFor, ES256_ONLY, issuerFor, setup } from './helpers/app.js'
import { accepted, refused } from './helpers/assertions.js'
import { CLIENT_ID, ORG_ID, SUB, type IssuerKey, type TestIssuer } from '../fixtures/issuer.js'

/*
 * The claim rules of lib/verify.ts (checkClaims), through a real app and a
 * real issuer: who issued the token, for whom, when it is valid, and what
 * else it must (not) carry.
 *
 * The issuers sign with ES256 and the apps accept ES256 alone: its keys are
 * generated at once, and the claim rules do not depend on the algorithm.
 */

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
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
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
  const issuer = await issuerFor(t, 'ES256')
  const { me } = await appFor(t, issuer, { ...ES256_ONLY, issuer: `${issuer.url}/` })
  accepted(t, await me(await issuer.token()), 'iss without slash')
  refused(t, await me(await issuer.token({ claims: { iss: `${issuer.url}/` } })), 'ISSUER_INVALID', 'iss with slash')
})

t.test('several issuers of one instance (custom domains): iss may be any of them; keys come from the first', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const port = new URL(issuer.url).port
  const custom = 'https://auth.example.com'
  const { app, logs } = await appFor(t, issuer, { ...ES256_ONLY, issuer: [issuer.url, `${custom}/`, `http://localhost:${port}`] }, { logs: true })
  const me = async (token: string) => app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  accepted(t, await me(await issuer.token()), 'the first issuer')
  accepted(t, await me(await issuer.token({ claims: { iss: custom } })), 'a custom domain')
  accepted(t, await me(await issuer.token({ claims: { iss: `http://localhost:${port}` } })), 'another host of the same server')
  t.equal(issuer.requests.discovery, 1, 'one discovery, from the first issuer')
  refused(t, await me(await issuer.token({ claims: { iss: 'https://other.example.com' } })), 'ISSUER_INVALID', 'an issuer not listed')
  refused(t, await me(await issuer.token({ claims: { iss: `${custom}/` } })), 'ISSUER_INVALID', 'a listed issuer with a trailing slash')
  refused(t, await me(await issuer.token({ claims: { iss: 'https://auth.example.com:8443' } })), 'ISSUER_INVALID', 'a listed issuer on another port')
  const line = logs().find((l) => l.msg === 'zitadel: token refused for its issuer' && l.iss === 'https://other.example.com')
  t.ok(line, 'the refused iss is logged at debug, so a domain missing from `issuer` can be found')
  t.equal(line?.level, 20)
  t.same(line?.issuers, [issuer.url, custom, `http://localhost:${port}`], 'with the issuers expected')
  refused(t, await me(await issuer.token({ claims: { iss: 'x'.repeat(5000) } })), 'ISSUER_INVALID', 'a long iss')
  t.ok(logs().some((l) => l.iss === 'x'.repeat(256)), 'a long iss is cut in the log')
  refused(t, await me(await issuer.token({ claims: { iss: 42 } })), 'ISSUER_INVALID', 'an iss that is no string')
  t.ok(logs().some((l) => l.msg === 'zitadel: token refused for its issuer' && l.iss === 'number'), 'only its type is logged')
})

// ---------------------------------------------------------------------------
// aud

t.test('aud must be or contain the project id by default', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
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
  const issuer = await issuerFor(t, 'ES256')
  const { me } = await appFor(t, issuer, { ...ES256_ONLY, audience: 'https://api.example.com' })
  accepted(t, await me(await issuer.token({ claims: { aud: 'https://api.example.com' } })), 'aud the configured audience')
  accepted(t, await me(await issuer.token({ claims: { aud: [CLIENT_ID, 'https://api.example.com'] } })), 'aud an array with it')
  refused(t, await me(await issuer.token()), 'AUDIENCE_INVALID', 'aud the project id only')

  const list = await appFor(t, issuer, { ...ES256_ONLY, audience: ['api-a', 'api-b'] })
  accepted(t, await list.me(await issuer.token({ claims: { aud: 'api-b' } })), 'aud the second of two audiences')
  accepted(t, await list.me(await issuer.token({ claims: { aud: ['x', 'api-a'] } })), 'aud an array with the first')
  refused(t, await list.me(await issuer.token({ claims: { aud: ['api-c', issuer.projectId] } })), 'AUDIENCE_INVALID', 'aud neither')
})

// ---------------------------------------------------------------------------
// exp

t.test('exp must be a finite number', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
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
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  refused(t, await me(await issuer.token({ claims: { exp: now() - 10, iat: now() - 3600, nbf: now() - 3600 } })), 'TOKEN_EXPIRED', 'expired 10 s ago')
  refused(t, await me(await issuer.token({ claims: { exp: now() - 86400, iat: now() - 90000, nbf: undefined } })), 'TOKEN_EXPIRED', 'expired a day ago')
  refused(t, await me(await issuer.token({ claims: { exp: 0 } })), 'TOKEN_EXPIRED', 'exp 0')
  refused(t, await me(await issuer.token({ claims: { exp: -1 } })), 'TOKEN_EXPIRED', 'exp negative')
})

t.test('clockTolerance lets a token expired a little while ago pass, not one expired longer ago', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const { me } = await appFor(t, issuer, { ...ES256_ONLY, clockTolerance: 30 })
  accepted(t, await me(await issuer.token({ claims: { exp: now() - 10 } })), 'expired 10 s ago, 30 s tolerance')
  refused(t, await me(await issuer.token({ claims: { exp: now() - 60 } })), 'TOKEN_EXPIRED', 'expired 60 s ago, 30 s tolerance')
})

// ---------------------------------------------------------------------------
// iat and nbf

t.test('iat must be a finite number', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  for (const [name, iat] of Object.entries({ missing: undefined, 'a numeric string': String(now()), null: null })) {
    refused(t, await me(await issuer.token({ claims: { iat } })), 'CLAIMS_INVALID', `iat ${name}`)
  }
  refused(t, await me(rawToken(issuer, payloadWith(issuer, 'iat', '-1e400'))), 'CLAIMS_INVALID', 'iat -1e400')
})

t.test('a token issued in the future, or with nbf in the future, is not valid yet', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  refused(t, await me(await issuer.token({ claims: { iat: now() + 120 } })), 'TOKEN_NOT_YET_VALID', 'iat 120 s ahead')
  refused(t, await me(await issuer.token({ claims: { nbf: now() + 120 } })), 'TOKEN_NOT_YET_VALID', 'nbf 120 s ahead')
  refused(t, await me(await issuer.token({ claims: { nbf: now() + 120, iat: now() - 60 } })), 'TOKEN_NOT_YET_VALID', 'nbf ahead, iat past')
  accepted(t, await me(await issuer.token({ claims: { nbf: undefined } })), 'nbf is optional')
  accepted(t, await me(await issuer.token({ claims: { nbf: now() - 60, iat: now() - 60 } })), 'nbf and iat in the past')
})

t.test('nbf that is not a finite number is refused as not valid yet', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  for (const [name, nbf] of Object.entries({ 'a numeric string': '0', 'an empty string': '', null: null, false: false, 'an object': {} })) {
    refused(t, await me(await issuer.token({ claims: { nbf } })), 'TOKEN_NOT_YET_VALID', `nbf ${name}`)
  }
  refused(t, await me(rawToken(issuer, payloadWith(issuer, 'nbf', '-1e400'))), 'TOKEN_NOT_YET_VALID', 'nbf -1e400')
})

t.test('a host whose clock is a few seconds behind Zitadel\'s accepts fresh tokens by default; exp is not extended', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  // Zitadel sets iat = nbf = its own now (zitadel/oidc NewAccessTokenClaims).
  accepted(t, await me(await issuer.token({ claims: { iat: now() + 4, nbf: now() + 4 } })), 'iat and nbf 4 s ahead')
  refused(t, await me(await issuer.token({ claims: { iat: now() + 7, nbf: now() + 7 } })), 'TOKEN_NOT_YET_VALID', 'iat and nbf 7 s ahead')
  refused(t, await me(await issuer.token({ claims: { exp: now() } })), 'TOKEN_EXPIRED', 'exp now: expired, no tolerance on exp')
  refused(t, await me(await issuer.token({ claims: { iat: now() - 60, exp: now() - 2 } })), 'TOKEN_EXPIRED', 'expired 2 s ago')
})

t.test('clockTolerance lets a small clock skew on iat and nbf pass', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const strict = await appFor(t, issuer, ES256_ONLY)
  const { me } = await appFor(t, issuer, { ...ES256_ONLY, clockTolerance: 30 })
  const ahead = await issuer.token({ claims: { iat: now() + 10, nbf: now() + 10 } })
  refused(t, await strict.me(ahead), 'TOKEN_NOT_YET_VALID', '10 s ahead without tolerance')
  accepted(t, await me(ahead), 'iat and nbf 10 s ahead, 30 s tolerance')
  refused(t, await me(await issuer.token({ claims: { iat: now() + 60 } })), 'TOKEN_NOT_YET_VALID', 'iat 60 s ahead, 30 s tolerance')
  refused(t, await me(await issuer.token({ claims: { nbf: now() + 60 } })), 'TOKEN_NOT_YET_VALID', 'nbf 60 s ahead, 30 s tolerance')
})

// ---------------------------------------------------------------------------
// sub and ID-token claims

t.test('sub must be a non-empty string', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  for (const [name, sub] of Object.entries({ missing: undefined, empty: '', 'a number': 263785111111111, null: null, 'an array': [SUB] })) {
    refused(t, await me(await issuer.token({ claims: { sub } })), 'CLAIMS_INVALID', `sub ${name}`)
  }
})

t.test('an ID token (azp, nonce, at_hash or c_hash) is not an access token', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  for (const [name, value] of [['azp', CLIENT_ID], ['nonce', 'n-0S6_WzA2Mj'], ['at_hash', '77QmUPtjPfzWtF2AnpK9RQ'], ['c_hash', 'LDktKdoQak3Pk0cnXxCltA'], ['nonce', ''], ['nonce', null], ['azp', '']] as const) {
    refused(t, await me(await issuer.token({ claims: { [name]: value } })), 'CLAIMS_INVALID', `${name} ${JSON.stringify(value)}`)
  }
  // zitadel internal/api/oidc/token_exchange.go: an ID token from token exchange has
  // no nonce, at_hash or c_hash, and no jti; zitadel/oidc NewIDTokenClaims always sets azp.
  const exchanged = { jti: undefined, nbf: undefined, azp: CLIENT_ID, aud: [CLIENT_ID, issuer.projectId], act: { sub: '263785222222222222', iss: issuer.url } }
  refused(t, await me(await issuer.token({ claims: exchanged })), 'CLAIMS_INVALID', 'the ID token of token exchange')
  accepted(t, await me(await issuer.token({ claims: { ...exchanged, azp: undefined, jti: 'V2_1-at_2' } })), 'the access token of the same exchange')
})

t.test('scope: a string, or absent; any other type makes the token malformed', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  accepted(t, await me(await issuer.token({ claims: { scope: 'openid profile' } })), 'a string')
  accepted(t, await me(await issuer.token({ claims: { scope: '' } })), 'an empty string')
  for (const scope of [null, 42, true, ['openid'], { openid: true }]) {
    refused(t, await me(await issuer.token({ claims: { scope } })), 'CLAIMS_INVALID', `scope ${JSON.stringify(scope)}`)
  }
})

t.test('act: an actor claim (RFC 8693 §4.1) or absent', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  accepted(t, await me(await issuer.token({ claims: { act: { sub: 'svc-1' } } })), 'sub only')
  accepted(t, await me(await issuer.token({ claims: { act: { sub: 'svc-1', iss: issuer.url, act: { sub: 'svc-0' } } } })), 'a chain of two')
  let deep: Record<string, unknown> = { sub: 'a0' }
  for (let i = 1; i < 9; i++) deep = { sub: `a${i}`, act: deep }
  for (const [name, act] of Object.entries({
    null: null,
    'a string': 'svc-1',
    'an array': [{ sub: 'svc-1' }],
    'no sub': { iss: issuer.url },
    'an empty sub': { sub: '' },
    'a number iss': { sub: 'svc-1', iss: 1 },
    'a malformed inner actor': { sub: 'svc-1', act: { sub: 2 } },
    'nine deep': deep
  })) {
    refused(t, await me(await issuer.token({ claims: { act } })), 'CLAIMS_INVALID', `act ${name}`)
  }
})

// ---------------------------------------------------------------------------
// allowedClientIds

t.test('allowedClientIds: client_id must be listed; azp (an ID-token claim) never stands in for it', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const { me } = await appFor(t, issuer, { ...ES256_ONLY, allowedClientIds: [CLIENT_ID, 'service-user-1'] })
  accepted(t, await me(await issuer.token()), 'client_id listed')
  accepted(t, await me(await issuer.token({ claims: { client_id: 'service-user-1' } })), 'client_id the second listed')
  refused(t, await me(await issuer.token({ claims: { client_id: 'other@demo' } })), 'CLIENT_NOT_ALLOWED', 'client_id not listed')
  // A token with azp is an ID token, refused before the client is looked at.
  refused(t, await me(await issuer.token({ claims: { client_id: undefined, azp: CLIENT_ID } })), 'CLAIMS_INVALID', 'no client_id, azp listed')
  refused(t, await me(await issuer.token({ claims: { client_id: null, azp: CLIENT_ID } })), 'CLAIMS_INVALID', 'client_id null, azp listed')
  refused(t, await me(await issuer.token({ claims: { client_id: undefined } })), 'CLIENT_NOT_ALLOWED', 'no client_id')
  refused(t, await me(await issuer.token({ claims: { client_id: null } })), 'CLIENT_NOT_ALLOWED', 'client_id null')
  refused(t, await me(await issuer.token({ claims: { client_id: [CLIENT_ID] } })), 'CLIENT_NOT_ALLOWED', 'client_id an array')
  refused(t, await me(await issuer.token({ claims: { client_id: CLIENT_ID.toUpperCase() } })), 'CLIENT_NOT_ALLOWED', 'client_id in other case')
})

t.test('allowedSubjects: sub must be listed (how service users are pinned: client_id is their username)', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const { me } = await appFor(t, issuer, { ...ES256_ONLY, allowedSubjects: ['263785222222222222', SUB] })
  accepted(t, await me(await issuer.token()), 'sub listed')
  const service = await me(await issuer.token({ claims: { sub: '263785222222222222', client_id: 'reporting-sa' } }))
  t.equal(service.statusCode, 200, 'the second listed, whatever its client_id (username)')
  t.equal(service.json().sub, '263785222222222222')
  refused(t, await me(await issuer.token({ claims: { sub: '263785333333333333' } })), 'CLIENT_NOT_ALLOWED', 'sub not listed')
  refused(t, await me(await issuer.token({ claims: { sub: '263785333333333333', client_id: SUB } })), 'CLIENT_NOT_ALLOWED', 'sub not listed, client_id equal to a listed sub')

  const both = await appFor(t, issuer, { ...ES256_ONLY, allowedSubjects: [SUB], allowedClientIds: [CLIENT_ID] })
  accepted(t, await both.me(await issuer.token()), 'both lists: both must hold')
  refused(t, await both.me(await issuer.token({ claims: { client_id: 'other@demo' } })), 'CLIENT_NOT_ALLOWED', 'both lists: the client is not listed')
  refused(t, await both.me(await issuer.token({ claims: { sub: '263785333333333333' } })), 'CLIENT_NOT_ALLOWED', 'both lists: the subject is not listed')
})

t.test('without allowedClientIds any client is accepted, even none', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  accepted(t, await me(await issuer.token({ claims: { client_id: 'anyone@demo' } })), 'any client_id')
  accepted(t, await me(await issuer.token({ claims: { client_id: undefined } })), 'no client_id')
})

// ---------------------------------------------------------------------------
// claimsSchema

t.test('claimsSchema: the claims must also match the schema', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const claimsSchema = Type.Object({
    'urn:zitadel:iam:user:metadata': Type.Optional(Type.Record(Type.String(), Type.String())),
    email: Type.String({ minLength: 3 })
  })
  const { me } = await appFor(t, issuer, { ...ES256_ONLY, claimsSchema })

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
  const { issuer, me } = await setup(t, { ...ES256_ONLY, allowedClientIds: [CLIENT_ID] }, { alg: 'ES256' })
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
  const { issuer, app } = await setup(t, ES256_ONLY, { alg: 'ES256' })
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
  const { issuer, app } = await setup(t, ES256_ONLY, { alg: 'ES256' })
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
