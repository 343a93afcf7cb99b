import type { LoadResult } from './load.js'
import type { MicroResult } from './micro.js'
import type { Variant } from './variants.js'

/** One measured run of one variant. */
export interface Sample {
  round: number
  load: LoadResult
  /** Server process CPU (user + system) per response, µs. */
  cpuPerRequest: number
  /** The load generator's (this process's) CPU per response, µs. */
  clientCpuPerRequest: number
  /** CPU the rest of the machine used during the run, in cores (Linux only). */
  foreignCores: number | undefined
  jwksFetches: number | undefined
  discoveryFetches: number | undefined
}

export interface MemoryCheckpoint {
  /** Distinct tokens sent so far. */
  after: number
  rss: number
  /** The highest RSS sampled so far. */
  peakRss: number
  rssAfterGc: number
  heapAfterGc: number
  rps: number
  statuses: Record<string, number>
}

export interface MemoryResult {
  /** How many requests each token got, in a row: 1 (the issue's measure), or 2 (every token admitted to the cache). */
  repeat: 1 | 2
  /** RSS and heap after warm-up and a full collection, before the first distinct token. */
  baselineRss: number
  baselineHeap: number
  checkpoints: MemoryCheckpoint[]
}

export interface ReportInput {
  machine: Record<string, string>
  /** The 1-minute load average when the run started and when it ended. */
  loadAverage: { before: number, after: number }
  settings: { rounds: number, duration: number, connections: number, cacheMode: string, cacheAvailable: boolean }
  micro: MicroResult[]
  variants: Variant[]
  samples: Map<string, Sample[]>
  /** Each server's cost of one process.nextTick after the rounds, ns. */
  tickCosts: Map<string, number>
  jwksCooldown: number | undefined
  memory: MemoryResult[] | undefined
  memoryTokens: number
  elapsedSeconds: number
}

/** A run during which other processes used more than this many cores is marked as disturbed. */
const DISTURBED_CORES = 0.2

/** The targets the benchmark judges. */
const HIT_RATIO = 0.85
/** Hits through the built package, on the route users protect with requireRoles. */
const PACKAGE_HIT_RATIO = 0.92
/** Cache hits with revocations in effect (2v, 2vr) may fall this far below the hits without (2i), in × bare. */
const REVOCATION_SLACK = 0.05
/** On Node 20 and 22, a nextTick above this (ns) is the slow state some processes get into (bench/README.md). Node 24's nextTick costs more and has no such state. */
const SLOW_TICK_NS = 250
const MISS_TO_FLOOR = 0.85
const BAD_SIGNATURE_SLACK = 1.05
const MEMORY_BUDGET_MB = 60
/** RSS may move this much between the first and the last checkpoint and still count as flat. */
const FLAT_MB = 6

type Verdict = 'pass' | 'miss' | 'n/a'

