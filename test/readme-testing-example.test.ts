import Fastify from 'fastify'
import t from 'tap'
import zitadelAuth from '../lib/index.js'
import { startZitadelEmulator } from '../lib/testing/index.js'

// The example of the README's "Testing your own API", as written there (only
// the imports point at the source): if it stops working, the README is wrong.
t.test('admins may delete', async (t) => {
  const idp = await startZitadelEmulator({ quiet: true }) // http://127.0.0.1:<ephemeral port>
  t.teardown(() => idp.close())
  const org = idp.addOrganization({ name: 'ACME' })
  const project = idp.addProject({ name: 'api', roles: ['admin'] })
  idp.addApp({ projectId: project.id, name: 'web', redirectUris: ['http://localhost:3000/callback'] })
  const alice = idp.addUser({ username: 'alice', password: 'secret', orgId: org.id, grants: [{ projectId: project.id, roles: ['admin'] }] })

  const app = Fastify()
  await app.register(zitadelAuth, { issuer: idp.issuer, projectId: project.id })
  app.delete('/things/:id', { preHandler: app.zitadel.requireRoles(['admin']) }, async () => ({ deleted: true }))
  t.teardown(() => app.close())

  const token = await idp.mintAccessToken({ userId: alice.id })
  const res = await app.inject({ method: 'DELETE', url: '/things/1', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 200)
})
