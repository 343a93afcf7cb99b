import t from 'tap'
import { eventBody, goJson, rfc3339Nano, signatureHeader } from '../lib/testing/event-body.js'
import { addTenant, authorizeParams, basic, openLogin, pkcePair, post, startIdp, submitLogin } from './emulator/helpers.js'
import { expectedSignature, parseSignature } from './emulator/receiver.js'

// The test controls that change users, grants, sessions and credentials:
// Zitadel's preconditions, the setup errors for mistakes, and the effects
// not covered by emulator-events.test.ts.

const idp = await startIdp()
t.teardown(() => idp.close())
const tenant = addTenant(idp, { clientSecret: 'state-secret' })
const SETUP_ERROR = (message: RegExp): { name: string, message: RegExp } => ({ name: 'TypeError', message: new RegExp(`^zitadel emulator: .*${message.source}`) })

async function loginPage (username: string, password: string): Promise<{ status: number, html: string }> {
  const { authRequestId } = await openLogin(idp, authorizeParams(tenant.clientId, pkcePair().challenge))
  const res = await submitLogin(idp, authRequestId, username, password)
  return { status: res.status, html: await res.text() }
}

t.test('a locked user is refused by name once the password is right; unlocked, it logs in', async (t) => {
  const { user } = { user: idp.addUser({ username: 'locky', password: 'locky-pw', orgId: tenant.orgId }) }
  await idp.lockUser(user.id)
  const wrong = await loginPage('locky', 'nope')
  t.equal(wrong.status, 401, 'a wrong password says nothing of the state')
  t.match(wrong.html, /Invalid username or password/)
  const locked = await loginPage('locky', 'locky-pw')
  t.equal(locked.status, 403)
  t.match(locked.html, /User is locked\./)
  await idp.deactivateUser(user.id)
  t.match((await loginPage('locky', 'locky-pw')).html, /User is inactive\./, 'a locked user can be deactivated')
  await idp.reactivateUser(user.id)
  t.equal((await loginPage('locky', 'locky-pw')).status, 302, 'reactivated: active, no longer locked')
})

t.test('Zitadel\'s preconditions on user states are setup errors', async (t) => {
  const user = idp.addUser({ username: 'stately', password: 'pw', orgId: tenant.orgId })
  const cases: Array<[() => unknown, RegExp]> = [
    [() => idp.reactivateUser(user.id), /reactivateUser: the user "\d+" is active, not deactivated/],
    [() => idp.unlockUser(user.id), /unlockUser: the user "\d+" is active, not locked/],
    [() => idp.deactivateUser('nobody'), /deactivateUser: no user with id "nobody"/],
    [() => idp.removeUser('nobody'), /removeUser: no user with id "nobody"/]
  ]
  for (const [fn, message] of cases) t.throws(fn, SETUP_ERROR(message), message.source)
  await idp.deactivateUser(user.id)
  t.throws(() => idp.deactivateUser(user.id), SETUP_ERROR(/is deactivated, not active or locked/))
  t.throws(() => idp.lockUser(user.id), SETUP_ERROR(/lockUser: the user "\d+" is deactivated, not active/))
})

t.test('token exchange: an inactive user is no subject, and its tokens are no subject tokens', async (t) => {
  const { user: support } = await idp.addServiceUser({ username: 'support', orgId: tenant.orgId })
  const actorToken = await idp.mintAccessToken({ userId: support.id, clientId: tenant.clientId, scope: 'openid' })
  const subjectToken = await idp.mintAccessToken({ userId: tenant.bob.id, clientId: tenant.clientId })
  const exchange = async (fields: Record<string, string>): Promise<Response> => fetch(`${idp.issuer}/oauth/v2/token`, post({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', ...fields
  }, { authorization: basic(tenant.clientId, 'state-secret') }))
  const impersonate = { subject_token: tenant.bob.id, subject_token_type: 'urn:zitadel:params:oauth:token-type:user_id', actor_token: actorToken, actor_token_type: 'urn:ietf:params:oauth:token-type:access_token' }
  const delegate = { subject_token: subjectToken, subject_token_type: 'urn:ietf:params:oauth:token-type:access_token' }
  t.equal((await exchange(impersonate)).status, 200)
  await idp.lockUser(tenant.bob.id)
  for (const fields of [impersonate, delegate]) {
    const res = await exchange(fields)
    t.equal(res.status, 400)
    t.same(await res.json(), { error: 'invalid_request', error_description: 'subject_token invalid' })
  }
  await idp.unlockUser(tenant.bob.id)
  t.equal((await exchange(impersonate)).status, 200, 'unlocked: a subject again')
})

