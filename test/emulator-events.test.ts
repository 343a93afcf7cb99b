import t, { type Test } from 'tap'
import { compactVerify, createRemoteJWKSet, decodeProtectedHeader } from 'jose'
import type { EventDelivery, EventTarget, EventTargetInput } from '../lib/testing/index.js'
import {
  JWT_BEARER, addTenant, assertion, authorizeParams, basic, codeFlow, exchange, introspect, isActive, login, openLogin, pkcePair, post, startIdp, submitLogin
} from './emulator/helpers.js'
import { deadUrl, expectedSignature, parseSignature, startReceiver, type Received, type Receiver } from './emulator/receiver.js'

// Actions v2 event targets over real HTTP: a node:http receiver records what
// the emulator sends; the checks are those of Zitadel's own verifier
// (pkg/actions/signing.go) and of the body Zitadel builds
// (internal/repository/execution/queue.go).

const idp = await startIdp()
t.teardown(() => idp.close())

const FIELDS = ['aggregateID', 'aggregateType', 'resourceOwner', 'instanceID', 'version', 'sequence', 'event_type', 'created_at', 'userID']
const RFC3339_NANO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/

/** A receiver and a target on it, both gone when the test ends (routing takes every target into account). */
async function target (t: Test, events: string[], extra: Partial<EventTargetInput> = {}): Promise<{ receiver: Receiver, target: EventTarget }> {
  const receiver = await startReceiver()
  const created = idp.addEventTarget({ url: receiver.url, events, ...extra })
  t.teardown(async () => {
    idp.removeEventTarget(created.id)
    await receiver.close()
  })
  return { receiver, target: created }
}

function bodyOf (received: Received): Record<string, unknown> {
  return JSON.parse(received.body.toString('utf8')) as Record<string, unknown>
}

/** Event type and aggregate id of what a receiver got, in order. */
function seen (receiver: Receiver): string[] {
  return receiver.received.map((r) => `${String(bodyOf(r).event_type)} ${String(bodyOf(r).aggregateID)}`)
}

async function userinfo (token: string): Promise<Response> {
  return fetch(`${idp.issuer}/oidc/v1/userinfo`, { headers: { authorization: `Bearer ${token}` } })
}

t.test('user.deactivated: the body, its fields in order, and the signature over the exact bytes sent', async (t) => {
  const tenant = addTenant(idp)
  const { receiver, target: created } = await target(t, ['user.deactivated'])
  t.match(created.signingKey, /^[A-Za-z0-9]{36}$/, 'a generated key: 36 letters and digits, as Zitadel\'s')
  t.match(created.id, /^\d{18}$/)

  const before = Date.now()
  const deliveries = await idp.deactivateUser(tenant.alice.id)
  const after = Date.now()
  t.same(deliveries, [{ targetId: created.id, url: receiver.url, eventType: 'user.deactivated', aggregateId: tenant.alice.id, sequence: 2, status: 200, error: undefined, ok: true }])
  t.same(idp.deliveries.at(-1), deliveries[0], 'logged in deliveries')
  t.equal(receiver.received.length, 1, 'delivered by the time the promise resolves: no polling')

  const [received] = receiver.received as [Received]
  t.equal(received.method, 'POST')
  t.equal(received.headers['content-type'], 'application/json')
  const signature = parseSignature(received.headers['zitadel-signature'])
  if (signature === undefined) throw new Error(`not a ZITADEL-Signature: ${String(received.headers['zitadel-signature'])}`)
  t.ok(signature.t >= Math.floor(before / 1000) && signature.t <= Math.floor(after / 1000), 't: the time of sending, in Unix seconds')
  t.equal(signature.v1, expectedSignature(created.signingKey, signature.t, received.body), 'hex HMAC-SHA256(key, "<t>." + body)')
  t.not(signature.v1, expectedSignature(created.signingKey, signature.t + 1, received.body), 't is part of what is signed')

  const text = received.body.toString('utf8')
  const body = bodyOf(received)
  t.equal(text, JSON.stringify(body), 'compact JSON')
  t.same(Object.keys(body), FIELDS, 'Zitadel\'s field order; no event_payload for an event without data')
  t.same(body, {
    aggregateID: tenant.alice.id,
    aggregateType: 'user',
    resourceOwner: tenant.orgId,
    instanceID: idp.instanceId,
    version: 'v2',
    sequence: 2,
    event_type: 'user.deactivated',
    created_at: body.created_at,
    userID: idp.adminUserId
  })
  t.type(body.sequence, 'number')
  t.match(body.created_at, RFC3339_NANO, 'RFC 3339 in UTC, as Go\'s RFC3339Nano')
  const createdAt = Date.parse(body.created_at as string)
  t.ok(createdAt >= before && createdAt <= after, 'created_at: when the change was made')
  t.not(body.userID, tenant.alice.id, 'userID is who made the change, not the user it is about')
  t.match(idp.instanceId, /^\d{18}$/)

  t.same(await idp.reactivateUser(tenant.alice.id), [], 'user.reactivated matches no execution: nothing is sent')
  await idp.deactivateUser(tenant.alice.id)
  t.equal(bodyOf(receiver.received[1] as Received).sequence, 4, 'the sequence counts every event of the aggregate')
})

