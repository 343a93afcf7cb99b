import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import type { Clock, kClock } from '../../lib/clock.js'
import zitadelAuth, { type ZitadelAuthOptions } from '../../lib/index.js'
import { startIssuer, type Alg, type TestIssuer } from '../../fixtures/issuer.js'

/** Small cooldowns keep the tests quick; the rules under test are the same. */
export const FAST = { jwksCooldown: 0.2, httpTimeout: 1 } as const

/** Plugin options, and the clock a test moves itself (`clock.option` of a FakeClock, test/helpers/clock.ts). */
export type TestOptions = Partial<ZitadelAuthOptions> & { [kClock]?: Clock }

/** What the helpers below need of a tap test: somewhere to register clean-up. */
export interface Teardown { teardown (fn: () => unknown): void }

/**
 * An app with the plugin registered against `issuer` and the routes most
 * tests need. Each test builds its own app and closes it (t.teardown).
 */
export async function buildApp (issuer: TestIssuer, options: TestOptions = {}, extra?: (app: FastifyInstance) => void): Promise<FastifyInstance> {
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

/** A test issuer (signing with `alg`, RS256 by default) that is closed when the test ends. */
export async function issuerFor (t: Teardown, alg?: Alg): Promise<TestIssuer> {
  const issuer = await startIssuer(alg === undefined ? {} : { alg })
  t.teardown(() => issuer.close())
  return issuer
}

/** buildApp, closed when the test ends. */
export async function appFor (t: Teardown, issuer: TestIssuer, options: TestOptions = {}, extra?: (app: FastifyInstance) => void): Promise<FastifyInstance> {
  const app = await buildApp(issuer, options, extra)
  t.teardown(() => app.close())
  return app
}

/** An RS256 issuer and a buildApp app against it (with the `extra` routes), both closed when the test ends. */
export async function setup (t: Teardown, extra?: (app: FastifyInstance) => void): Promise<{ issuer: TestIssuer, app: FastifyInstance }> {
  const issuer = await issuerFor(t)
  const app = await appFor(t, issuer, {}, extra)
  return { issuer, app }
}

/** One line of the app's JSON log. */
export interface LogLine { level: number, msg: string, [field: string]: unknown }

/**
 * The /public and /me routes of buildApp, on an app whose debug-level log
 * lines are kept: `lines` as written, `logs()` parsed. Closed when the test ends.
 */
export async function loggedAppFor (t: Teardown, issuer: TestIssuer, options: TestOptions = {}): Promise<{ app: FastifyInstance, lines: string[], logs: () => LogLine[] }> {
  const lines: string[] = []
  const app = Fastify({ logger: { level: 'debug', stream: { write: (line: string) => { lines.push(line) } } } })
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, ...FAST, ...options })
  app.get('/public', async (req) => ({ public: true, user: req.user?.sub ?? null }))
  app.get('/me', { preHandler: app.zitadel.requireAuth() }, async (req) => req.user)
  await app.ready()
  return { app, lines, logs: () => lines.map((line) => JSON.parse(line) as LogLine) }
}

/** A buildApp app with a shortcut for its protected route. */
export interface TestApp {
  app: FastifyInstance
  /** GET /me (requireAuth) with the token as Bearer. */
  me: (token: string) => Promise<LightMyRequestResponse>
}

/** appFor, as a TestApp. */
export async function testAppFor (t: Teardown, issuer: TestIssuer, options: TestOptions = {}): Promise<TestApp> {
  const app = await appFor(t, issuer, options)
  return { app, me: (token) => app.inject({ method: 'GET', url: '/me', headers: bearer(token) }) }
}

/** An issuer signing with `alg` (RS256 by default) and a TestApp against it, both closed when the test ends. */
export async function testSetup (t: Teardown, options: TestOptions = {}, alg?: Alg): Promise<TestApp & { issuer: TestIssuer }> {
  const issuer = await issuerFor(t, alg)
  return { issuer, ...await testAppFor(t, issuer, options) }
}

/**
 * The helpers above bound to one algorithm: the issuers sign with `alg` and
 * the apps accept only `alg` (unless `options.algorithms` says otherwise).
 * For the tests whose rules do not depend on the algorithm.
 */
export function withAlgorithm (alg: Alg) {
  const only: TestOptions = { algorithms: [alg] }
  return {
    /** The plugin options that accept only `alg`. */
    options: only,
    issuerFor: (t: Teardown) => issuerFor(t, alg),
    appFor: (t: Teardown, issuer: TestIssuer, options: TestOptions = {}) => appFor(t, issuer, { ...only, ...options }),
    loggedAppFor: (t: Teardown, issuer: TestIssuer, options: TestOptions = {}) => loggedAppFor(t, issuer, { ...only, ...options }),
    testAppFor: (t: Teardown, issuer: TestIssuer, options: TestOptions = {}) => testAppFor(t, issuer, { ...only, ...options }),
    testSetup: (t: Teardown, options: TestOptions = {}) => testSetup(t, { ...only, ...options }, alg)
  }
}
