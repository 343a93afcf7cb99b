import t, { type Test } from 'tap'
import { ROLES_SCOPE, addTenant, audScope, basic, claimsOf, post, startIdp } from './emulator/helpers.js'

// zitadel internal/api/oidc/client_credentials.go and token_client_credentials.go.
const idp = await startIdp()
t.teardown(() => idp.close())
const tenant = addTenant(idp)
const { user } = await idp.addServiceUser({ username: 'batch', orgId: tenant.orgId, grants: [{ projectId: tenant.projectId, roles: ['user'] }] })
const secret = idp.addServiceUserSecret(user.id)
const scope = `openid ${audScope(tenant.projectId)} ${ROLES_SCOPE}`

async function grant (fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${idp.issuer}/oauth/v2/token`, post({ grant_type: 'client_credentials', ...fields }, headers))
}

async function refused (t: Test, res: Response, error: string, description: RegExp): Promise<void> {
  t.equal(res.status, 400)
  t.equal(res.headers.get('www-authenticate'), null)
  const body = await res.json() as { error: string, error_description: string }
  t.equal(body.error, error)
  t.match(body.error_description, description)
}

t.test('a service user with a secret gets a token shaped as the JWT-profile one: client_id is the username', async (t) => {
  t.match(secret, /^[A-Za-z0-9_-]{43}$/)
  const res = await grant({ scope }, { authorization: basic('batch', secret) })
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  const body = await res.json() as Record<string, unknown>
  t.equal(body.token_type, 'Bearer')
  t.equal(body.expires_in, 43200)
  const claims = claimsOf(body.access_token as string)
  t.equal(claims.sub, user.id)
  t.equal(claims.client_id, 'batch')
  t.same(claims.aud, [tenant.projectId])
  t.same(claims[`urn:zitadel:iam:org:project:${tenant.projectId}:roles`], { user: { [tenant.orgId]: tenant.orgDomain } })
  const id = claimsOf(body.id_token as string)
  t.same(id.amr, ['pwd'], 'a secret is a password (zitadel amr.go)')
  t.equal(id.azp, 'batch')

  const form = await grant({ scope: 'profile', client_id: 'batch', client_secret: secret })
  t.equal(form.status, 200, 'client_secret_post')
  const bare = await form.json() as Record<string, unknown>
  t.notOk('id_token' in bare, 'no openid, no ID token')
  t.same(claimsOf(bare.access_token as string).aud, ['batch'], 'without audience scopes, aud is the username')

  const byLoginName = await grant({ scope: 'profile' }, { authorization: basic(`batch@${tenant.orgDomain}`, secret) })
  t.equal(claimsOf((await byLoginName.json() as { access_token: string }).access_token).client_id, `batch@${tenant.orgDomain}`, 'the login name as sent')
})

t.test('a new secret replaces the old one; failures are 400 with Zitadel\'s codes', async (t) => {
  const { user: other } = await idp.addServiceUser({ username: 'rotating' })
  const first = idp.addServiceUserSecret(other.id)
  const next = idp.addServiceUserSecret(other.id)
  t.not(first, next)
  await refused(t, await grant({ scope }, { authorization: basic('rotating', first) }), 'invalid_request', /secret is invalid/)
  t.equal((await grant({ scope }, { authorization: basic('rotating', next) })).status, 200)

  await idp.addServiceUser({ username: 'keyonly' })
  await refused(t, await grant({ scope }, { authorization: basic('keyonly', 'anything') }), 'invalid_request', /has no secret/)
  await refused(t, await grant({ scope }, { authorization: basic('nobody', secret) }), 'invalid_client', /client not found/)
  await refused(t, await grant({ scope }, { authorization: basic(tenant.bob.username, 'bob-pw') }), 'invalid_client', /client not found/)
  await refused(t, await grant({ scope }), 'invalid_request', /client_id or client_assertion must be provided/)
  await refused(t, await grant({}, { authorization: basic('batch', secret) }), 'invalid_request', /scope/)
  t.throws(() => idp.addServiceUserSecret(tenant.bob.id), /addServiceUserSecret: no service user/)
})