t.test('a deactivated user cannot log in, gets no token from any grant, and its tokens are no longer active; reactivated, it can again', async (t) => {
  const tenant = addTenant(idp)
  const api = idp.addApiApp({ projectId: tenant.projectId, name: 'api' })
  const auth = { basic: [api.clientId, api.clientSecret] as [string, string] }
  const bob = tenant.bob
  const old = await codeFlow(idp, tenant.clientId, bob.username, 'bob-pw')
  const unexchanged = await login(idp, tenant.clientId, bob.username, 'bob-pw')
  t.equal(await isActive(idp, old.access_token, auth), true)

  await idp.deactivateUser(bob.id)
  const { authRequestId } = await openLogin(idp, authorizeParams(tenant.clientId, pkcePair().challenge))
  const page = await submitLogin(idp, authRequestId, bob.username, 'bob-pw')
  t.equal(page.status, 403, 'the login form refuses the user')
  t.match(await page.text(), /User is inactive\./)
  const code = await exchange(idp, { code: unexchanged.code, code_verifier: unexchanged.verifier, client_id: tenant.clientId })
  t.equal(code.status, 404, 'a code from before: Zitadel\'s user-info query finds no active user')
  t.same(await code.json(), { error: 'invalid_request', error_description: 'Errors.User.NotFound' })
  t.equal(await isActive(idp, old.access_token, auth), false, 'introspection: active false')
  t.equal((await userinfo(old.access_token)).status, 401)
  await t.rejects(idp.mintAccessToken({ userId: bob.id }), /mintAccessToken: the user "\d+" is not active/)

  await idp.reactivateUser(bob.id)
  const fresh = await codeFlow(idp, tenant.clientId, bob.username, 'bob-pw')
  t.equal(await isActive(idp, fresh.access_token, auth), true, 'reactivated: logins and new tokens work again')
  t.equal(await isActive(idp, old.access_token, auth), false, 'tokens from before the deactivation stay inactive (checkSessionNotTerminatedAfter)')

  // A service user: the JWT-profile and client-credentials grants.
  const { user: robot, keyFile } = await idp.addServiceUser({ username: `robot-${tenant.orgId}`, orgId: tenant.orgId })
  const secret = idp.addServiceUserSecret(robot.id)
  const clientCredentials = async (): Promise<Response> => fetch(`${idp.issuer}/oauth/v2/token`, post({ grant_type: 'client_credentials', scope: 'openid' }, { authorization: basic(robot.username, secret) }))
  const jwt = async (): Promise<Response> => fetch(`${idp.issuer}/oauth/v2/token`, post({ grant_type: JWT_BEARER, scope: 'openid', assertion: await assertion(keyFile, idp.issuer) }))
  const pat = idp.addPersonalAccessToken(robot.id)
  t.equal(await isActive(idp, pat, auth), true)
  await idp.deactivateUser(robot.id)
  for (const [name, res] of [['JWT profile', await jwt()], ['client credentials', await clientCredentials()]] as const) {
    t.equal(res.status, 404, `${name}: refused`)
    t.same(await res.json(), { error: 'invalid_request', error_description: 'Errors.User.NotFound' }, name)
  }
  t.equal(await isActive(idp, pat, auth), false, 'its PAT is no longer active')
  await idp.reactivateUser(robot.id)
  t.equal((await jwt()).status, 200, 'JWT profile works again')
  t.equal((await clientCredentials()).status, 200, 'client credentials work again')
  t.equal(await isActive(idp, pat, auth), false, 'a PAT ended by the deactivation stays ended, as Zitadel deletes it')
})

