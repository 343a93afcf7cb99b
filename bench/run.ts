/**
 * `npm run bench`: this plugin against bare Fastify, the alternatives and a
 * crypto-only floor, each server in its own process on 127.0.0.1, loaded
 * with autocannon from this process in interleaved rounds. Writes
 * bench/results.md and prints the same report. A measurement, not a test:
 * a missed target never fails the process.
 *
 *   npm run bench -- [--rounds 5] [--duration 2] [--connections 10]
 *                    [--cache auto|on|off] [--skip-memory] [--only 2,2b,3]
 *
 * --cache: `auto` asks the plugin whether it knows `tokenCacheSize`; `off`
 * runs as if it did not (the variants that need the cache are skipped and
 * the option is never passed); `on` passes it where a variant needs it.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import type { JsonWebKey } from 'node:crypto'
import Fastify from 'fastify'
import zitadelAuth, { type ZitadelAuthOptions } from '../lib/index.js'
import { cpuMicros, machineBusyMicros, startChild, type Child } from './ipc.js'
import { cycle, load, type LoadResult } from './load.js'
import { microbench } from './micro.js'
import { renderReport, type MemoryCheckpoint, type MemoryResult, type Sample } from './report.js'
import type { StartArgs } from './server.js'
import { mintTokens, tamper } from './tokens.js'
import { defineVariants, type Variant } from './variants.js'
import { hasRedisServer, startRedis } from '../test/helpers/redis.js'

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '2' },
    connections: { type: 'string', default: '10' },
    cache: { type: 'string', default: 'auto' },
    'skip-memory': { type: 'boolean', default: false },
    /** Comma-separated variant ids, to look at a few closely (1 and floor are always run: the ratios need them). */
    only: { type: 'string' }
  }
})
const rounds = positiveInt('rounds', args.rounds)
const duration = positiveInt('duration', args.duration)
const connections = positiveInt('connections', args.connections)
if (!['auto', 'on', 'off'].includes(args.cache)) throw new Error('--cache must be auto, on or off')
const MEMORY_TOKENS = 100_000
const MEMORY_CHECKPOINTS = 4

interface IssuerInfo {
  url: string
  projectId: string
  kid: string
  publicJwk: JsonWebKey
  privateKeyPem: string
  sample: string
}
interface IssuerCounts { discovery: number, jwks: number }
interface MemoryReading { rss: number, heapUsed: number, peakRss: number, rssAfterGc?: number, heapAfterGc?: number }

const startedAt = performance.now()
const log = (line: string) => process.stderr.write(`[bench ${((performance.now() - startedAt) / 1000).toFixed(0).padStart(3)} s] ${line}\n`)
const children: Child[] = []

/** What else to stop at the end (a redis-server). */
const stops: Array<() => Promise<void>> = []

try {
  await main()
} finally {
  await Promise.all(children.map((c) => c.stop()))
  await Promise.all(stops.map((stop) => stop()))
}

