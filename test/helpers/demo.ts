import { createServer } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { buildDemoApp } from '../../demo/app.js'
import { DEMO, seedDemo } from '../../demo/dev-idp.js'
import { startZitadelEmulator, type ZitadelEmulator } from '../../lib/testing/index.js'

export interface RunningDemo {
  idp: ZitadelEmulator
  app: FastifyInstance
  /** http://127.0.0.1:PORT of the demo API */
  api: string
  seed: Awaited<ReturnType<typeof seedDemo>>
  close (): Promise<void>
}

/**
 * The demo as `npm run demo` starts it, on ephemeral ports: the emulator
 * first (the API needs its issuer), then a free port for the API (its origin
 * goes into the redirect URIs), then the demo's users and apps, then the API
 * (with opaque tokens it needs the key of the API application seeded).
 */
export async function startDemo (opts: { keyFile?: string, tokens?: 'jwt' | 'opaque' } = {}): Promise<RunningDemo> {
  const idp = await startZitadelEmulator({ quiet: true })
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as { port: number }).port
  await new Promise<void>((resolve) => probe.close(() => { resolve() }))
  const api = `http://127.0.0.1:${port}`
  const seed = await seedDemo(idp, { apiOrigins: [api], keyFile: opts.keyFile, tokens: opts.tokens })
  const app = await buildDemoApp({
    issuer: idp.issuer,
    projectId: DEMO.projectId,
    clientId: DEMO.clientId,
    introspection: seed.apiKeyFile === undefined ? undefined : { keyFile: seed.apiKeyFile }
  })
  await app.listen({ port, host: '127.0.0.1' })
  return {
    idp,
    app,
    api,
    seed,
    async close () {
      await app.close()
      await idp.close()
    }
  }
}