t.test('targets get the events their conditions match best: an exact type, else the most specific group, else \'*\'', async (t) => {
  const tenant = addTenant(idp)
  const exact = await target(t, ['user.locked'])
  const users = await target(t, ['user.*'])
  const grants = await target(t, ['user.grant.*', 'user.grant.*'])
  const all = await target(t, ['*'])

  await idp.lockUser(tenant.alice.id)
  await idp.unlockUser(tenant.alice.id)
  await idp.grantRoles(tenant.bob.id, tenant.projectId, ['admin'])
  const { id_token: idToken } = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw')
  const sid = JSON.parse(Buffer.from((idToken as string).split('.')[1] as string, 'base64url').toString()).sid as string
  await idp.terminateSession(sid)

  t.same(seen(exact.receiver), [`user.locked ${tenant.alice.id}`], 'the exact type, and only it')
  t.same(seen(users.receiver), [`user.unlocked ${tenant.alice.id}`], 'user.locked went to the exact match only, as Zitadel\'s router picks one execution')
  t.same(seen(grants.receiver).map((s) => s.split(' ')[0]), ['user.grant.changed'], 'user.grant.* is more specific than user.*')
  t.same(seen(all.receiver), [`session.terminated ${sid}`], '\'*\' gets what nothing else matches')
})

t.test('the JWT payload type: a JWS of the same JSON, signed with the instance key, verified with its JWKS; the HMAC covers the JWS', async (t) => {
  const tenant = addTenant(idp)
  const json = await target(t, ['user.locked'])
  const jwt = await target(t, ['user.locked'], { payloadType: 'jwt', signingKey: 'my-own-signing-key' })
  t.equal(jwt.target.signingKey, 'my-own-signing-key')
  const deliveries = await idp.lockUser(tenant.bob.id)
  t.same(deliveries.map((d) => d.targetId), [json.target.id, jwt.target.id], 'the targets of one execution, in the order added')

  const [received] = jwt.receiver.received as [Received]
  t.equal(received.headers['content-type'], 'application/json', 'still application/json, as Zitadel sends it')
  const token = received.body.toString('utf8')
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a compact JWS')
  const signature = parseSignature(received.headers['zitadel-signature'])
  t.equal(signature?.v1, expectedSignature('my-own-signing-key', signature?.t ?? 0, received.body), 'the HMAC over the JWS string')

  const jwks = createRemoteJWKSet(new URL(`${idp.issuer}/oauth/v2/keys`))
  const { payload, protectedHeader } = await compactVerify(token, jwks)
  t.same(protectedHeader, { alg: 'RS256', kid: protectedHeader.kid, typ: 'JWT' })
  t.match(protectedHeader.kid, /^\d+$/, 'kid of a published key')
  t.same(Buffer.from(payload).toString('utf8'), (json.receiver.received[0] as Received).body.toString('utf8'), 'the payload is the JSON body, byte for byte')

  await idp.rotateKeys()
  await idp.unlockUser(tenant.bob.id)
  await idp.lockUser(tenant.bob.id)
  const next = (jwt.receiver.received[1] as Received).body.toString('utf8')
  t.not(decodeProtectedHeader(next).kid, protectedHeader.kid, 'signed with the current key')
})