const HOW_TO_READ = [
  '## How the variants are built',
  '',
  '- Every server is its own process on 127.0.0.1 with the same route, `GET /hello` → `{"hello":"world"}`, logging off. The plugin servers load the built package by its name under plain node: 2r and 2br through `require` (dist/cjs), the others through `import` (dist/esm). 2i, 2r, 2bi and 2br protect the route with `requireRoles([\'user\'])`, the others with `requireAuth()`. The issuer (discovery and JWKS, RSA-2048, RS256) is another process; tokens carry Zitadel\'s claims and differ in `sub` and `jti`.',
  '- Every request gets its token from autocannon\'s `setupRequest`, in every variant, so the load generator costs the same everywhere (rebuilding each request costs it about 15 µs more than a static one). The client CPU column shows what it spent.',
  '- 3 (misses): 40 000 distinct tokens cycled against the default 10 000-entry cache, so each token comes back only after 39 999 others and is no longer cached: every request pays the full check. Once the cache is full a token gets in only the second time it is seen, and the cache\'s doorkeeper has mostly forgotten a token by then, so about one miss in eleven also builds an entry and evicts another, as a cache under a stream of new tokens would. 4 turns the cache off for the bare verification path. The first 40 000 requests are never-seen tokens under any eviction policy.',
  '- 2b: 10 000 other tokens are sent once before the rounds, then one hot token. 2c: 8 000 tokens sent once, then cycled: all hits, spread over a large cache, like many clients.',
  '- 5 follows the @fastify/jwt README ("Verifying with JWKS") with the two settings Zitadel needs: `jwksPath: \'/oauth/v2/keys\'` and `issuersWhitelist` (by default get-jwks fetches keys from whatever `iss` a token names). Like the README it checks no audience. 6 checks issuer, audience and algorithm. The plugin checks those and more (typ, kid, crit, exp/nbf/iat, ID-token claims, roles).',
  '- floor: one `crypto.verify` of the signature with a ready `KeyObject`, on the main thread; no parsing, no claims. floor-p: the same through the callback form of `crypto.verify`, on libuv\'s thread pool. 7a: a different token each request with one signature character changed. 7b-7d: a random `kid` in each token\'s header.',
  '- The plugin (up to 16 checks at once, then on the main thread), jose (through WebCrypto) and floor-p run the RSA check on libuv\'s thread pool, so a burst of new tokens uses every core while other requests go on; floor runs it on the main thread. On this 2-core machine, shared with the load generator, the hand-off to the pool costs CPU and gains no core: floor-p against floor shows what it costs, and what of a miss\'s cost is the plugin\'s own.',
  '- CPU per request is higher when a server runs below its peak (fewer requests per wake-up), so the CPU of a slow variant and of bare Fastify are not measured at the same load.',
  '- A missed target never fails the run: this is a measurement.',
  ''
]

