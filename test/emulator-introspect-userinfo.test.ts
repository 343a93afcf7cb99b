import t from 'tap'
import { PROJECT_ROLES_CLAIM, projectRolesClaim } from '../lib/testing/index.js'
import { ROLES_SCOPE, addTenant, aliceIntrospection, audScope, basic, codeFlow, jwtProfile, assertion, post, startIdp, claimsOf } from './emulator/helpers.js'

const idp = await startIdp()
t.teardown(() => idp.close())

async function introspect (token: string | undefined, authorization?: string, extra: Record<string, string> = {}): Promise<Response> {
  const fields: Record<string, string> = { ...extra }
  if (token !== undefined) fields.token = token
  return fetch(`${idp.issuer}/oauth/v2/introspect`, post(fields, authorization === undefined ? {} : { authorization }))
}

async function userinfo (token: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${idp.issuer}/oidc/v1/userinfo`, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } })
}

t.test('introspection by the project\'s API app: active, with the token\'s scope and the user\'s claims', async (t) => {
  const tenant = addTenant(idp)
  const api = idp.addApiApp({ projectId: tenant.projectId, name: 'backend' })
  t.match(api.clientSecret, /^[A-Za-z0-9_-]{32}$/, 'a secret is generated')
  const { access_token: token } = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw')
  const claims = claimsOf(token)
  const res = await introspect(token, basic(api.clientId, api.clientSecret))
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  const body = await res.json() as Record<string, unknown>
  const ownFields = { jti: claims.jti, iat: claims.iat, nbf: claims.nbf, exp: claims.exp, aud: claims.aud }
  t.same(body, aliceIntrospection(idp, tenant, body, ownFields))
  t.ok((claims.aud as string[]).includes(api.clientId), 'aud names every client id of the project, the API app\'s too')
  t.type(body.auth_time, 'number', 'auth_time: when the user logged in (zitadel introspect.go)')
  t.ok((body.auth_time as number) <= (claims.iat as number))
  t.notOk('auth_time' in claims, 'the access token itself carries no auth_time')
})

t.test('introspection answers active:false for anything it does not vouch for', async (t) => {
  const tenant = addTenant(idp)
  const other = addTenant(idp)
  const api = idp.addApiApp({ projectId: tenant.projectId, name: 'backend', clientSecret: 'backend-secret' })
  const auth = basic(api.clientId, 'backend-secret')
  const good = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  const foreign = await idp.mintAccessToken({ userId: other.bob.id, clientId: other.clientId })
  const expired = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, expiresIn: 0 })
  const { id_token: idToken } = await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw')
  const otherIdp = await startIdp({ algorithm: 'ES256' })
  t.teardown(() => otherIdp.close())
  const stranger = addTenant(otherIdp)
  const fromElsewhere = await otherIdp.mintAccessToken({ userId: stranger.bob.id })
  const [head, payload, sig] = good.split('.') as [string, string, string]
  const tampered = `${head}.${Buffer.from(JSON.stringify({ ...claimsOf(good), sub: tenant.alice.id })).toString('base64url')}.${sig}`
  const wrongIss = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, claims: { iss: 'https://elsewhere.example' } })
  const noJti = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, claims: { jti: undefined } })
  const noExp = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, claims: { exp: undefined } })
  const textExp = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, claims: { exp: '9999999999' } })
  t.ok(payload)

  for (const [name, token] of Object.entries({ foreign, expired, idToken, fromElsewhere, tampered, wrongIss, noJti, noExp, textExp, garbage: 'not.a.token' })) {
    const res = await introspect(token, auth)
    t.equal(res.status, 200, name)
    t.same(await res.json(), { active: false }, name)
  }
  t.equal((await (await introspect(good, auth)).json() as { active: boolean }).active, true, 'the good one is active')
})

t.test('audience is not authorization: an audience scope makes another project\'s API app see the token', async (t) => {
  const tenant = addTenant(idp)
  const other = addTenant(idp)
  const api = idp.addApiApp({ projectId: other.projectId, name: 'other backend' })
  idp.grantRoles(tenant.bob.id, other.projectId, ['admin'])
  const plain = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  t.same(await (await introspect(plain, basic(api.clientId, api.clientSecret))).json(), { active: false })
  const widened = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, projectIds: [other.projectId] })
  const body = await (await introspect(widened, basic(api.clientId, api.clientSecret))).json() as Record<string, unknown>
  t.equal(body.active, true)
  t.same(body[projectRolesClaim(other.projectId)], { admin: { [tenant.orgId]: tenant.orgDomain } }, 'roles of the asking project only')
  t.same(body[PROJECT_ROLES_CLAIM], body[projectRolesClaim(other.projectId)])
  t.notOk(projectRolesClaim(tenant.projectId) in body)
  t.equal(body.scope, `openid profile email ${audScope(other.projectId)}`)
})

t.test('introspection needs an app with a secret (Basic or form): otherwise 400 with Zitadel\'s error codes, no challenge', async (t) => {
  const tenant = addTenant(idp)
  const api = idp.addApiApp({ projectId: tenant.projectId, name: 'backend', clientSecret: 'backend-secret' })
  const token = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  // zitadel/oidc server_http.go introspectionHandler, then zitadel introspect.go introspectionClientAuth.
  const attempts: Array<[string, string | undefined, Record<string, string>, string, RegExp]> = [
    ['no credentials', undefined, {}, 'invalid_request', /client_id or client_assertion must be provided/],
    ['client_id alone', undefined, { client_id: api.clientId }, 'invalid_client', /client must be authenticated/],
    ['wrong secret', basic(api.clientId, 'nope-nope'), {}, 'unauthorized_client', /invalid secret/],
    ['wrong secret in the form', undefined, { client_id: api.clientId, client_secret: 'nope-nope' }, 'unauthorized_client', /invalid secret/],
    ['unknown client', basic('nobody', 'backend-secret'), {}, 'unauthorized_client', /no active client/],
    ['a public app', basic(tenant.clientId, 'backend-secret'), {}, 'unauthorized_client', /no configured secret/],
    ['malformed Basic', 'Basic', {}, 'invalid_client', /basic auth header/]
  ]
  for (const [name, authorization, extra, error, description] of attempts) {
    const res = await introspect(token, authorization, extra)
    t.equal(res.status, 400, name)
    t.equal(res.headers.get('www-authenticate'), null, `${name}: no challenge`)
    const body = await res.json() as { error: string, error_description: string }
    t.equal(body.error, error, name)
    t.match(body.error_description, description, name)
  }
  const ok = await introspect(token, `basic   ${Buffer.from(`${encodeURIComponent(api.clientId)}:backend-secret`).toString('base64')}`)
  t.equal(ok.status, 200, 'the scheme is case-insensitive')
  const byForm = await introspect(token, undefined, { client_id: api.clientId, client_secret: 'backend-secret' })
  t.equal((await byForm.json() as { active: boolean }).active, true, 'client_secret_post')
  const noToken = await introspect(undefined, basic(api.clientId, 'backend-secret'))
  t.equal(noToken.status, 400)
  t.same(await noToken.json(), { error: 'invalid_request', error_description: 'token missing' })
  const noTokenWrongSecret = await introspect(undefined, basic(api.clientId, 'nope-nope'))
  t.equal((await noTokenWrongSecret.json() as { error: string }).error, 'invalid_request', 'the token is asked for before the secret is checked')
})

t.test('userinfo: sub, profile and e-mail by scope, and the reserved claims', async (t) => {
  const tenant = addTenant(idp)
  const { access_token: token } = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw', { scope: 'openid profile email urn:zitadel:iam:user:resourceowner' })
  for (const res of [await userinfo(token), await userinfo(token, { method: 'POST' })]) {
    t.equal(res.status, 200)
    t.equal(res.headers.get('cache-control'), 'no-store')
    const body = await res.json() as Record<string, unknown>
    t.equal(body.sub, tenant.alice.id)
    t.equal(body.preferred_username, tenant.alice.username)
    t.equal(body.name, `${tenant.alice.username.charAt(0).toUpperCase()}${tenant.alice.username.slice(1)} Emulated`)
    t.equal(body.email, `${tenant.alice.username}@${tenant.orgDomain}`)
    t.equal(body.email_verified, true)
    t.equal(body['urn:zitadel:iam:user:resourceowner:id'], tenant.orgId)
    t.same(Object.keys(body[projectRolesClaim(tenant.projectId)] as object).sort(), ['admin', 'user'])
  }
  const { access_token: narrow } = await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', { scope: 'openid' })
  t.same(await (await userinfo(narrow)).json(), {
    sub: tenant.bob.id,
    [PROJECT_ROLES_CLAIM]: { user: { [tenant.orgId]: tenant.orgDomain } },
    [projectRolesClaim(tenant.projectId)]: { user: { [tenant.orgId]: tenant.orgDomain } }
  }, 'openid alone: sub and the asserted roles')
})

t.test('userinfo for a service user\'s token: its name, no e-mail, roles only by scope', async (t) => {
  const tenant = addTenant(idp)
  const { user, keyFile } = await idp.addServiceUser({ username: 'svc-info', name: 'Reporting job', orgId: tenant.orgId, grants: [{ projectId: tenant.projectId, roles: ['user'] }] })
  const res = await jwtProfile(idp, await assertion(keyFile, idp.issuer), `openid profile email ${audScope(tenant.projectId)} ${ROLES_SCOPE}`)
  const { access_token: token } = await res.json() as { access_token: string }
  const body = await (await userinfo(token)).json() as Record<string, unknown>
  t.same(body, {
    sub: user.id,
    name: 'Reporting job',
    preferred_username: 'svc-info',
    updated_at: body.updated_at,
    [projectRolesClaim(tenant.projectId)]: { user: { [tenant.orgId]: tenant.orgDomain } }
  })
})

t.test('userinfo refuses a missing, malformed, expired, foreign or ID token with 401', async (t) => {
  const tenant = addTenant(idp)
  const { id_token: idToken } = await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw')
  const expired = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, expiresIn: -1 })
  const attempts: Array<[string, Record<string, string>]> = [
    ['none', {}],
    ['Basic', { authorization: 'Basic abc' }],
    ['empty Bearer', { authorization: 'Bearer ' }],
    ['garbage', { authorization: 'Bearer abc.def.ghi' }],
    ['expired', { authorization: `Bearer ${expired}` }],
    ['ID token', { authorization: `Bearer ${idToken as string}` }]
  ]
  for (const [name, headers] of attempts) {
    const res = await fetch(`${idp.issuer}/oidc/v1/userinfo`, { headers })
    t.equal(res.status, 401, name)
    t.equal(res.headers.get('www-authenticate'), 'Bearer error="invalid_token"')
    t.same(await res.json(), { error: 'access_denied', error_description: 'access token invalid' })
  }
})

t.test('userinfo answers CORS for registered origins', async (t) => {
  const tenant = addTenant(idp)
  const token = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  const res = await userinfo(token, { headers: { origin: 'http://localhost:8001' } })
  t.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:8001')
  const pre = await fetch(`${idp.issuer}/oidc/v1/userinfo`, { method: 'OPTIONS', headers: { origin: 'http://localhost:8001', 'access-control-request-headers': 'authorization' } })
  t.equal(pre.status, 204)
  t.match(pre.headers.get('access-control-allow-headers'), /Authorization/)
})