t.test('removeUser: user.removed, then user.grant.cascade.removed for each grant, which the user.grant.added events map to the user', async (t) => {
  const tenant = addTenant(idp)
  const partner = idp.addOrganization({ name: `Partner ${tenant.orgId}` })
  const { receiver } = await target(t, ['user.*'])
  const carol = idp.addUser({ username: `carol-${tenant.orgId}`, password: 'carol-pw', orgId: tenant.orgId, grants: [{ projectId: tenant.projectId, roles: ['user'] }] })
  const partnerGrant = await idp.grantRoles(carol.id, tenant.projectId, ['admin'], partner.id)
  await idp.waitForDeliveries()

  // What a receiver keeps: user grant id → user id, from user.grant.added.
  const owners = new Map<string, string>()
  for (const r of receiver.received) {
    const body = bodyOf(r)
    t.equal(body.event_type, 'user.grant.added')
    owners.set(body.aggregateID as string, (body.event_payload as { userId: string }).userId)
  }
  t.equal(owners.size, 2, 'one grant per project and organisation')
  t.same([...owners.values()], [carol.id, carol.id])
  t.same(partnerGrant.map((d) => d.aggregateId), [[...owners.keys()][1]])

  const api = idp.addApiApp({ projectId: tenant.projectId, name: 'api' })
  const token = await idp.mintAccessToken({ userId: carol.id, clientId: tenant.clientId })
  receiver.received.length = 0
  const deliveries = await idp.removeUser(carol.id)
  t.same(deliveries.map((d) => [d.eventType, d.ok]), [['user.removed', true], ['user.grant.cascade.removed', true], ['user.grant.cascade.removed', true]])
  const [removed, ...cascade] = receiver.received.map(bodyOf)
  t.same(removed, { aggregateID: carol.id, aggregateType: 'user', resourceOwner: tenant.orgId, instanceID: idp.instanceId, version: 'v2', sequence: 2, event_type: 'user.removed', created_at: removed?.created_at, userID: idp.adminUserId })
  t.same(cascade.map((b) => Object.keys(b)), [FIELDS, FIELDS], 'no payload: the grant events name only the grant')
  t.same(cascade.map((b) => [b.aggregateType, b.version, b.sequence]), [['usergrant', 'v1', 2], ['usergrant', 'v1', 2]])
  t.same(cascade.map((b) => b.resourceOwner), [tenant.orgId, partner.id], 'owned by the organisation the roles are held in')
  t.same(cascade.map((b) => owners.get(b.aggregateID as string)), [carol.id, carol.id], 'every removed grant maps back to the user')

  t.equal(await isActive(idp, token, { basic: [api.clientId, api.clientSecret] }), false, 'its tokens are no longer active')
  const { authRequestId } = await openLogin(idp, authorizeParams(tenant.clientId, pkcePair().challenge))
  t.match(await (await submitLogin(idp, authRequestId, carol.username, 'carol-pw')).text(), /Invalid username or password/, 'it is unknown to the login')
  t.doesNotThrow(() => idp.addUser({ username: carol.username, password: 'pw', orgId: tenant.orgId }), 'its username is free again')
})

t.test('grants: added with what a receiver needs, changed with the new roles, removed naming only the grant; the roles leave new tokens', async (t) => {
  const tenant = addTenant(idp)
  const partner = idp.addOrganization({ name: `Grantee ${tenant.orgId}` })
  const project = idp.addProject({ name: `extra ${tenant.orgId}`, orgId: tenant.orgId, roles: ['reader', 'writer', 'a<b&c>'] })
  const { receiver } = await target(t, ['user.grant.*'])
  const alice = tenant.alice

  await idp.grantRoles(alice.id, project.id, ['reader'])
  await idp.grantRoles(alice.id, project.id, ['writer'])
  await idp.changeGrant(alice.id, project.id, ['a<b&c>', 'reader'])
  await idp.grantRoles(alice.id, project.id, ['reader'], partner.id)
  const before = await idp.mintAccessToken({ userId: alice.id, clientId: tenant.clientId, projectIds: [project.id], roles: true })
  await idp.removeGrant(alice.id, project.id)

  const [added, more, changed, crossOrg, removed] = receiver.received.map(bodyOf) as Array<Record<string, unknown>>
  const grantId = added?.aggregateID as string
  t.match(grantId, /^\d{18}$/)
  t.not(grantId, alice.id, 'the aggregate is the grant, not the user')
  t.same(Object.keys(added?.event_payload as object), ['userId', 'projectId', 'roleKeys'], 'Zitadel\'s field order; no grantId within the project\'s own organisation')
  t.same(added, { aggregateID: grantId, aggregateType: 'usergrant', resourceOwner: tenant.orgId, instanceID: idp.instanceId, version: 'v1', sequence: 1, event_type: 'user.grant.added', created_at: added?.created_at, userID: idp.adminUserId, event_payload: { userId: alice.id, projectId: project.id, roleKeys: ['reader'] } })
  t.same([more?.event_type, more?.aggregateID, more?.sequence, more?.event_payload], ['user.grant.changed', grantId, 2, { roleKeys: ['reader', 'writer'] }], 'more roles: the same grant, all its roles')
  t.same([changed?.event_type, changed?.sequence, changed?.event_payload], ['user.grant.changed', 3, { roleKeys: ['a<b&c>', 'reader'] }])
  t.match((receiver.received[2] as Received).body.toString(), /"a\\u003cb\\u0026c\\u003e"/, '<, & and > escaped as Go does; the HMAC covers those bytes')
  t.not(crossOrg?.aggregateID, grantId, 'another organisation: another grant')
  t.equal(crossOrg?.resourceOwner, partner.id)
  const payload = crossOrg?.event_payload as Record<string, unknown>
  t.same(Object.keys(payload), ['userId', 'projectId', 'grantId', 'roleKeys'], 'through a project grant: its id as grantId')
  t.match(payload.grantId, /^\d{18}$/)
  t.same(removed, { aggregateID: grantId, aggregateType: 'usergrant', resourceOwner: tenant.orgId, instanceID: idp.instanceId, version: 'v1', sequence: 4, event_type: 'user.grant.removed', created_at: removed?.created_at, userID: idp.adminUserId })

  const rolesOf = (token: string): unknown => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString())[`urn:zitadel:iam:org:project:${project.id}:roles`]
  t.same(rolesOf(before), { 'a<b&c>': { [tenant.orgId]: tenant.orgDomain }, reader: { [tenant.orgId]: tenant.orgDomain, [partner.id]: partner.domain } })
  const after = await idp.mintAccessToken({ userId: alice.id, clientId: tenant.clientId, projectIds: [project.id], roles: true })
  t.same(rolesOf(after), { reader: { [partner.id]: partner.domain } }, 'only the grant that is left')
  await idp.removeGrant(alice.id, project.id, partner.id)
  t.equal(rolesOf(await idp.mintAccessToken({ userId: alice.id, clientId: tenant.clientId, projectIds: [project.id], roles: true })), undefined, 'no grant, no role claim')

  const { user: robot } = await idp.addServiceUser({ username: `grantee-${tenant.orgId}`, orgId: tenant.orgId, grants: [{ projectId: project.id, roles: ['writer'] }] })
  t.same(bodyOf(receiver.received.at(-1) as Received).event_payload, { userId: robot.id, projectId: project.id, roleKeys: ['writer'] }, 'addServiceUser resolves once its grants are delivered')
})

