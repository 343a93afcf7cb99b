import { createHash } from 'node:crypto'
import t from 'tap'
import { EMULATOR_ALGORITHMS, PROJECT_ROLES_CLAIM, projectRolesClaim } from '../lib/testing/index.js'
import { atHash } from '../lib/testing/tokens.js'
import { ROLES_SCOPE, addTenant, audScope, claimsOf, codeFlow, headerOf, startIdp } from './emulator/helpers.js'

const idp = await startIdp()
t.teardown(() => idp.close())

const ACCESS_CLAIMS = ['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'nbf', 'sub']

t.test('an access token from the code flow has exactly Zitadel\'s header and claims', async (t) => {
  const tenant = addTenant(idp)
  const second = idp.addApp({ projectId: tenant.projectId, name: 'second app', redirectUris: ['http://localhost:9/cb'] })
  const { access_token: token } = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw')
  const header = headerOf(token)
  t.same(Object.keys(header).sort(), ['alg', 'kid', 'typ'])
  t.equal(header.alg, 'RS256')
  t.equal(header.typ, 'JWT', 'typ JWT, not at+jwt')
  t.match(header.kid, /^\d{18}$/)

  const claims = claimsOf(token)
  const roleClaim = projectRolesClaim(tenant.projectId)
  t.same(Object.keys(claims).sort(), [...ACCESS_CLAIMS, roleClaim, PROJECT_ROLES_CLAIM].sort())
  t.equal(claims.iss, idp.issuer)
  t.equal(claims.sub, tenant.alice.id)
  t.same(claims.aud, [tenant.clientId, second.clientId, tenant.projectId], 'every client id of the project, then the project id')
  t.equal(claims.client_id, tenant.clientId)
  for (const name of ['exp', 'iat', 'nbf'] as const) t.ok(Number.isInteger(claims[name]), `${name} is an integer`)
  t.equal(claims.nbf, claims.iat)
  t.equal((claims.exp as number) - (claims.iat as number), 43200)
  t.match(claims.jti, /^V2_\d+-at_\d+$/)
  const roles = { user: { [tenant.orgId]: tenant.orgDomain }, admin: { [tenant.orgId]: tenant.orgDomain } }
  t.same(claims[roleClaim], roles)
  t.same(claims[PROJECT_ROLES_CLAIM], roles)
  for (const absent of ['scope', 'nonce', 'at_hash', 'azp', 'amr', 'auth_time', 'email', 'preferred_username']) t.notOk(absent in claims, `no ${absent}`)
})

t.test('the ID token: nonce, at_hash, azp, client_id, amr, auth_time, sid; user info only when the app says so', async (t) => {
  const tenant = addTenant(idp)
  const res = await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', { nonce: 'n-0S6_WzA2Mj' })
  const id = claimsOf(res.id_token as string)
  t.equal(id.nonce, 'n-0S6_WzA2Mj')
  t.equal(id.at_hash, createHash('sha256').update(res.access_token).digest().subarray(0, 16).toString('base64url'))
  t.equal(id.azp, tenant.clientId)
  t.equal(id.client_id, tenant.clientId)
  t.same(id.amr, ['pwd'])
  t.ok(Number.isInteger(id.auth_time))
  t.type(id.sid, 'string')
  t.same(id.aud, claimsOf(res.access_token).aud)
  t.equal(headerOf(res.id_token as string).typ, 'JWT')
  for (const absent of ['email', 'name', 'preferred_username', PROJECT_ROLES_CLAIM, 'jti', 'nbf']) t.notOk(absent in id, `no ${absent}`)

  const withoutNonce = claimsOf((await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw')).id_token as string)
  t.notOk('nonce' in withoutNonce)

  const project = idp.addProject({ name: 'rich id', roles: ['user'] })
  const app = idp.addApp({ projectId: project.id, name: 'rich', redirectUris: ['http://localhost:8001/docs/static/oauth2-redirect.html'], idTokenUserinfoAssertion: true, idTokenRoleAssertion: true })
  const carol = idp.addUser({ username: 'carol', password: 'carol-pw', email: 'carol@example.com', givenName: 'Carol', familyName: 'Jones', grants: [{ projectId: project.id, roles: ['user'] }] })
  const rich = claimsOf((await codeFlow(idp, app.clientId, carol.username, 'carol-pw')).id_token as string)
  t.equal(rich.email, 'carol@example.com')
  t.equal(rich.email_verified, true)
  t.equal(rich.name, 'Carol Jones')
  t.equal(rich.given_name, 'Carol')
  t.equal(rich.family_name, 'Jones')
  t.equal(rich.preferred_username, 'carol')
  t.ok(Number.isInteger(rich.updated_at))
  t.same(rich[PROJECT_ROLES_CLAIM], { user: { [carol.orgId]: 'org1.localhost' } })
})

t.test('at_hash uses the hash of the signing algorithm', async (t) => {
  const token = 'eyJhbGciOiJFUzM4NCJ9.e30.sig'
  const half = (alg: string, n: number) => createHash(alg).update(token).digest().subarray(0, n).toString('base64url')
  t.equal(atHash(token, 'RS256'), half('sha256', 16))
  t.equal(atHash(token, 'ES256'), half('sha256', 16))
  t.equal(atHash(token, 'RS384'), half('sha384', 24))
  t.equal(atHash(token, 'ES384'), half('sha384', 24))
  t.equal(atHash(token, 'RS512'), half('sha512', 32))
  t.equal(atHash(token, 'EdDSA'), half('sha512', 32))
})

t.test('audience scopes add projects to aud without any check', async (t) => {
  const tenant = addTenant(idp)
  const { access_token: token } = await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', {
    scope: `openid ${audScope('111111111111111111')} ${audScope(tenant.projectId)}`
  })
  t.same(claimsOf(token).aud, [tenant.clientId, tenant.projectId, '111111111111111111'])
})

t.test('when roles are in the access token: the project asserts them, or the scope asks (with the project\'s audience); the app must allow it', async (t) => {
  const roleKeys = (token: string) => Object.keys(claimsOf(token)).filter((k) => k.endsWith(':roles')).sort()
  const run = async (opts: { assertRoles: boolean, roleAssertion: boolean }, scope = 'openid') => {
    const tenant = addTenant(idp, opts)
    return { tenant, keys: roleKeys((await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', { scope })).access_token) }
  }
  t.same((await run({ assertRoles: false, roleAssertion: true })).keys, [], 'no assertion, no scope: no roles')
  // zitadel/zitadel userinfo.go prepareRoles: the roles scope covers the projects of the audience scopes.
  t.same((await run({ assertRoles: false, roleAssertion: true }, `openid ${ROLES_SCOPE}`)).keys, [], 'the roles scope alone names no project')
  const tenant = addTenant(idp, { assertRoles: false })
  const scoped = roleKeys((await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', { scope: `openid ${audScope(tenant.projectId)} ${ROLES_SCOPE}` })).access_token)
  t.same(scoped, [PROJECT_ROLES_CLAIM, projectRolesClaim(tenant.projectId)].sort(), 'the roles scope with the project\'s audience scope asks for them')
  const oneRole = await run({ assertRoles: false, roleAssertion: true }, 'openid urn:zitadel:iam:org:project:role:user')
  t.same(oneRole.keys, [PROJECT_ROLES_CLAIM, projectRolesClaim(oneRole.tenant.projectId)].sort(), 'a role scope asks for them too')
  t.same((await run({ assertRoles: true, roleAssertion: false }, `openid ${ROLES_SCOPE}`)).keys, [], 'the app does not put roles in access tokens')
  t.same((await run({ assertRoles: true, roleAssertion: false })).keys, [])
})

t.test('role claims span organisations and projects; the generic claim is the client\'s project', async (t) => {
  const tenant = addTenant(idp)
  const other = addTenant(idp)
  const partner = idp.addOrganization({ name: 'Partner Co', domain: 'partner.localhost' })
  idp.grantRoles(tenant.alice.id, tenant.projectId, ['user'], partner.id)
  idp.grantRoles(tenant.alice.id, other.projectId, ['admin'])
  const claims = claimsOf((await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw', {
    scope: `openid ${audScope(other.projectId)} ${ROLES_SCOPE}`
  })).access_token)
  t.same(claims[projectRolesClaim(tenant.projectId)], {
    user: { [tenant.orgId]: tenant.orgDomain, [partner.id]: 'partner.localhost' },
    admin: { [tenant.orgId]: tenant.orgDomain }
  })
  t.same(claims[projectRolesClaim(other.projectId)], { admin: { [tenant.orgId]: tenant.orgDomain } })
  t.same(claims[PROJECT_ROLES_CLAIM], claims[projectRolesClaim(tenant.projectId)])

  // Without the roles scope, only the client's project (asserted) gets roles.
  const plain = claimsOf((await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw', { scope: `openid ${audScope(other.projectId)}` })).access_token)
  t.notOk(projectRolesClaim(other.projectId) in plain)
  // A user without grants gets no role claims at all.
  const nobody = idp.addUser({ username: 'no-grants', password: 'pw-123', orgId: tenant.orgId })
  const none = claimsOf((await codeFlow(idp, tenant.clientId, nobody.username, 'pw-123')).access_token)
  t.notOk(Object.keys(none).some((k) => k.endsWith(':roles')))
  // A role scope for a role the user lacks in a project gives nothing for that project.
  const missing = claimsOf((await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', { scope: 'openid urn:zitadel:iam:org:project:role:admin' })).access_token)
  t.notOk(Object.keys(missing).some((k) => k.endsWith(':roles')))
})

t.test('resource owner and organisation scopes', async (t) => {
  const tenant = addTenant(idp)
  const claims = claimsOf((await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', {
    scope: `openid urn:zitadel:iam:user:resourceowner urn:zitadel:iam:org:domain:primary:${tenant.orgDomain}`
  })).access_token)
  t.equal(claims['urn:zitadel:iam:user:resourceowner:id'], tenant.orgId)
  t.match(claims['urn:zitadel:iam:user:resourceowner:name'], /^Org\d+$/)
  t.equal(claims['urn:zitadel:iam:user:resourceowner:primary_domain'], tenant.orgDomain)
  t.equal(claims['urn:zitadel:iam:org:domain:primary'], tenant.orgDomain)
  const org = claimsOf((await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', { scope: `openid urn:zitadel:iam:org:id:${tenant.orgId}` })).access_token)
  t.equal(org['urn:zitadel:iam:org:id'], tenant.orgId)
  t.equal(org['urn:zitadel:iam:user:resourceowner:id'], tenant.orgId)
})

t.test('mintAccessToken issues what the token endpoint would', async (t) => {
  const tenant = addTenant(idp)
  const fromFlow = claimsOf((await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw')).access_token)
  const minted = await idp.mintAccessToken({ userId: tenant.alice.id, clientId: tenant.clientId })
  const claims = claimsOf(minted)
  t.same(Object.keys(claims).sort(), Object.keys(fromFlow).sort())
  t.same(claims.aud, fromFlow.aud)
  t.same(claims[PROJECT_ROLES_CLAIM], fromFlow[PROJECT_ROLES_CLAIM])
  const { kid, ...header } = headerOf(minted)
  t.same(header, { alg: 'RS256', typ: 'JWT' })
  t.equal(kid, headerOf((await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw')).access_token).kid, 'signed with the same key')

  const other = addTenant(idp)
  idp.grantRoles(tenant.alice.id, other.projectId, ['user'])
  const extra = claimsOf(await idp.mintAccessToken({ userId: tenant.alice.id, clientId: tenant.clientId, projectIds: [other.projectId], roles: true }))
  t.same(extra.aud, [tenant.clientId, tenant.projectId, other.projectId])
  t.ok(projectRolesClaim(other.projectId) in extra, 'roles: true asks for every audience project\'s roles')
  const noRoles = claimsOf(await idp.mintAccessToken({ userId: tenant.alice.id, clientId: tenant.clientId, roles: false }))
  t.notOk(Object.keys(noRoles).some((k) => k.endsWith(':roles')))

  const unasserted = addTenant(idp, { assertRoles: false })
  const forced = claimsOf(await idp.mintAccessToken({ userId: unasserted.bob.id, clientId: unasserted.clientId, roles: true }))
  t.same(forced[PROJECT_ROLES_CLAIM], { user: { [unasserted.orgId]: unasserted.orgDomain } })

  const scoped = claimsOf(await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, scope: ['openid', 'urn:zitadel:iam:user:resourceowner'] }))
  t.equal(scoped['urn:zitadel:iam:user:resourceowner:id'], tenant.orgId)
  const scopedString = claimsOf(await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, scope: 'openid urn:zitadel:iam:user:resourceowner' }))
  t.equal(scopedString['urn:zitadel:iam:user:resourceowner:id'], tenant.orgId)

  const changed = claimsOf(await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, expiresIn: 60, claims: { custom: 'x', client_id: undefined } }))
  t.equal(changed.custom, 'x')
  t.notOk('client_id' in changed, 'undefined removes a claim')
  t.equal((changed.exp as number) - (changed.iat as number), 60)
  const expired = claimsOf(await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId, expiresIn: -10 }))
  t.equal((expired.exp as number) - (expired.iat as number), -10)
})

t.test('mintAccessToken defaults: the first app for a person, the JWT-profile shape for a service user', async (t) => {
  const fresh = await startIdp({ algorithm: 'ES256' })
  t.teardown(() => fresh.close())
  const lone = fresh.addUser({ username: 'lone', password: 'lone-pw' })
  await t.rejects(fresh.mintAccessToken({ userId: lone.id }), /add an app first/)
  const tenant = addTenant(fresh)
  fresh.addApiApp({ projectId: tenant.projectId, name: 'api' })
  const person = claimsOf(await fresh.mintAccessToken({ userId: tenant.bob.id }))
  t.equal(person.client_id, tenant.clientId)

  const service = await fresh.addServiceUser({ username: 'svc', grants: [{ projectId: tenant.projectId, roles: ['admin'] }] })
  const bare = claimsOf(await fresh.mintAccessToken({ userId: service.user.id }))
  t.same(bare.aud, ['svc'], 'the username, as the JWT-profile grant writes it')
  t.equal(bare.client_id, 'svc')
  t.notOk(Object.keys(bare).some((k) => k.endsWith(':roles')))
  const withRoles = claimsOf(await fresh.mintAccessToken({ userId: service.user.id, projectIds: [tenant.projectId], roles: true }))
  t.same(withRoles.aud, [tenant.projectId])
  t.same(withRoles[projectRolesClaim(tenant.projectId)], { admin: { [service.user.orgId]: 'zitadel.localhost' } }, 'held in the default organisation')
  t.notOk(PROJECT_ROLES_CLAIM in withRoles)
  const viaApp = claimsOf(await fresh.mintAccessToken({ userId: service.user.id, clientId: tenant.clientId }))
  t.equal(viaApp.client_id, tenant.clientId)
})

t.test('mintAccessToken refuses bad arguments with the argument named', async (t) => {
  const tenant = addTenant(idp)
  const bad: Array<[unknown, RegExp]> = [
    [null, /options must be an object/],
    [{ userId: 'nobody' }, /no user with id "nobody"/],
    [{ userId: tenant.bob.id, clientId: 'nope' }, /no app with client id "nope"/],
    [{ userId: tenant.bob.id, projectIds: 'x' }, /"projectIds"/],
    [{ userId: tenant.bob.id, projectIds: ['a:b'] }, /"projectIds"/],
    [{ userId: tenant.bob.id, roles: 'yes' }, /"roles"/],
    [{ userId: tenant.bob.id, expiresIn: 1.5 }, /"expiresIn"/],
    [{ userId: tenant.bob.id, claims: null }, /"claims"/],
    [{ userId: tenant.bob.id, claims: 'x' }, /"claims"/]
  ]
  for (const [options, message] of bad) {
    await t.rejects(idp.mintAccessToken(options as never), { name: 'TypeError', message }, JSON.stringify(options))
  }
})

t.test('accessTokenLifetime and algorithm options shape every token', async (t) => {
  for (const algorithm of EMULATOR_ALGORITHMS.filter((a) => !a.startsWith('RS'))) {
    const other = await startIdp({ algorithm, accessTokenLifetime: 300, idTokenLifetime: 120 })
    t.teardown(() => other.close())
    const tenant = addTenant(other)
    const res = await codeFlow(other, tenant.clientId, tenant.bob.username, 'bob-pw')
    t.equal(headerOf(res.access_token).alg, algorithm)
    t.equal(res.expires_in, 300)
    const claims = claimsOf(res.access_token)
    t.equal((claims.exp as number) - (claims.iat as number), 300)
    const id = claimsOf(res.id_token as string)
    t.equal((id.exp as number) - (id.iat as number), 120)
    t.equal(id.at_hash, atHash(res.access_token, algorithm))
  }
})