export function renderReport (input: ReportInput): string {
  const { machine, settings, samples } = input
  const stats = new Map(input.variants.map((v) => [v.id, summarise(v, samples.get(v.id) ?? [], samples)]))
  const out: string[] = []
  out.push('# Benchmark: fastify-zitadel-auth against bare Fastify and the alternatives', '')
  out.push(`Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memory}; Node ${machine.node}; ${machine.date}; commit ${machine.commit}.`, '')
  out.push(`Run: ${settings.rounds} interleaved rounds × ${settings.duration} s per variant, ${settings.connections} connections, autocannon in the bench process on the same machine (it shares the cores with the server under test). ` +
    `Token cache: ${settings.cacheAvailable ? 'on (the plugin accepts `tokenCacheSize`)' : 'not in the plugin yet (it refuses `tokenCacheSize`): the variants that measure the cache were not run'} (\`--cache ${settings.cacheMode}\`). ` +
    `Whole run: ${input.elapsedSeconds.toFixed(0)} s.`, '')
  const { before, after } = input.loadAverage
  const runs = [...samples.values()].flat()
  const disturbed = runs.filter((r) => (r.foreignCores ?? 0) > DISTURBED_CORES).length
  out.push(`1-minute load average ${before.toFixed(2)} at the start, ${after.toFixed(2)} at the end. ` +
    (runs.some((r) => r.foreignCores !== undefined)
      ? `Other processes used more than ${DISTURBED_CORES} of a core during ${disturbed} of ${runs.length} runs (marked † below).`
      : 'CPU used by other processes was not measured (no /proc/stat).'), '')
  if (disturbed > runs.length / 5) {
    out.push(`**Other processes were competing for the CPU during ${disturbed} of ${runs.length} runs: the numbers are noisy; run again on an idle machine.**`, '')
  }

  const slow = new Set(Number(/^v(\d+)/.exec(machine.node)?.[1]) < 24 ? [...input.tickCosts].filter(([, ns]) => ns > SLOW_TICK_NS).map(([id]) => id) : [])
  out.push('## Throughput', '')
  out.push('Medians over the rounds. Each ratio is taken within a round (to bare Fastify, to the floor server of the same round), then the median of the rounds. ' +
    'CPU is the server process\'s user + system time per response (`process.cpuUsage()`).', '')
  out.push('| # | variant | req/s | × bare | × floor | server CPU µs/req | server CPU − bare | client CPU µs/req | p99 ms | responses | target | |')
  out.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |')
  const bareCpu = stats.get('1')?.cpu
  for (const v of input.variants) {
    const s = stats.get(v.id)
    if (s === undefined || s.runs === 0) {
      const why = v.needsCache && !settings.cacheAvailable ? 'not run: needs the token cache' : 'not run (`--only`)'
      out.push(`| ${v.id} | ${v.label} | | | | | | | | ${why} | ${targetOf(v).text} | n/a |`)
      continue
    }
    const target = targetOf(v)
    const verdict = target.check(s, stats, input, settings.cacheAvailable)
    if (verdict.result === 'miss' && slow.has(v.id)) verdict.detail = [verdict.detail, 'its server ended in the slow nextTick state'].filter((d) => d !== '').join('; ')
    out.push(`| ${v.id} | ${v.label}${v.firstRoundOnly === true ? ' (first round only)' : ''}${v.id === '2' && !settings.cacheAvailable ? ' — no cache yet: each request is verified' : ''} | ` +
      `${fmt(s.rps, 0)} | ${fmt(s.toBare, 2)} | ${fmt(s.toFloor, 2)} | ${fmt(s.cpu, 1)} | ${v.id === '1' ? '' : signed(s.cpu, bareCpu)} | ${fmt(s.clientCpu, 1)} | ${fmt(s.p99, 0)} | ${statusText(v, s)} | ${target.text} | ${verdict.result}${verdict.detail === '' ? '' : ` (${verdict.detail})`} |`)
  }
  out.push('')

  out.push('<details><summary>req/s of each run, in round order (†: other processes used more than ' + `${DISTURBED_CORES} of a core)</summary>`, '')
  out.push(`| # | ${Array.from({ length: settings.rounds }, (_, r) => `round ${r + 1}`).join(' | ')} |`, `| --- |${' ---: |'.repeat(settings.rounds)}`)
  for (const v of input.variants) {
    const runs = samples.get(v.id) ?? []
    if (runs.length === 0) continue
    out.push(`| ${v.id} | ${Array.from({ length: settings.rounds }, (_, r) => {
      const run = runs.find((x) => x.round === r)
      return run === undefined ? '' : `${fmt(run.load.rps, 0)}${(run.foreignCores ?? 0) > DISTURBED_CORES ? ' †' : ''}`
    }).join(' | ')} |`)
  }
  out.push('', '</details>', '')

  out.push('### process.nextTick in each server', '')
  out.push(`${[...input.tickCosts].map(([id, ns]) => `${id}: ${fmt(ns, 0)} ns`).join(', ')}.`, '')
  if (slow.size > 0) {
    out.push(`**Servers ${[...slow].join(', ')} ended in the slow nextTick state of Node 20 and 22** (over ${SLOW_TICK_NS} ns a call instead of under 100): every request of those processes paid for it, whatever their code. See bench/README.md; compare their ratios with care, or run again.`, '')
  }

  out.push('## One check in isolation', '')
  out.push('In the bench process, one check at a time (awaited where the API is async): wall time, and CPU time of all the process\'s threads. ' +
    'The plugin checks a new token\'s signature on libuv\'s thread pool: waking a pool thread and coming back costs CPU and, one check at a time, wall time; under load the hand-overs are batched and the event loop is free meanwhile.', '')
  out.push('| check | wall µs per check | CPU µs per check | checks/s |', '| --- | ---: | ---: | ---: |')
  for (const m of input.micro) out.push(`| ${m.name} | ${m.micros.toFixed(1)} | ${m.cpuMicros.toFixed(1)} | ${fmt(1e6 / m.micros, 0)} |`)
  out.push('')

  const floods = input.variants.filter((v) => v.countFetches === true && (stats.get(v.id)?.runs ?? 0) > 0)
  if (floods.length > 0) {
    out.push('## JWKS fetches during unknown-kid floods', '')
    out.push(`Counted at the issuer during each ${settings.duration} s run; the plugin's cooldown is ${input.jwksCooldown ?? '?'} s.`, '')
    out.push('| # | server | JWKS fetches per run | discovery fetches per run | JWKS fetches/s | req/s |', '| --- | --- | --- | --- | ---: | ---: |')
    for (const v of floods) {
      const runs = samples.get(v.id) ?? []
      const fetches = runs.map((r) => r.jwksFetches ?? 0)
      const perSecond = median(runs.map((r) => (r.jwksFetches ?? 0) / r.load.seconds))
      out.push(`| ${v.id} | ${v.label} | ${fetches.join(', ')} | ${runs.map((r) => r.discoveryFetches ?? 0).join(', ')} | ${fmt(perSecond, 1)} | ${fmt(stats.get(v.id)?.rps, 0)} |`)
    }
    out.push('')
  }

  if (input.memory !== undefined) {
    out.push('## Memory', '')
    for (const m of input.memory) out.push(...memorySection(m, input.memoryTokens, settings.cacheAvailable))
  }

  out.push(...HOW_TO_READ)

  const notes = unexpectedStatuses(input.variants, stats)
  if (notes.length > 0) out.push('## Unexpected answers', '', ...notes.map((n) => `- ${n}`), '')
  return out.join('\n')
}

