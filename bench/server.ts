/**
 * One benchmark server per process, on 127.0.0.1 and an ephemeral port. Every
 * variant serves the same route, GET /hello → {"hello":"world"}; they differ
 * only in how the Bearer token is checked. The parent reads this process's
 * CPU time and memory over IPC.
 */
import { createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { getHeapSpaceStatistics } from 'node:v8'
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify'
import type { ZitadelAuthOptions } from '../lib/index.js'
import { cpuMicros, serve } from './ipc.js'

export type ServerKind = 'bare' | 'plugin' | 'fastify-jwt' | 'jose' | 'floor' | 'floor-pool'

/**
 * How a plugin server loads the plugin: the built package through its
 * published entry points, `import` (dist/esm) or `require` (dist/cjs), as
 * users load it.
 */
export type PluginEntry = 'import' | 'require'

export interface StartArgs {
  kind: ServerKind
  issuer: string
  projectId: string
  publicJwk: JsonWebKey
  /** Extra plugin options (only `tokenCacheSize`, and only for the variants that set it). */
  pluginOptions?: Record<string, unknown> | undefined
  /** Plugin servers: how the plugin is loaded (default `import`). */
  entry?: PluginEntry | undefined
  /** Plugin servers: the route's guard, `requireAuth()` (default) or `requireRoles(['user'])`. */
  guard?: 'auth' | 'roles' | undefined
  /** Plugin servers: revocations in effect; with `redisUrl`, shared through that Redis. */
  revocations?: 'memory' | 'redis' | undefined
  redisUrl?: string | undefined
}

const HELLO = { hello: 'world' }
const UNAUTHORIZED = { statusCode: 401, error: 'Unauthorized', message: 'invalid token' }

let app: FastifyInstance | undefined
let peakRss = 0
let sampler: NodeJS.Timeout | undefined

serve({
  start: async (msg) => {
    const args = msg as unknown as StartArgs
    app = await build(args)
    await app.listen({ host: '127.0.0.1', port: 0 })
    return { port: (app.server.address() as AddressInfo).port, jwksCooldown: args.kind === 'plugin' ? app.zitadel.options.jwksCooldown : undefined }
  },
  cpu: () => cpuMicros(),
  /** Memory now; with gc, also the heap and RSS right after a full collection. */
  memory: (msg) => {
    const before = process.memoryUsage()
    const result: Record<string, number> = { rss: before.rss, heapUsed: before.heapUsed, peakRss: Math.max(peakRss, before.rss) }
    if (msg.gc === true && typeof globalThis.gc === 'function') {
      globalThis.gc()
      const after = process.memoryUsage()
      result.rssAfterGc = after.rss
      result.heapAfterGc = after.heapUsed
      result.externalAfterGc = after.external
      // Committed memory of each V8 heap space: where RSS beyond the live heap sits.
      for (const space of getHeapSpaceStatistics()) result[`space:${space.space_name}`] = space.physical_space_size
    }
    return result
  },
  /** Samples RSS every 10 ms from now on, to catch the peak between two readings. */
  samplePeak: () => {
    peakRss = process.memoryUsage.rss()
    clearInterval(sampler)
    sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage.rss()) }, 10)
    sampler.unref()
    return peakRss
  },
  /**
   * What one process.nextTick costs now, in ns (best of five batches). On
   * Node 20 a process can come out of start-up with nextTick compiled so that
   * it builds every tick object through the runtime: about ten times slower,
   * for the life of the process, whatever the server does (see bench/README.md).
   */
  tickCost: async () => {
    const noop = () => {}
    let best = Infinity
    for (let round = 0; round < 5; round++) {
      const start = process.hrtime.bigint()
      for (let i = 0; i < 2000; i++) process.nextTick(noop)
      best = Math.min(best, Number(process.hrtime.bigint() - start) / 2000)
      await new Promise((resolve) => setImmediate(resolve))
    }
    return best
  },
  close: async () => {
    clearInterval(sampler)
    await app?.close()
  }
})

async function build (args: StartArgs): Promise<FastifyInstance> {
  const server = Fastify({ logger: false })
  switch (args.kind) {
    case 'bare':
      break
    case 'plugin':
      await registerPlugin(server, args)
      break
    case 'fastify-jwt':
      await registerFastifyJwt(server, args)
      break
    case 'jose':
      await registerJose(server, args)
      break
    case 'floor':
    case 'floor-pool':
      registerFloor(server, createPublicKey({ key: args.publicJwk, format: 'jwk' }), args.kind === 'floor-pool')
      break
  }
  const preHandler = args.kind !== 'plugin' ? undefined : args.guard === 'roles' ? server.zitadel.requireRoles(['user']) : server.zitadel.requireAuth()
  server.get('/hello', { preHandler }, async () => HELLO)
  return server
}

