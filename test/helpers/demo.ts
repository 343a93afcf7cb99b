import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { buildDemoApp } from '../../demo/app.js'
import { DEMO, seedDemo } from '../../demo/dev-idp.js'
import { startZitadelEmulator, type ZitadelEmulator } from '../../lib/testing/index.js'
import type { Teardown } from './app.js'

export interface RunningDemo {
  idp: ZitadelEmulator
  app: FastifyInstance
  /** http://127.0.0.1:PORT of the demo API */
  api: string
  /** The demo API's port (API_PORT of the CLIs). */
  apiPort: number
  seed: Awaited<ReturnType<typeof seedDemo>>
  close (): Promise<void>
}

/** A port nothing listens on right now: bound on 127.0.0.1, then released. */
export async function freePort (): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as { port: number }).port
  await new Promise<void>((resolve) => probe.close(() => { resolve() }))
  return port
}

/**
 * The demo as `npm run demo` starts it, on ephemeral ports: the emulator
 * first (the API needs its issuer), then a free port for the API (its origin
 * goes into the redirect URIs), then the demo's users and apps, then the API
 * (with opaque tokens it needs the key of the API application seeded).
 */
export async function startDemo (opts: { keyFile?: string, tokens?: 'jwt' | 'opaque' } = {}): Promise<RunningDemo> {
  const idp = await startZitadelEmulator({ quiet: true })
  const port = await freePort()
  const api = `http://127.0.0.1:${port}`
  // Both origins, as npm run demo registers them: the demo:token CLI asks with localhost.
  const seed = await seedDemo(idp, { apiOrigins: [api, `http://localhost:${port}`], keyFile: opts.keyFile, tokens: opts.tokens })
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
    apiPort: port,
    seed,
    async close () {
      await app.close()
      await idp.close()
    }
  }
}

/**
 * Use when a test reads the service user's key file: the demo (startDemo)
 * writing that file into a fresh temporary directory. The demo is closed and
 * the directory removed when the test ends.
 */
export async function demoWithKeyFile (t: Teardown, opts: { tokens?: 'jwt' | 'opaque' } = {}): Promise<{ demo: RunningDemo, dir: string, keyFile: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'fza-demo-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const keyFile = join(dir, 'service-user.json')
  const demo = await startDemo({ keyFile, ...opts })
  t.teardown(() => demo.close())
  return { demo, dir, keyFile }
}

export interface ScriptResult {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs a demo script as `npm run` does (through tsx), with `env` added to
 * ours; resolves with its exit code and output, whatever the code. An empty
 * ZITADEL_ISSUER keeps a developer's demo/.env from pointing it elsewhere.
 * The child reports no coverage (a documented switch of tap's processinfo):
 * tap's loader must come last to map coverage of transpiled files, and here
 * tsx comes after it, so the child's ranges for lib/ would be wrong and would
 * hide what the tests covered.
 */
export async function runScript (script: string, args: string[], env: Record<string, string> = {}): Promise<ScriptResult> {
  const childEnv = { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0', ZITADEL_ISSUER: '', ...env }
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', script, ...args], { env: childEnv }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') reject(err)
      else resolve({ code: err === null ? 0 : err.code as number, stdout, stderr })
    })
  })
}