async function main (): Promise<void> {
  const loadBefore = loadavg()[0] ?? 0
  const cacheAvailable = args.cache === 'auto' ? await pluginKnowsOption('tokenCacheSize', 0) : args.cache === 'on'
  log(`token cache: ${cacheAvailable ? 'available' : 'not available'} (--cache ${args.cache})`)

  const issuer = spawn('issuer.ts', 'issuer')
  const info = await issuer.call<IssuerInfo>('info')

  const mintStart = performance.now()
  const tokens = await mintTokens(args['skip-memory'] ? 58_001 : MEMORY_TOKENS, info.sample, info.privateKeyPem)
  log(`minted ${tokens.length} tokens in ${((performance.now() - mintStart) / 1000).toFixed(1)} s`)
  const pools = {
    misses: tokens.slice(0, 40_000),
    preload: tokens.slice(40_000, 50_000),
    spread: tokens.slice(50_000, 58_000),
    hot: tokens[58_000] as string
  }

  const micro = await microbench({ issuer: info.url, projectId: info.projectId, publicJwk: info.publicJwk, hot: pools.hot, fresh: pools.misses, cacheAvailable })
  for (const m of micro) log(`in-process: ${m.micros.toFixed(1)} µs  ${m.name}`)

  const all = defineVariants(pools)
  const only = args.only === undefined ? undefined : new Set(['1', 'floor', ...args.only.split(',')])
  const wanted = all.filter((v) => (cacheAvailable || !v.needsCache) && (only === undefined || only.has(v.id)))
  // 2v and 2vr need a plugin that revokes; 2vr a redis-server too (Debian's package).
  const revocationsAvailable = wanted.some((v) => v.revocations !== undefined) && await pluginKnowsOption('revocation', {})
  const redis = revocationsAvailable && wanted.some((v) => v.revocations === 'redis') && hasRedisServer() ? await startRedis() : undefined
  if (redis !== undefined) stops.push(() => redis.stop())
  const variants = wanted.filter((v) => v.revocations === undefined || (v.revocations === 'memory' ? revocationsAvailable : redis !== undefined))
  if (variants.length < wanted.length) log(`left out: ${wanted.filter((v) => !variants.includes(v)).map((v) => v.id).join(', ')} (${revocationsAvailable ? 'no redis-server' : 'the plugin has no revocation'})`)
  const servers = new Map<string, { child: Child, port: number, jwksCooldown?: number }>()
  await Promise.all(variants.map(async (v) => {
    const child = spawnServer(`server-${v.id}`)
    const start: StartArgs = { kind: v.kind, issuer: info.url, projectId: info.projectId, publicJwk: info.publicJwk, pluginOptions: v.pluginOptions, entry: v.entry, guard: v.guard, revocations: v.revocations, redisUrl: redis?.url }
    servers.set(v.id, { child, ...await child.call<{ port: number, jwksCooldown?: number }>('start', { ...start }) })
  }))
  log(`${servers.size} servers up`)

  // Warm every server (JIT, keys), and fill the caches that a variant measures full.
  for (const v of variants) {
    const { port } = servers.get(v.id) as { port: number }
    const warm = v.preload === undefined
      ? await load({ port, token: v.token, connections, duration: 1 })
      : await load({ port, token: cycle(v.preload), connections, amount: v.preload.length })
    const unexpected = Object.keys(warm.statuses).filter((s) => Number(s) !== v.expect)
    log(`warm ${v.id}: ${warm.responses} requests${unexpected.length > 0 ? `, unexpected statuses ${unexpected.join(', ')}` : ''}`)
  }

  const samples = new Map<string, Sample[]>(variants.map((v) => [v.id, []]))
  for (let round = 0; round < rounds; round++) {
    // Rotated each round, so no variant always runs right after the same one.
    const order = variants.map((_, i) => variants[(i + round) % variants.length] as Variant)
    for (const v of order) {
      if (v.firstRoundOnly === true && round > 0) continue
      const { child, port } = servers.get(v.id) as { child: Child, port: number }
      const before = v.countFetches === true ? await issuer.call<IssuerCounts>('counts') : undefined
      const issuer0 = await issuer.call<number>('cpu')
      const cpu0 = await child.call<number>('cpu')
      const busy0 = machineBusyMicros()
      const client0 = cpuMicros()
      const result: LoadResult = await load({ port, token: v.token, connections, duration })
      const client1 = cpuMicros()
      const busy1 = machineBusyMicros()
      const cpu1 = await child.call<number>('cpu')
      const issuer1 = await issuer.call<number>('cpu')
      // What the machine spent beyond the server, the load generator and the issuer: other processes.
      const foreign = busy0 === undefined || busy1 === undefined
        ? undefined
        : Math.max(0, (busy1 - busy0) - (cpu1 - cpu0) - (client1 - client0) - (issuer1 - issuer0)) / (result.seconds * 1e6)
      const after = before === undefined ? undefined : await issuer.call<IssuerCounts>('counts')
      const sample: Sample = {
        round,
        load: result,
        cpuPerRequest: (cpu1 - cpu0) / Math.max(1, result.responses),
        clientCpuPerRequest: (client1 - client0) / Math.max(1, result.responses),
        foreignCores: foreign,
        jwksFetches: after === undefined || before === undefined ? undefined : after.jwks - before.jwks,
        discoveryFetches: after === undefined || before === undefined ? undefined : after.discovery - before.discovery
      }
      samples.get(v.id)?.push(sample)
      log(`round ${round + 1}/${rounds} ${v.id.padEnd(5)} ${result.rps.toFixed(0).padStart(6)} req/s  ${sample.cpuPerRequest.toFixed(1).padStart(6)} µs CPU/req` +
        `  p99 ${result.p99} ms  ${JSON.stringify(result.statuses)}${sample.jwksFetches === undefined ? '' : `  JWKS fetches ${sample.jwksFetches}`}` +
        `${foreign === undefined ? '' : `  other processes ${foreign.toFixed(2)} cores`}`)
    }
  }
  const tickCosts = new Map<string, number>()
  for (const v of variants) {
    const cost = await (servers.get(v.id) as { child: Child }).child.call<number>('tickCost')
    tickCosts.set(v.id, cost)
    log(`process.nextTick in server ${v.id}: ${cost.toFixed(0)} ns`)
  }
  const jwksCooldown = servers.get('7b')?.jwksCooldown
  await Promise.all([...servers.values()].map(async ({ child }) => { await child.call('close'); await child.stop() }))

  const memory = args['skip-memory']
    ? undefined
    : [await memoryStep(info, tokens, pools.hot, 1), ...(cacheAvailable ? [await memoryStep(info, tokens, pools.hot, 2)] : [])]

  const report = renderReport({
    machine: machineInfo(),
    loadAverage: { before: loadBefore, after: loadavg()[0] ?? 0 },
    settings: { rounds, duration, connections, cacheMode: args.cache, cacheAvailable },
    micro,
    variants: all,
    samples,
    tickCosts,
    jwksCooldown,
    memory,
    memoryTokens: MEMORY_TOKENS,
    elapsedSeconds: (performance.now() - startedAt) / 1000
  })
  writeFileSync(new URL('./results.md', import.meta.url), report)
  process.stdout.write(report)
  log('wrote bench/results.md')
  await issuer.call('close')
}