t.test('a target that answers 500, one that is not listening and one that never answers do not make the change fail; all are logged', async (t) => {
  const tenant = addTenant(idp)
  const failing = await target(t, ['user.deactivated'])
  failing.receiver.status = 500
  const dead = idp.addEventTarget({ url: await deadUrl(), events: ['user.deactivated'] })
  const hanging = await target(t, ['user.deactivated'], { timeout: 0.2 })
  hanging.receiver.hang = true
  const fine = await target(t, ['user.deactivated'])
  t.teardown(() => idp.removeEventTarget(dead.id))

  const deliveries = await idp.deactivateUser(tenant.alice.id)
  t.same(deliveries.map(({ targetId, status, ok }) => ({ targetId, status, ok })), [
    { targetId: failing.target.id, status: 500, ok: false },
    { targetId: dead.id, status: undefined, ok: false },
    { targetId: hanging.target.id, status: undefined, ok: false },
    { targetId: fine.target.id, status: 200, ok: true }
  ], 'each target called once, in order; a failure does not stop the next one')
  const [error500, errorDead, errorHang] = deliveries.map((d: EventDelivery) => d.error)
  t.equal(error500, 'the target answered HTTP 500')
  t.match(errorDead, /^no answer: .*ECONNREFUSED/)
  t.equal(errorHang, 'no answer within 0.2 s')
  t.equal(failing.receiver.received.length, 1, 'no retry')
  t.same(idp.deliveries.slice(-4), deliveries)
  await t.rejects(idp.mintAccessToken({ userId: tenant.alice.id }), /not active/, 'the change took effect all the same')
})

t.test('removeEventTarget: no more events go to it', async (t) => {
  const tenant = addTenant(idp)
  const receiver = await startReceiver()
  t.teardown(() => receiver.close())
  const created = idp.addEventTarget({ url: receiver.url, events: ['user.locked', 'user.unlocked'] })
  await idp.lockUser(tenant.alice.id)
  idp.removeEventTarget(created.id)
  t.same(await idp.unlockUser(tenant.alice.id), [])
  t.same(seen(receiver), [`user.locked ${tenant.alice.id}`])
  t.throws(() => idp.removeEventTarget(created.id), /removeEventTarget: no event target with id "\d+"/)
})

