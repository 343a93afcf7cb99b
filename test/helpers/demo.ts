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
 * first (the API needs its issuer), then the API (the emulator needs the
 * API's origin for the redirect URI), then the demo's users and apps.
 */
export async function startDemo (opts: { keyFile?: string } = {}): Promise<RunningDemo> {
  const idp = await startZitadelEmulator({ quiet: true })
  const app = await buildDemoApp({ issuer: idp.issuer, projectId: DEMO.projectId, clientId: DEMO.clientId })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const api = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  const seed = await seedDemo(idp, { apiOrigins: [api], keyFile: opts.keyFile })
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