interface Summary {
  runs: number
  rps: number | undefined
  toBare: number | undefined
  toFloor: number | undefined
  cpu: number | undefined
  clientCpu: number | undefined
  p99: number | undefined
  statuses: Record<string, number>
  errors: number
}

function summarise (v: Variant, runs: Sample[], all: Map<string, Sample[]>): Summary {
  const within = (other: string) => median(runs.flatMap((r) => {
    const o = all.get(other)?.find((x) => x.round === r.round)
    return o === undefined ? [] : [r.load.rps / o.load.rps]
  }))
  const statuses: Record<string, number> = {}
  for (const r of runs) for (const [code, n] of Object.entries(r.load.statuses)) statuses[code] = (statuses[code] ?? 0) + n
  return {
    runs: runs.length,
    rps: median(runs.map((r) => r.load.rps)),
    toBare: v.id === '1' ? 1 : within('1'),
    toFloor: within('floor'),
    cpu: median(runs.map((r) => r.cpuPerRequest)),
    clientCpu: median(runs.map((r) => r.clientCpuPerRequest)),
    p99: median(runs.map((r) => r.load.p99)),
    statuses,
    errors: runs.reduce((a, r) => a + r.load.errors, 0)
  }
}

interface Target {
  text: string
  check (s: Summary, stats: Map<string, Summary>, input: ReportInput, cacheAvailable: boolean): { result: Verdict, detail: string }
}

const NONE: Target = { text: '—', check: () => ({ result: 'n/a', detail: '' }) }

