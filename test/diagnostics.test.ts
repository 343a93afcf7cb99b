import t from 'tap'
import { resolveOptions } from '../lib/options.js'
import { bearer, ES256_ONLY, setup } from './helpers/app.js'
import { refused } from './helpers/assertions.js'
import { CLIENT_ID, PROJECT_ID, SUB } from '../fixtures/issuer.js'

/*
 * The usual set-up mistakes, each diagnosable from one log line: an opaque
 * token without introspection, a client id given as projectId, a token
 * refused for its audience, client or subject. The lines show claims and
 * what was expected, never the token.
 */

t.test('an opaque token without introspection: 401 TOKEN_MALFORMED and a warning that says what to change, once per cooldown', async (t) => {
  const { app, logs, lines } = await setup(t, { ...ES256_ONLY, jwksCooldown: 10 }, { alg: 'ES256', logs: true })
  const opaque = 'pq9Q3vXW2d7d3b5L1aW0Zb8JwS3wKq0m6o4c2h8vJX1tR5yN7uP0eA9sD4fG6hJ8kL2zX5cV3bN1mQ7wE9rT0yU2iO4pA6sD8fG1hJ3kL5'
  const hints = () => logs().filter((l) => l.level === 40 && /not a JWT/.test(l.msg))
  refused(t, await app.inject({ url: '/me', headers: bearer(opaque) }), 'TOKEN_MALFORMED', 'an opaque token')
  t.equal(hints().length, 1, 'one warning')
  t.match(hints()[0]?.msg, /opaque access token .* access token type to JWT .* or give the plugin the introspection option/)
  refused(t, await app.inject({ url: '/me', headers: bearer(`${opaque}x`) }), 'TOKEN_MALFORMED', 'another one')
  t.equal(hints().length, 1, 'not again within the cooldown')
  refused(t, await app.inject({ url: '/me', headers: bearer('a.b') }), 'TOKEN_MALFORMED', 'a broken JWT')
  t.equal(hints().length, 1, 'a token with dots is no opaque token: no hint')
  t.notOk(lines.some((line) => line.includes(opaque)), 'no token in the log')
})

t.test('no opaque-token hint when introspection is set (such tokens go to Zitadel)', async (t) => {
  const { app, logs } = await setup(t, { ...ES256_ONLY, introspection: { clientId: 'api@demo', clientSecret: 'secret' }, httpTimeout: 0.2 }, { alg: 'ES256', logs: true })
  await app.inject({ url: '/me', headers: bearer('pq9Q3vXW2d7d3b5L1aW0Zb8JwS3wKq0m6o4c2h8v') })
  t.notOk(logs().some((l) => /not a JWT/.test(l.msg)))
})

t.test('refusals for audience, client and subject log what was expected and what the token said, at debug', async (t) => {
  const { issuer, app, logs, lines } = await setup(t, { ...ES256_ONLY, allowedClientIds: [CLIENT_ID], allowedSubjects: [SUB] }, { alg: 'ES256', logs: true })
  const find = (msg: string) => logs().filter((l) => l.msg === msg)

  const foreign = await issuer.token({ claims: { aud: ['263784183128768663@demo', '999999999999999999'] } })
  refused(t, await app.inject({ url: '/me', headers: bearer(foreign) }), 'AUDIENCE_INVALID', 'another project')
  t.match(find('zitadel: token refused for its audience')[0], { level: 20, aud: ['263784183128768663@demo', '999999999999999999'], audience: [PROJECT_ID] })
  refused(t, await app.inject({ url: '/me', headers: bearer(await issuer.token({ claims: { aud: 42 } })) }), 'AUDIENCE_INVALID', 'aud a number')
  t.match(find('zitadel: token refused for its audience')[1], { aud: 'number' })
  refused(t, await app.inject({ url: '/me', headers: bearer(await issuer.token({ claims: { aud: Array.from({ length: 20 }, (_, i) => `p${i}`) } })) }), 'AUDIENCE_INVALID', 'twenty audiences')
  t.equal((find('zitadel: token refused for its audience')[2]?.aud as unknown[]).length, 10, 'ten at most')

  refused(t, await app.inject({ url: '/me', headers: bearer(await issuer.token({ claims: { client_id: 'other@demo' } })) }), 'CLIENT_NOT_ALLOWED', 'another client')
  t.match(find('zitadel: token refused for its client_id')[0], { level: 20, clientId: 'other@demo', allowedClientIds: [CLIENT_ID] })
  refused(t, await app.inject({ url: '/me', headers: bearer(await issuer.token({ claims: { client_id: null } })) }), 'CLIENT_NOT_ALLOWED', 'client_id null')
  t.match(find('zitadel: token refused for its client_id')[1], { clientId: 'null' })

  refused(t, await app.inject({ url: '/me', headers: bearer(await issuer.token({ claims: { sub: '263785999999999999' } })) }), 'CLIENT_NOT_ALLOWED', 'another subject')
  t.match(find('zitadel: token refused for its subject')[0], { level: 20, sub: '263785999999999999', allowedSubjects: [SUB] })
  t.notOk(lines.some((line) => line.includes(foreign)), 'no token in the log')
})

t.test('projectId: a client id (with @) is refused at registration, with where to find the project id', async (t) => {
  t.throws(() => resolveOptions({ issuer: 'https://x.zitadel.cloud', projectId: '263784183128768663@demo' }), {
    code: 'ZITADEL_AUTH_INVALID_OPTION',
    message: /option "projectId" must be .* Project → General; a value with @ is an app's client id/
  })
})