/** (2)-(4), (7): this plugin, with requireAuth or requireRoles on the route as a protected API would have. */
async function registerPlugin (server: FastifyInstance, args: StartArgs): Promise<void> {
  const zitadelAuth = await loadPlugin(args.entry ?? 'import')
  // tokenCacheSize is passed only when a variant sets it, so the bench also runs
  // against a plugin that does not know the option yet (it refuses unknown options).
  const options: ZitadelAuthOptions & Record<string, unknown> = { issuer: args.issuer, projectId: args.projectId, ...args.pluginOptions }
  if (args.revocations === 'redis') {
    const { Redis } = await import('ioredis')
    const redis = new Redis(args.redisUrl as string)
    server.addHook('onClose', async () => { redis.disconnect() })
    options.redis = redis
  }
  await server.register(zitadelAuth, options)
  if (args.revocations !== undefined) {
    // Once ready: with Redis, the plugin is connected and shares them.
    server.addHook('onReady', async function revokeOthers () {
      const z = server.zitadel as typeof server.zitadel & { revokeSubject: (sub: string) => Promise<void>, revokeToken: (t: string) => Promise<void>, revokeTokenId: (j: string) => Promise<void> }
      for (let i = 0; i < 1000; i++) await z.revokeSubject(`26378500000000${String(i).padStart(4, '0')}`)
      await z.revokeToken('eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjk5OTk5OTk5OTl9.c2ln')
      await z.revokeTokenId('revoked-token-id')
    })
  }
}

async function loadPlugin (entry: PluginEntry): Promise<FastifyPluginAsync<ZitadelAuthOptions>> {
  // The package's own name resolves to its exports (package self-reference):
  // dist/esm for import, dist/cjs for require, as in a user's project.
  const name = 'fastify-zitadel-auth'
  if (entry === 'import') return (await import(name) as { default: FastifyPluginAsync<ZitadelAuthOptions> }).default
  return (createRequire(import.meta.url)(name) as { fastifyZitadelAuth: FastifyPluginAsync<ZitadelAuthOptions> }).fastifyZitadelAuth
}

/**
 * (5) @fastify/jwt + get-jwks as the @fastify/jwt README shows ("Verifying
 * with JWKS"), with the two settings Zitadel needs: the JWKS path (get-jwks
 * looks for /.well-known/jwks.json by default) and an issuer allow-list (by
 * default get-jwks fetches keys from whatever `iss` the token names).
 */
async function registerFastifyJwt (server: FastifyInstance, args: StartArgs): Promise<void> {
  // Loaded by a name the compiler does not follow: @fastify/jwt's types declare
  // FastifyRequest.user with another type than this package's, and the two
  // augmentations cannot share one program.
  const names = ['@fastify/jwt', 'get-jwks']
  const { default: fjwt } = await import(names[0] as string) as { default: FastifyPluginAsync<Record<string, unknown>> }
  const { default: buildGetJwks } = await import(names[1] as string) as {
    default: (opts: Record<string, unknown>) => { getPublicKey (o: { kid: string, domain: string, alg: string }): Promise<string> }
  }
  const getJwks = buildGetJwks({ jwksPath: '/oauth/v2/keys', issuersWhitelist: [args.issuer] })
  await server.register(fjwt, {
    decode: { complete: true },
    secret: (_request: FastifyRequest, token: { header: { kid: string, alg: string }, payload: { iss: string } }) => {
      const { header: { kid, alg }, payload: { iss } } = token
      return getJwks.getPublicKey({ kid, domain: iss, alg })
    }
  })
  server.addHook('onRequest', async (request, reply) => {
    try {
      await (request as unknown as { jwtVerify (): Promise<unknown> }).jwtVerify()
    } catch (err) {
      reply.send(err)
    }
  })
}

/** (6) A hand-written jose hook: createRemoteJWKSet + jwtVerify with issuer, audience and algorithm. */
async function registerJose (server: FastifyInstance, args: StartArgs): Promise<void> {
  const { createRemoteJWKSet, jwtVerify } = await import('jose')
  const jwks = createRemoteJWKSet(new URL(`${args.issuer}/oauth/v2/keys`))
  const options = { issuer: args.issuer, audience: args.projectId, algorithms: ['RS256'] }
  server.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization
    if (header === undefined || !header.startsWith('Bearer ')) return reply.code(401).send(UNAUTHORIZED)
    try {
      await jwtVerify(header.slice(7), jwks, options)
    } catch {
      return reply.code(401).send(UNAUTHORIZED)
    }
  })
}

/**
 * (floor) One `crypto.verify` RS256 of the token's signature per request with
 * a ready KeyObject, and nothing else: no header, claims or key lookup. No
 * real verifier can be cheaper per miss. (floor-p) The same on libuv's thread
 * pool, as the plugin checks signatures: what the hand-off to the pool costs.
 */
function registerFloor (server: FastifyInstance, key: KeyObject, onPool: boolean): void {
  server.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? ''
    const dot = header.lastIndexOf('.')
    if (dot <= 7) return reply.code(401).send(UNAUTHORIZED)
    const data = Buffer.from(header.slice(7, dot), 'latin1')
    const signature = Buffer.from(header.slice(dot + 1), 'base64url')
    const ok = onPool
      ? await new Promise<boolean>((resolve) => { verify('sha256', data, key, signature, (err, valid) => { resolve(err === null && valid) }) })
      : verify('sha256', data, key, signature)
    if (!ok) return reply.code(401).send(UNAUTHORIZED)
  })
}
