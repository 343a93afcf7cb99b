import { createPublicKey, verify, type JsonWebKey } from 'node:crypto'
import Fastify from 'fastify'
import { importJWK, jwtVerify } from 'jose'
import zitadelAuth, { type ZitadelAuthOptions } from '../lib/index.js'

/**
 * One check at a time, in this process: what a single token check costs with
 * nothing else running, in wall time and in CPU time of all the process's
 * threads (the plugin checks signatures on libuv's thread pool, which costs a
 * hand-over each way). The `crypto.verify` loop is the physical floor of a
 * cache miss.
 */
export interface MicroResult {
  name: string
  /** Wall time per check. */
  micros: number
  /** CPU time per check, all threads. */
  cpuMicros: number
  ops: number
}

function cpuNow (): number {
  const { user, system } = process.cpuUsage()
  return user + system
}

const BUDGET_MS = 700

/** Repeats `fn` for about BUDGET_MS after a short warm-up; µs per call. */
async function measure (name: string, fn: (i: number) => unknown, batch = 50): Promise<MicroResult> {
  for (let i = 0; i < batch * 4; i++) await fn(i)
  let ops = 0
  const cpu = cpuNow()
  const start = performance.now()
  while (performance.now() - start < BUDGET_MS) {
    for (let i = 0; i < batch; i++) await fn(ops + i)
    ops += batch
  }
  return { name, micros: (performance.now() - start) * 1000 / ops, cpuMicros: (cpuNow() - cpu) / ops, ops }
}

export async function microbench (args: {
  issuer: string
  projectId: string
  publicJwk: JsonWebKey
  hot: string
  /** Far more tokens than the cache holds (cycled, each is a miss). */
  fresh: readonly string[]
  /** The plugin knows `tokenCacheSize`: measure a miss with the cache off too. */
  cacheAvailable: boolean
}): Promise<MicroResult[]> {
  const key = createPublicKey({ key: args.publicJwk, format: 'jwk' })
  const dot = args.hot.lastIndexOf('.')
  const data = Buffer.from(args.hot.slice(0, dot), 'latin1')
  const signature = Buffer.from(args.hot.slice(dot + 1), 'base64url')
  if (!verify('sha256', data, key, signature)) throw new Error('the hot token does not verify')

  const results: MicroResult[] = []
  // Synchronous: no await per call, so nothing but the signature check.
  {
    let ops = 0
    for (let i = 0; i < 300; i++) verify('sha256', data, key, signature)
    const cpu = cpuNow()
    const start = performance.now()
    while (performance.now() - start < BUDGET_MS) {
      for (let i = 0; i < 100; i++) verify('sha256', data, key, signature)
      ops += 100
    }
    results.push({ name: '`crypto.verify` RS256, ready KeyObject (the floor of a miss)', micros: (performance.now() - start) * 1000 / ops, cpuMicros: (cpuNow() - cpu) / ops, ops })
  }

  const joseKey = await importJWK(args.publicJwk as Parameters<typeof importJWK>[0], 'RS256')
  const joseOptions = { issuer: args.issuer, audience: args.projectId, algorithms: ['RS256'] }
  results.push(await measure('jose `jwtVerify`, awaited one at a time (imported key, no JWKS)', () => jwtVerify(args.hot, joseKey, joseOptions)))

  const fresh = args.fresh
  await withPlugin(args, {}, async (verifyToken) => {
    // More tokens than the cache holds, cycled: every call is a miss.
    results.push(await measure('this plugin, `fastify.zitadel.verify()`, a new token each call (miss)', (i) => verifyToken(fresh[i % fresh.length] as string)))
    // Equal strings but distinct objects, as each request's header is: V8 cannot
    // reuse a string hash or compare by pointer.
    const copies = Array.from({ length: 1000 }, () => args.hot.split('').join(''))
    results.push(await measure('this plugin, `fastify.zitadel.verify()`, the same token again (a hit, once there is a cache)', (i) => verifyToken(copies[i % copies.length] as string)))
  })
  if (args.cacheAvailable) {
    await withPlugin(args, { tokenCacheSize: 0 }, async (verifyToken) => {
      results.push(await measure('this plugin with `tokenCacheSize: 0`, a new token each call', (i) => verifyToken(fresh[i % fresh.length] as string)))
    })
  }
  return results
}

/** A plugin instance in this process, keys loaded, for `run`. */
async function withPlugin (
  args: { issuer: string, projectId: string, hot: string },
  extra: Record<string, unknown>,
  run: (verifyToken: (token: string) => Promise<unknown>) => Promise<void>
): Promise<void> {
  const app = Fastify({ logger: false })
  const options: ZitadelAuthOptions & Record<string, unknown> = { issuer: args.issuer, projectId: args.projectId, ...extra }
  await app.register(zitadelAuth, options)
  await app.ready()
  try {
    await app.zitadel.verify(args.hot)
    await run((token) => app.zitadel.verify(token))
  } finally {
    await app.close()
  }
}