function targetOf (v: Variant): Target {
  switch (v.id) {
    case '2':
    case '2b':
      return {
        text: `≥ ${HIT_RATIO} × bare`,
        check: (s, _stats, _input, cacheAvailable) => cacheAvailable
          ? { result: verdict((s.toBare ?? 0) >= HIT_RATIO), detail: '' }
          : { result: 'n/a', detail: 'no cache yet' }
      }
    case '2i':
    case '2r':
    case '2bi':
    case '2br':
      return {
        text: `≥ ${PACKAGE_HIT_RATIO} × bare`,
        check: (s) => ({ result: verdict((s.toBare ?? 0) >= PACKAGE_HIT_RATIO), detail: '' })
      }
    case '2v':
    case '2vr':
      return {
        text: `within ${REVOCATION_SLACK} of 2i`,
        check: (s, stats) => {
          const hits = stats.get('2i')?.toBare
          if (hits === undefined || s.toBare === undefined) return { result: 'n/a', detail: '2i not run' }
          return { result: verdict(s.toBare >= hits - REVOCATION_SLACK), detail: `${fmt(s.toBare, 2)} vs ${fmt(hits, 2)} × bare` }
        }
      }
    case '3':
      return {
        text: `≥ ${MISS_TO_FLOOR} × floor, and ahead of 5 and 6`,
        check: (s, stats) => {
          const rps = s.rps ?? 0
          // A rival left out with --only cannot be judged against.
          const behind = (id: string) => {
            const other = stats.get(id)?.rps
            return other === undefined ? `${id} not run` : rps <= other ? `behind ${id}` : ''
          }
          const failed = [
            (s.toFloor ?? 0) < MISS_TO_FLOOR ? `${fmt(s.toFloor, 2)} × floor` : '',
            behind('5'),
            behind('6')
          ].filter((x) => x !== '')
          return { result: verdict(failed.length === 0), detail: failed.join(', ') }
        }
      }
    case '7a':
      return {
        text: 'CPU/req ≤ a valid miss (3)',
        check: (s, stats) => {
          const miss = stats.get('3')?.cpu
          if (miss === undefined || s.cpu === undefined) return { result: 'n/a', detail: '' }
          return { result: verdict(s.cpu <= miss * BAD_SIGNATURE_SLACK), detail: `${fmt(s.cpu, 1)} vs ${fmt(miss, 1)} µs, 5 % slack` }
        }
      }
    case '7b':
      return {
        text: '≤ 1 JWKS fetch per cooldown',
        check: (_s, _stats, input) => {
          const cooldown = input.jwksCooldown
          const runs = input.samples.get('7b') ?? []
          if (cooldown === undefined || runs.length === 0) return { result: 'n/a', detail: '' }
          const allowed = Math.ceil(input.settings.duration / cooldown)
          const most = Math.max(...runs.map((r) => r.jwksFetches ?? 0))
          return { result: verdict(most <= allowed), detail: `at most ${most} per ${input.settings.duration} s run, ${allowed} allowed` }
        }
      }
    default:
      return NONE
  }
}