/**
 * 100 000 distinct valid tokens against a fresh plugin server with the default
 * cache size: RSS before, at each quarter, the peak (sampled every 10 ms in the
 * server), and the heap after a full collection. `repeat` 2 sends each token
 * twice in a row: then every token is admitted to the full cache (its second
 * check), so entries are built and evicted at the rate of new tokens.
 */
async function memoryStep (info: IssuerInfo, tokens: readonly string[], hot: string, repeat: 1 | 2): Promise<MemoryResult> {
  const child = spawnServer('server-memory')
  const { port } = await child.call<{ port: number }>('start', { kind: 'plugin', issuer: info.url, projectId: info.projectId, publicJwk: info.publicJwk })
  let next = cycle(tokens)
  // Warm-up that caches nothing: the hot token (a hit after its first request),
  // then bad signatures, which take the whole miss path up to the signature
  // check (on libuv's thread pool) and are never cached. V8's young generation
  // and the pool threads' allocators grow to their working size here, so the
  // growth measured below is what the tokens add.
  await load({ port, token: () => hot, connections, amount: 20_000 })
  await load({ port, token: () => tamper(next()), connections, amount: 20_000 })
  const base = await child.call<MemoryReading>('memory', { gc: true })
  await child.call('samplePeak')
  const checkpoints: MemoryCheckpoint[] = []
  next = cycle(tokens.slice(0, MEMORY_TOKENS).flatMap((token) => Array<string>(repeat).fill(token)))
  const chunk = MEMORY_TOKENS / MEMORY_CHECKPOINTS
  for (let i = 1; i <= MEMORY_CHECKPOINTS; i++) {
    const result = await load({ port, token: next, connections, amount: chunk * repeat })
    const m = await child.call<MemoryReading>('memory', { gc: true })
    checkpoints.push({ after: i * chunk, rss: m.rss, peakRss: m.peakRss, rssAfterGc: m.rssAfterGc ?? m.rss, heapAfterGc: m.heapAfterGc ?? 0, rps: result.rps, statuses: result.statuses })
    log(`memory (each token ×${repeat}): ${i * chunk} tokens, RSS ${mb(m.rss)} MB, peak ${mb(m.peakRss)} MB, heap after GC ${mb(m.heapAfterGc)} MB, ${result.rps.toFixed(0)} req/s`)
  }
  await child.call('close')
  await child.stop()
  return { repeat, baselineRss: base.rssAfterGc ?? base.rss, baselineHeap: base.heapAfterGc ?? base.heapUsed, checkpoints }
}

/** Does the plugin accept `tokenCacheSize`? It refuses unknown options at registration. */
/** Does the plugin being measured take this option? Older versions refuse what they do not know. */
async function pluginKnowsOption (name: string, value: unknown): Promise<boolean> {
  const app = Fastify({ logger: false })
  const options = { issuer: 'http://127.0.0.1:9', projectId: 'probe', [name]: value } as ZitadelAuthOptions
  try {
    await app.register(zitadelAuth, options)
    return true
  } catch (err) {
    if ((err as { code?: string }).code === 'ZITADEL_AUTH_INVALID_OPTION' && (err as Error).message.includes(name)) return false
    throw err
  } finally {
    await app.close()
  }
}

function spawn (file: string, name: string): Child {
  const child = startChild(new URL(`./${file}`, import.meta.url), name)
  children.push(child)
  return child
}

/**
 * A server process: bench/server.ts as compiled by `npm run bench` (into
 * .bench/), under plain node with no loader, as a user's server runs.
 */
function spawnServer (name: string): Child {
  const entry = new URL('../.bench/bench/server.js', import.meta.url)
  if (!existsSync(entry)) throw new Error('.bench/bench/server.js is missing: run the bench with npm run bench, which compiles it')
  const child = startChild(entry, name, [])
  children.push(child)
  return child
}

function machineInfo (): Record<string, string> {
  let commit = 'unknown'
  try {
    const cwd = new URL('..', import.meta.url)
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8' }).trim()
    if (execFileSync('git', ['status', '--porcelain', '--', 'lib'], { cwd, encoding: 'utf8' }).trim() !== '') commit += ' + uncommitted changes in lib/'
  } catch {}
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: String(cpus().length),
    memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    node: process.version,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit
  }
}

function positiveInt (name: string, value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number above 0`)
  return n
}

function mb (bytes: number | undefined): string {
  return ((bytes ?? 0) / 2 ** 20).toFixed(1)
}