t.test('session.terminated for the sid of a login: that login\'s tokens end, others live; ending it again sends nothing', async (t) => {
  const tenant = addTenant(idp)
  const api = idp.addApiApp({ projectId: tenant.projectId, name: 'api' })
  const auth = { basic: [api.clientId, api.clientSecret] as [string, string] }
  const { receiver } = await target(t, ['session.terminated'])
  const first = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw')
  const second = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw')
  const sid = JSON.parse(Buffer.from((first.id_token as string).split('.')[1] as string, 'base64url').toString()).sid as string

  await idp.terminateSession(sid)
  const body = bodyOf(receiver.received[0] as Received)
  t.same(body, { aggregateID: sid, aggregateType: 'session', resourceOwner: idp.instanceId, instanceID: idp.instanceId, version: 'v1', sequence: 2, event_type: 'session.terminated', created_at: body.created_at, userID: idp.adminUserId, event_payload: {} })
  t.equal(await isActive(idp, first.access_token, auth), false)
  t.equal(await isActive(idp, second.access_token, auth), true, 'another login\'s session lives on')
  t.same(await idp.terminateSession(sid), [], 'already ended: no event, as Zitadel')
  t.equal(receiver.received.length, 1)
})

t.test('user.pat.removed names the token id (introspection\'s jti); user.machine.key.removed the key id', async (t) => {
  const tenant = addTenant(idp)
  const api = idp.addApiApp({ projectId: tenant.projectId, name: 'api' })
  const auth = { basic: [api.clientId, api.clientSecret] as [string, string] }
  const { receiver } = await target(t, ['user.pat.removed', 'user.machine.key.removed'])
  const { user, keyFile } = await idp.addServiceUser({ username: `keeper-${tenant.orgId}`, orgId: tenant.orgId })
  const pats = [idp.addPersonalAccessToken(user.id), idp.addPersonalAccessToken(user.id), idp.addPersonalAccessToken(user.id)]
  const ids = await Promise.all(pats.map(async (pat) => (await (await introspect(idp, pat, auth)).json() as { jti: string }).jti))

  await idp.removePersonalAccessToken(user.id, pats[0])
  await idp.removePersonalAccessToken(user.id, ids[1])
  t.equal(await isActive(idp, pats[0] as string, auth), false, 'removed by the token')
  t.equal(await isActive(idp, pats[1] as string, auth), false, 'removed by its id')
  t.equal(await isActive(idp, pats[2] as string, auth), true)
  await idp.removePersonalAccessToken(user.id)
  t.equal(await isActive(idp, pats[2] as string, auth), false, 'no token named: all of them')
  t.same(await idp.removePersonalAccessToken(user.id), [], 'none left: nothing sent')

  await idp.removeServiceUserKey(user.id, keyFile.keyId)
  const res = await fetch(`${idp.issuer}/oauth/v2/token`, post({ grant_type: JWT_BEARER, scope: 'openid', assertion: await assertion(keyFile, idp.issuer) }))
  t.equal(res.status, 400, 'the JWT-profile grant refuses the removed key')

  const bodies = receiver.received.map(bodyOf)
  t.same(bodies.map((b) => [b.event_type, b.aggregateID, b.aggregateType, b.resourceOwner, b.event_payload]), [
    ['user.pat.removed', user.id, 'user', tenant.orgId, { tokenId: ids[0] }],
    ['user.pat.removed', user.id, 'user', tenant.orgId, { tokenId: ids[1] }],
    ['user.pat.removed', user.id, 'user', tenant.orgId, { tokenId: ids[2] }],
    ['user.machine.key.removed', user.id, 'user', tenant.orgId, { keyId: keyFile.keyId }]
  ])
  t.same(bodies.map((b) => b.sequence), [2, 3, 4, 5])
})

t.test('closing: a delivery under way is aborted, later ones are not sent, the change itself still happens', async (t) => {
  const own = await startIdp()
  const tenant = addTenant(own)
  const receiver = await startReceiver()
  t.teardown(() => receiver.close())
  receiver.hang = true
  own.addEventTarget({ url: receiver.url, events: ['*'] })
  const underWay = own.deactivateUser(tenant.alice.id)
  await receiver.next()
  await own.close()
  t.same((await underWay).map((d) => [d.status, d.error]), [[undefined, 'not delivered: the emulator closed']])
  const later = await own.deactivateUser(tenant.bob.id)
  t.same(later.map((d) => [d.eventType, d.error]), [['user.deactivated', 'not delivered: the emulator closed']])
  t.equal(receiver.received.length, 1, 'nothing sent after close')
  await t.rejects(own.mintAccessToken({ userId: tenant.bob.id }), /not active/, 'the change took effect')
})