function memorySection (m: MemoryResult, tokens: number, cacheAvailable: boolean): string[] {
  const out = m.repeat === 1
    ? [`### ${tokens.toLocaleString('en')} distinct tokens, one request each (the target)`, '']
    : [`### ${tokens.toLocaleString('en')} distinct tokens, two requests each in a row (every token enters the cache)`, '',
        'Not the target\'s measure: once the cache is full, a token enters it on its second check, so here every token builds an entry and evicts one. ' +
        'This is the most entry churn the cache can see.', '']
  out.push(`${tokens.toLocaleString('en')} distinct valid tokens, ${m.repeat === 1 ? 'one request each' : 'two requests each'}, against a fresh server of this plugin with the default cache size. ` +
    'RSS is read at each checkpoint and sampled every 10 ms in between for the peak; the heap is read after a full collection. ' +
    `Growth is measured from the RSS after a warm-up that caches nothing (20 000 requests with one token, then 20 000 with bad signatures, which take the miss path up to the signature check) and a collection (${mb(m.baselineRss)} MB).`, '')
  out.push('| tokens sent | RSS MB | RSS growth MB | peak RSS growth MB | RSS after GC MB | heap after GC MB | req/s |', '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
  out.push(`| 0 | ${mb(m.baselineRss)} | 0 | 0 | ${mb(m.baselineRss)} | ${mb(m.baselineHeap)} | |`)
  for (const c of m.checkpoints) {
    out.push(`| ${c.after.toLocaleString('en')} | ${mb(c.rss)} | ${mb(c.rss - m.baselineRss)} | ${mb(c.peakRss - m.baselineRss)} | ${mb(c.rssAfterGc)} | ${mb(c.heapAfterGc)} | ${fmt(c.rps, 0)} |`)
  }
  out.push('')
  const last = m.checkpoints.at(-1)
  const first = m.checkpoints[0]
  if (last !== undefined && first !== undefined) {
    const peak = (Math.max(...m.checkpoints.map((c) => c.peakRss)) - m.baselineRss) / 2 ** 20
    const drift = (last.rssAfterGc - first.rssAfterGc) / 2 ** 20
    const heapDrift = (last.heapAfterGc - first.heapAfterGc) / 2 ** 20
    const swing = (Math.max(...m.checkpoints.map((c) => c.rss)) - Math.min(...m.checkpoints.map((c) => c.rss))) / 2 ** 20
    const note = cacheAvailable ? '' : ' (no cache in the plugin yet: this is the baseline without one)'
    out.push(m.repeat === 1
      ? `- Peak RSS growth: ${peak.toFixed(1)} MB; target below ${MEMORY_BUDGET_MB} MB: **${verdict(peak < MEMORY_BUDGET_MB)}**${note}.`
      : `- Peak RSS growth: ${peak.toFixed(1)} MB (${MEMORY_BUDGET_MB} MB is the target's bound for the measure above).`)
    // Judged on the live heap: RSS after a collection also moves with what V8 and
    // the allocator keep committed, and that swings by tens of MB either way.
    out.push(`- Flat once full: from ${first.after.toLocaleString('en')} to ${last.after.toLocaleString('en')} tokens, the heap after a collection moved ${signed(heapDrift, 0)} MB ` +
      `(flat: within ±${FLAT_MB} MB): **${verdict(Math.abs(heapDrift) <= FLAT_MB)}**. RSS after a collection moved ${signed(drift, 0)} MB, and before collection RSS swung over ${swing.toFixed(1)} MB between checkpoints: memory V8 and the allocator keep committed, not entries.`)
    const bad = m.checkpoints.flatMap((c) => Object.keys(c.statuses).filter((s) => s !== '200'))
    if (bad.length > 0) out.push(`- Unexpected statuses during the memory step: ${[...new Set(bad)].join(', ')}.`)
    out.push('')
  }
  return out
}

function statusText (v: Variant, s: Summary): string {
  const total = Object.values(s.statuses).reduce((a, b) => a + b, 0)
  const codes = Object.keys(s.statuses)
  const errors = s.errors > 0 ? `, ${s.errors} socket errors` : ''
  if (codes.length === 1 && Number(codes[0]) === v.expect) return `all ${v.expect}${errors}`
  return Object.entries(s.statuses).map(([code, n]) => `${code}: ${(100 * n / total).toFixed(1)} %`).join(', ') + errors
}

function unexpectedStatuses (variants: Variant[], stats: Map<string, Summary>): string[] {
  const notes: string[] = []
  for (const v of variants) {
    const s = stats.get(v.id)
    if (s === undefined || s.runs === 0) continue
    const other = Object.entries(s.statuses).filter(([code]) => Number(code) !== v.expect)
    if (other.length > 0 || s.errors > 0) {
      notes.push(`${v.id} (${v.label}): expected ${v.expect} only, got ${other.map(([code, n]) => `${n} × ${code}`).join(', ')}${s.errors > 0 ? ` and ${s.errors} socket errors` : ''}.`)
    }
  }
  return notes
}

function verdict (ok: boolean): Verdict {
  return ok ? 'pass' : 'miss'
}

export function median (values: number[]): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

function fmt (value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return ''
  return value.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function signed (value: number | undefined, base: number | undefined): string {
  if (value === undefined || base === undefined) return ''
  const d = value - base
  return `${d >= 0 ? '+' : '−'}${fmt(Math.abs(d), 1)}`
}

function mb (bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1)
}