t.test('addEventTarget checks what it is given', async (t) => {
  const url = 'http://127.0.0.1:9/events'
  const cases: Array<[unknown, RegExp]> = [
    [null, /addEventTarget: the argument must be an object/],
    [{ url: 'ftp://x/y', events: ['*'] }, /"url" must be an absolute http\(s\) URL/],
    [{ url: 'not a url', events: ['*'] }, /"url"/],
    [{ url: 5, events: ['*'] }, /"url"/],
    [{ url, events: [] }, /"events" must be a non-empty array/],
    [{ url, events: 'user.*' }, /"events" must be a non-empty array/],
    [{ url, events: ['user.'] }, /"events" has "user\.", which is neither/],
    [{ url, events: ['user.*.x'] }, /"events" has "user\.\*\.x"/],
    [{ url, events: ['.*'] }, /"events" has "\.\*"/],
    [{ url, events: [7] }, /"events" has 7/],
    [{ url, events: ['*'], payloadType: 'jwe' }, /"payloadType" must be "json" or "jwt"/],
    [{ url, events: ['*'], signingKey: '' }, /"signingKey" must be a non-empty string/],
    [{ url, events: ['*'], timeout: 0 }, /"timeout" must be a number of seconds, more than 0 and at most 270/],
    [{ url, events: ['*'], timeout: 271 }, /"timeout"/],
    [{ url, events: ['*'], timeout: '10' }, /"timeout"/]
  ]
  for (const [input, message] of cases) t.throws(() => idp.addEventTarget(input as never), SETUP_ERROR(message), message.source)
  const made = idp.addEventTarget({ url: 'https://receiver.example/zitadel', events: ['user.grant.*', 'session.terminated', '*'], timeout: 270 })
  const another = idp.addEventTarget({ url, events: ['*'] })
  t.not(made.signingKey, another.signingKey, 'a new key per target')
  idp.removeEventTarget(made.id)
  idp.removeEventTarget(another.id)
  t.throws(() => idp.removeEventTarget(5 as never), SETUP_ERROR(/removeEventTarget: no event target with id "5"/))
})

t.test('grant, session and credential controls check what they are given', async (t) => {
  const { user: robot, keyFile } = await idp.addServiceUser({ username: 'checked', orgId: tenant.orgId })
  const other = idp.addProject({ name: 'unused', roles: ['x'] })
  const cases: Array<[() => unknown, RegExp]> = [
    [() => idp.changeGrant(tenant.alice.id, other.id, ['x']), /changeGrant: the user "\d+" has no grant in the project "unused" held in the organisation "\d+"; add one with grantRoles/],
    [() => idp.changeGrant(tenant.alice.id, tenant.projectId, []), /changeGrant: "roles" must be a non-empty array of role keys; to take every role away, use removeGrant/],
    [() => idp.changeGrant(tenant.alice.id, tenant.projectId, ['owner']), /changeGrant: the project "demo\d+" has no role "owner"/],
    [() => idp.changeGrant('nobody', tenant.projectId, ['user']), /changeGrant: no user with id "nobody"/],
    [() => idp.removeGrant(tenant.alice.id, other.id), /removeGrant: the user "\d+" has no grant/],
    [() => idp.removeGrant(tenant.alice.id, 'nope'), /removeGrant: no project with id "nope"/],
    [() => idp.removeGrant(tenant.alice.id, tenant.projectId, 'nope'), /removeGrant: no organisation with id "nope"/],
    [() => idp.terminateSession('never-issued'), /terminateSession: no session with id "never-issued"; a session is the sid of the ID tokens of a code-flow login/],
    [() => idp.terminateSession(5 as never), /terminateSession: no session with id "5"/],
    [() => idp.removePersonalAccessToken(tenant.alice.id), /removePersonalAccessToken: no service user with id "\d+"/],
    [() => idp.removePersonalAccessToken(robot.id, ''), /removePersonalAccessToken: "token" must be the token or its id/],
    [() => idp.removePersonalAccessToken(robot.id, 5 as never), /"token" must be the token or its id/],
    [() => idp.removePersonalAccessToken(robot.id, 'unknown'), /the service user "\d+" has no personal access token "unknown"/],
    [() => idp.removeServiceUserKey(tenant.alice.id, keyFile.keyId), /removeServiceUserKey: no service user with id "\d+"/],
    [() => idp.removeServiceUserKey(robot.id, 'nokey'), /removeServiceUserKey: the service user "\d+" has no key "nokey"/]
  ]
  for (const [fn, message] of cases) t.throws(fn, SETUP_ERROR(message), message.source)
  const pat = idp.addPersonalAccessToken(robot.id)
  t.throws(() => idp.removePersonalAccessToken(tenant.bob.id, pat), SETUP_ERROR(/no service user/), 'only its own user\'s')
  t.same(await idp.changeGrant(tenant.alice.id, tenant.projectId, ['user']), [], 'no target, nothing delivered')
})

t.test('the bytes: Go\'s JSON escapes, RFC3339Nano, the signature header', async (t) => {
  t.equal(goJson({ a: '<&>\u2028\u2029é', b: [1, true, null] }), '{"a":"\\u003c\\u0026\\u003e\\u2028\\u2029é","b":[1,true,null]}')
  t.equal(rfc3339Nano(Date.UTC(2025, 8, 5, 8, 55, 36, 0)), '2025-09-05T08:55:36Z', 'no fraction when it is zero')
  t.equal(rfc3339Nano(Date.UTC(2025, 8, 5, 8, 55, 36, 150)), '2025-09-05T08:55:36.15Z', 'trailing zeros dropped')
  t.equal(rfc3339Nano(Date.UTC(2025, 8, 5, 8, 55, 36, 156)), '2025-09-05T08:55:36.156Z')
  const body = eventBody({ aggregateID: '1', aggregateType: 'session', resourceOwner: '2', instanceID: '2', version: 'v1', sequence: 3, event_type: 'session.terminated', created_at: 'x', userID: '4' })
  t.equal(body, '{"aggregateID":"1","aggregateType":"session","resourceOwner":"2","instanceID":"2","version":"v1","sequence":3,"event_type":"session.terminated","created_at":"x","userID":"4"}')
  const header = signatureHeader(Buffer.from(body), 'k', 1_757_062_536_999)
  t.equal(parseSignature(header)?.t, 1_757_062_536, 'whole seconds, rounded down')
  t.equal(parseSignature(header)?.v1, expectedSignature('k', 1_757_062_536, Buffer.from(body)))
})
