import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import type { Clock, kClock } from '../../lib/clock.js'
import zitadelAuth, { type ZitadelAuthOptions } from '../../lib/index.js'
import { startIssuer, type Alg, type TestIssuer } from '../../fixtures/issuer.js'

/*
 * How a test gets an issuer and an app: three builders, each closing what it
 * starts when the test ends.
 *
 *   setup(t, options?, extras?)            an issuer and an app against it
 *   issuerFor(t, alg?)                     an issuer alone, to change before an app starts
 *   appFor(t, issuer, options?, extras?)   an app against an issuer the test holds
 *
 * The apps have the routes most tests need: /public (no guard), /me
 * (requireAuth, answers request.user), /admin (requireRoles admin) and
 * /health (opted out of the plugin).
 */

/** Small cooldowns keep the tests quick; the rules under test are the same. */
export const FAST = { jwksCooldown: 0.2, httpTimeout: 1 } as const

/**
 * Accept ES256 alone, for an issuer that signs with ES256: for the tests
 * whose rules do not depend on the algorithm (EC keys are made in a
 * millisecond, RSA keys take a quarter of a second).
 */
export const ES256_ONLY = { algorithms: ['ES256'] } as const satisfies Partial<ZitadelAuthOptions>

/** Plugin options, and the clock a test moves itself (`clock.option` of a FakeClock, test/helpers/clock.ts). */
export type TestOptions = Partial<ZitadelAuthOptions> & { [kClock]?: Clock }

/** What the helpers below need of a tap test: somewhere to register clean-up. */
export interface Teardown { teardown (fn: () => unknown): void }

/** What an app gets besides the plugin options. */
export interface AppExtras {
  /** Routes to add next to the standard ones, before the app is ready. */
  routes?: (app: FastifyInstance) => void
  /** Keep the app's log lines (debug level and up); the result then has `lines` and `logs`. */
  logs?: boolean
}

/** An app built by appFor or setup. */
export interface TestApp {
  app: FastifyInstance
  /** GET /me (requireAuth) with the token as Bearer. */
  me: (token: string) => Promise<LightMyRequestResponse>
}

/** One line of the app's JSON log. */
export interface LogLine { level: number, msg: string, [field: string]: unknown }

/** The log of an app built with `logs: true`. */
export interface AppLog {
  /** Every line as written. */
  lines: string[]
  /** Every line, parsed. */
  logs: () => LogLine[]
}

/** The Authorization header that carries `token` as a Bearer credential. */
export function bearer (token: string): { authorization: string } {
  return { authorization: `Bearer ${token}` }
}

/** Use for a test that changes the issuer (keys, faults, JWKS) before an app starts, or builds several apps on one: a test issuer signing with `alg` (RS256 by default). */
export async function issuerFor (t: Teardown, alg?: Alg): Promise<TestIssuer> {
  const issuer = await startIssuer(alg === undefined ? {} : { alg })
  t.teardown(() => issuer.close())
  return issuer
}

/** Use when the test holds the issuer (issuerFor): an app with the plugin against `issuer`, FAST unless `options` say otherwise, the standard routes and `extras`. */
export async function appFor (t: Teardown, issuer: TestIssuer, options: TestOptions | undefined, extras: AppExtras & { logs: true }): Promise<TestApp & AppLog>
export async function appFor (t: Teardown, issuer: TestIssuer, options?: TestOptions, extras?: AppExtras): Promise<TestApp>
export async function appFor (t: Teardown, issuer: TestIssuer, options: TestOptions = {}, extras: AppExtras = {}): Promise<TestApp & Partial<AppLog>> {
  const lines: string[] = []
  const app = extras.logs === true
    ? Fastify({ logger: { level: 'debug', stream: { write: (line: string) => { lines.push(line) } } } })
    : Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, ...FAST, ...options })
  app.get('/public', async (req) => ({ public: true, user: req.user?.sub ?? null }))
  app.get('/me', { preHandler: app.zitadel.requireAuth() }, async (req) => req.user)
  app.get('/admin', { preHandler: app.zitadel.requireRoles(['admin']) }, async () => ({ admin: true }))
  app.get('/health', { config: { zitadel: false } }, async () => ({ ok: true }))
  extras.routes?.(app)
  await app.ready()
  const built: TestApp = { app, me: (token) => app.inject({ method: 'GET', url: '/me', headers: bearer(token) }) }
  if (extras.logs !== true) return built
  return { ...built, lines, logs: () => lines.map((line) => JSON.parse(line) as LogLine) }
}

/** Use when a test needs one issuer and one app and nothing done between: an issuer signing with `extras.alg` (RS256 by default) and an appFor app against it. */
export async function setup (t: Teardown, options: TestOptions | undefined, extras: AppExtras & { alg?: Alg, logs: true }): Promise<TestApp & AppLog & { issuer: TestIssuer }>
export async function setup (t: Teardown, options?: TestOptions, extras?: AppExtras & { alg?: Alg }): Promise<TestApp & { issuer: TestIssuer }>
export async function setup (t: Teardown, options: TestOptions = {}, extras: AppExtras & { alg?: Alg } = {}): Promise<TestApp & Partial<AppLog> & { issuer: TestIssuer }> {
  const { alg, ...appExtras } = extras
  const issuer = await issuerFor(t, alg)
  return { issuer, ...await appFor(t, issuer, options, appExtras) }
}
