import Fastify, { type FastifyInstance } from 'fastify'
import zitadelAuth, { type ZitadelAuthOptions } from '../../lib/index.js'
import type { TestIssuer } from './issuer.js'

/** Small cooldowns keep the tests quick; the rules under test are the same. */
export const FAST = { jwksCooldown: 0.2, httpTimeout: 1 } as const

/**
 * An app with the plugin registered against `issuer` and the routes most
 * tests need. Each test builds its own app and closes it (t.teardown).
 */
export async function buildApp (issuer: TestIssuer, options: Partial<ZitadelAuthOptions> = {}, extra?: (app: FastifyInstance) => void): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, ...FAST, ...options })
  app.get('/public', async (req) => ({ public: true, user: req.user?.sub ?? null }))
  app.get('/me', { preHandler: app.zitadel.requireAuth() }, async (req) => req.user)
  app.get('/admin', { preHandler: app.zitadel.requireRoles(['admin']) }, async () => ({ admin: true }))
  app.get('/health', { config: { zitadel: false } }, async () => ({ ok: true }))
  extra?.(app)
  await app.ready()
  return app
}

export function bearer (token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}
