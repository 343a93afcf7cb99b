import t from 'tap'
import { addTenant, basic, claimsOf, codeFlow, introspect, post, startIdp } from './emulator/helpers.js'

const METADATA = 'urn:zitadel:iam:user:metadata'
const idp = await startIdp()
t.teardown(() => idp.close())
const tenant = addTenant(idp)
const api = idp.addApiApp({ projectId: tenant.projectId, name: 'api' })
const otherTenant = addTenant(idp)
const otherApi = idp.addApiApp({ projectId: otherTenant.projectId, name: 'other api' })

async function userinfo (token: string): Promise<Response> {
  return fetch(`${idp.issuer}/oidc/v1/userinfo`, { headers: { authorization: `Bearer ${token}` } })
}

t.test('a personal access token: opaque, active for every API app, with the caller\'s project roles', async (t) => {
  const { user } = await idp.addServiceUser({ username: 'robot', orgId: tenant.orgId, grants: [{ projectId: tenant.projectId, roles: ['admin'] }] })
  const pat = idp.addPersonalAccessToken(user.id)
  t.match(pat, /^[A-Za-z0-9_-]{100,}$/, 'opaque, no dots')
  const res = await introspect(idp, pat, { basic: [api.clientId, api.clientSecret] })
  const body = await res.json() as Record<string, unknown>
  t.equal(body.active, true)
  t.equal(body.sub, user.id)
  t.same(body.aud, [api.clientId, tenant.projectId], 'the caller\'s client id and project id (zitadel introspect.go assertClientScopesForPAT)')
  t.equal(body.scope, 'openid profile urn:zitadel:iam:user:metadata urn:zitadel:iam:user:resourceowner urn:zitadel:iam:org:project:role:user urn:zitadel:iam:org:project:role:admin')
  t.same(body['urn:zitadel:iam:org:project:roles'], { admin: { [tenant.orgId]: tenant.orgDomain } })
  t.equal(body.exp, Date.UTC(9999, 0, 1) / 1000, 'no expiry given: 9999-01-01, as Zitadel')
  for (const absent of ['client_id', 'auth_time', 'amr', 'act']) t.notOk(absent in body, `no ${absent}`)
  t.equal(body.username, 'robot')
  t.equal(body['urn:zitadel:iam:user:resourceowner:id'], tenant.orgId)

  const other = await (await introspect(idp, pat, { basic: [otherApi.clientId, otherApi.clientSecret] })).json() as Record<string, unknown>
  t.equal(other.active, true, 'any project\'s API app sees a PAT as active')
  t.same(other.aud, [otherApi.clientId, otherTenant.projectId])

  const info = await userinfo(pat)
  t.equal(info.status, 200)
  t.match(await info.json(), { sub: user.id, preferred_username: 'robot', name: 'robot' })

  const short = idp.addPersonalAccessToken(user.id, { expiresIn: 0 })
  t.same(await (await introspect(idp, short, { basic: [api.clientId, api.clientSecret] })).json(), { active: false }, 'expired')
  t.throws(() => idp.addPersonalAccessToken(tenant.bob.id), /only|no service user/, 'machine users only')
  t.throws(() => idp.addPersonalAccessToken(user.id, { expiresIn: 1.5 }), /"expiresIn"/)
})

t.test('metadata: the scope urn:zitadel:iam:user:metadata gives { key: base64url(value) } in tokens, userinfo and introspection', async (t) => {
  idp.setMetadata(tenant.alice.id, 'tier', 'gold')
  idp.setMetadata(tenant.alice.id, 'blob', Buffer.from([0xfb, 0xff, 0xfe]))
  const expected = { tier: Buffer.from('gold').toString('base64url'), blob: '-__-' }
  t.equal(expected.tier, 'Z29sZA', 'base64url without padding (base64.RawURLEncoding)')

  const { access_token: token } = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw', { scope: `openid ${METADATA}` })
  t.same(claimsOf(token)[METADATA], expected, 'in the JWT access token')
  t.same((await (await userinfo(token)).json() as Record<string, unknown>)[METADATA], expected, 'at userinfo')
  const seen = await (await introspect(idp, token, { basic: [api.clientId, api.clientSecret] })).json() as Record<string, unknown>
  t.same(seen[METADATA], expected, 'at introspection')

  const { access_token: without } = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw')
  t.notOk(METADATA in claimsOf(without), 'only with the scope')
  const { access_token: none } = await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', { scope: `openid ${METADATA}` })
  t.notOk(METADATA in claimsOf(none), 'no claim for a user without metadata')

  t.throws(() => idp.setMetadata('nobody', 'k', 'v'), /no user/)
  t.throws(() => idp.setMetadata(tenant.alice.id, '', 'v'), /"key"/)
  t.throws(() => idp.setMetadata(tenant.alice.id, 'k', 7 as never), /"value"/)
})

t.test('mintAccessToken({ actor }) writes act, which introspection reports', async (t) => {
  const token = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, actor: { sub: tenant.alice.id } })
  t.same(claimsOf(token).act, { iss: idp.issuer, sub: tenant.alice.id })
  const other = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, actor: { sub: 'x', iss: 'https://other.example' } })
  t.same(claimsOf(other).act, { iss: 'https://other.example', sub: 'x' })
  const seen = await (await fetch(`${idp.issuer}/oauth/v2/introspect`, post({ token }, { authorization: basic(api.clientId, api.clientSecret) }))).json() as Record<string, unknown>
  t.same(seen.act, { iss: idp.issuer, sub: tenant.alice.id })
  await t.rejects(idp.mintAccessToken({ userId: tenant.bob.id, actor: { sub: 5 } as never }), /"actor"/)
  await t.rejects(idp.mintAccessToken({ userId: tenant.bob.id, actor: null as never }), /"actor"/)
  await t.rejects(idp.mintAccessToken({ userId: tenant.bob.id, actor: { sub: 'a', iss: 1 } as never }), /"actor"/)
})
