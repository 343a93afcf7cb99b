import rateLimit from '@fastify/rate-limit'
import Fastify from 'fastify'
import t from 'tap'
import zitadelAuth from '../lib/index.js'
import { FAST, bearer } from './helpers/app.js'
import { opaqueTenant } from './helpers/introspection.js'
import { startIdp } from './emulator/helpers.js'

/*
 * docs/deployment.md: @fastify/rate-limit's hook added at the
 * application level runs before the plugin's route-level check, so requests
 * over the limit cost no introspection call; its default (global: true)
 * appends its hook to each route, after the check.
 */

t.test('an app-level rate-limit hook refuses a flood of made-up opaque tokens before any reaches Zitadel', async (t) => {
  const idp = await startIdp()
  t.teardown(() => idp.close())
  const { tenant, bySecret } = await opaqueTenant(idp)

  async function flood (setup: 'app-level' | 'global'): Promise<{ statuses: number[], calls: number }> {
    const app = Fastify()
    t.teardown(() => app.close())
    if (setup === 'app-level') {
      await app.register(rateLimit, { global: false })
      app.addHook('onRequest', app.rateLimit({ max: 3, timeWindow: '1 minute' }))
    } else {
      await app.register(rateLimit, { max: 3, timeWindow: '1 minute' })
    }
    await app.register(zitadelAuth, { issuer: idp.issuer, projectId: tenant.projectId, ...FAST, introspection: bySecret })
    app.get('/me', { preHandler: app.zitadel.requireAuth() }, async () => 'ok')
    await app.ready()
    idp.resetRequests()
    const statuses: number[] = []
    for (let i = 0; i < 10; i++) {
      statuses.push((await app.inject({ url: '/me', headers: bearer(`made-up-token-${setup}-${i}`) })).statusCode)
    }
    return { statuses, calls: idp.requests.introspect }
  }

  const appLevel = await flood('app-level')
  t.same(appLevel.statuses, [401, 401, 401, 429, 429, 429, 429, 429, 429, 429], 'app level: three checked, then 429')
  t.equal(appLevel.calls, 3, 'app level: only the three within the limit reached Zitadel')

  const global = await flood('global')
  t.same(global.statuses, Array(10).fill(401), 'global: every token is checked first, and refused before the limit runs')
  t.equal(global.calls, 10, 'global: every made-up token cost a call')
})
