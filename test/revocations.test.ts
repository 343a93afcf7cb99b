import t from 'tap'
import { RevocationList } from '../lib/revocations.js'
import { tokenDigest } from '../lib/token-digest.js'
import { createZitadelUser } from '../lib/user.js'
import { deepFreeze } from '../lib/values.js'
import { appFor, bearer, issuerFor, ES256_ONLY } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'
import { thrown } from './helpers/assertions.js'
import { SUB } from '../fixtures/issuer.js'

const NOW = 1_800_000_000
const ROLE_CLAIM = 'urn:zitadel:iam:org:project:1:roles'

function userOf (token: string, claims: Record<string, unknown>) {
  return createZitadelUser(token, deepFreeze({ sub: 'u1', iat: NOW - 10, exp: NOW + 3600, ...claims }), ROLE_CLAIM)
}

t.test('the list: a subject revoked before a time covers the tokens issued before it', async (t) => {
  const clock = new FakeClock(NOW * 1000)
  const list = new RevocationList(clock)
  const old = userOf('a.b.c', { iat: NOW - 10 })
  const fresh = userOf('d.e.f', { iat: NOW + 5 })
  t.notOk(list.covers(old), 'nothing revoked')
  t.ok(list.add({ kind: 'subject', sub: 'u1', before: NOW, until: NOW + 100 }))
  t.ok(list.covers(old), 'issued before')
  t.notOk(list.covers(fresh), 'issued after: a new login passes')
  t.notOk(list.covers(userOf('g.h.i', { sub: 'u2' })), 'another user')
  t.notOk(list.add({ kind: 'subject', sub: 'u1', before: NOW - 50, until: NOW + 50 }), 'an earlier revocation adds nothing')
  t.ok(list.add({ kind: 'subject', sub: 'u1', before: NOW + 10, until: NOW + 110 }), 'a later one widens it')
  t.ok(list.covers(fresh))
  t.notOk(list.add({ kind: 'subject', sub: 'u3', before: NOW - 200, until: NOW - 1 }), 'one already over is not kept')
  t.equal(list.size, 1)
})

t.test('the list: one token by digest or by id; entries go once over', async (t) => {
  const clock = new FakeClock(NOW * 1000)
  const list = new RevocationList(clock)
  const one = userOf('tok.en.one', { jti: 'id-1' })
  const two = userOf('tok.en.two', { jti: 'id-2' })
  t.ok(list.add({ kind: 'token', digest: tokenDigest('tok.en.one'), until: NOW + 60 }))
  t.notOk(list.add({ kind: 'token', digest: tokenDigest('tok.en.one'), until: NOW + 90 }), 'known already; its end moves on')
  t.ok(list.covers(one))
  t.notOk(list.covers(two))
  t.ok(list.add({ kind: 'tokenId', jti: 'id-2', until: NOW + 30 }))
  t.ok(list.covers(two), 'by jti')
  t.notOk(list.covers(userOf('x.y.z', {})), 'a token without jti')
  t.same(list.entries().map((e) => e.kind).sort(), ['token', 'tokenId'])

  clock.stepWall(45)
  t.same(list.entries().map((e) => e.kind), ['token'], 'the id entry is over at 30 s')
  clock.stepWall(50)
  t.same(list.entries(), [], 'the token entry kept the later end, 90 s')
  list.add({ kind: 'subject', sub: 's', before: NOW + 95, until: NOW + 200 })
  clock.stepWall(120)
  list.add({ kind: 'tokenId', jti: 'later', until: NOW + 400 })
  t.equal(list.size, 1, 'adding sweeps what is over, at most once a minute')
})

t.test('the API: revoked tokens get 401 TOKEN_REVOKED on cache hits and misses; other tokens pass', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const clock = new FakeClock()
  const { app, me } = await appFor(t, issuer, { ...ES256_ONLY, [kClock]: clock })
  const first = await issuer.token()
  const other = await issuer.token({ claims: { sub: '263785999999999999' } })
  t.equal((await me(first)).statusCode, 200, 'accepted, and now cached')

  await app.zitadel.revokeSubject(SUB)
  const refused = await me(first)
  t.equal(refused.statusCode, 401)
  t.equal(refused.json().code, 'ZITADEL_AUTH_TOKEN_REVOKED')
  t.match(refused.headers['www-authenticate'], /error="invalid_token", error_description="The access token has been revoked"/)
  t.equal((await me(other)).statusCode, 200, 'another user\'s token')
  await t.rejects(app.zitadel.verify(first), { code: 'ZITADEL_AUTH_TOKEN_REVOKED' }, 'verify() too')
  const pub = await app.inject({ url: '/public', headers: bearer(first) })
  t.equal(pub.statusCode, 401, 'on a public route too: a presented token is checked')

  clock.stepWall(5)
  const later = await issuer.token({ claims: { iat: Math.floor(clock.wallSeconds()) } })
  t.equal((await me(later)).statusCode, 200, 'a token issued after the revocation passes')

  const single = await issuer.token({ claims: { sub: '263785888888888888' } })
  const sibling = await issuer.token({ claims: { sub: '263785888888888888' } })
  await app.zitadel.revokeToken(single)
  t.equal((await me(single)).json().code, 'ZITADEL_AUTH_TOKEN_REVOKED', 'one token')
  t.equal((await me(sibling)).statusCode, 200, 'the same user\'s other token passes')

  const byId = await issuer.token({ claims: { sub: '263785777777777777', jti: 'token-id-1' } })
  t.equal((await me(byId)).statusCode, 200)
  await app.zitadel.revokeTokenId('token-id-1')
  t.equal((await me(byId)).json().code, 'ZITADEL_AUTH_TOKEN_REVOKED', 'by token id')
})

t.test('the API: wrong arguments are setup mistakes, named', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const { app } = await appFor(t, issuer, { ...ES256_ONLY })
  const z = app.zitadel
  t.match(thrown(() => z.revokeSubject('')), { code: 'ZITADEL_AUTH_INVALID_OPTION', message: /revokeSubject: sub must be a non-empty string/ })
  t.match(thrown(() => z.revokeSubject('u', { before: new Date('nope') })), { message: /revokeSubject: option "before" must be a valid Date/ })
  t.match(thrown(() => z.revokeToken(42 as unknown as string)), { message: /revokeToken: token must be a non-empty string/ })
  t.match(thrown(() => z.revokeTokenId('')), { message: /revokeTokenId: jti must be a non-empty string/ })
})

t.test('option revocation.maxTokenLifetime: how long a subject\'s revocation is kept', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const clock = new FakeClock()
  const { app, me } = await appFor(t, issuer, { ...ES256_ONLY, revocation: { maxTokenLifetime: 600 }, [kClock]: clock })
  t.same(app.zitadel.options.revocation, { maxTokenLifetime: 600 })
  const token = await issuer.token({ claims: { exp: Math.floor(clock.wallSeconds()) + 3600 } })
  await app.zitadel.revokeSubject(SUB, { before: new Date(clock.wallSeconds() * 1000) })
  clock.stepWall(599)
  t.equal((await me(token)).json().code, 'ZITADEL_AUTH_TOKEN_REVOKED', 'within the lifetime')
  clock.stepWall(2)
  await app.zitadel.revokeTokenId('sweep-now')
  t.equal((await me(token)).statusCode, 200, 'past it the entry is gone: a token living longer than maxTokenLifetime passes again, which is why it must cover the longest')
})
