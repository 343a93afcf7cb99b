import { cycle } from './load.js'
import type { PluginEntry, ServerKind } from './server.js'
import { randomKidTokens, tamper } from './tokens.js'

/** What one server is and what the load sends it. */
export interface Variant {
  id: string
  label: string
  kind: ServerKind
  /** Extra plugin options; set only where a variant needs one. */
  pluginOptions?: Record<string, unknown>
  /** Plugin variants: the built package through `import` (default) or `require`. */
  entry?: PluginEntry
  /** Plugin variants: `requireAuth()` (default) or `requireRoles(['user'])` on the route. */
  guard?: 'auth' | 'roles'
  /** Plugin variants: revocations in effect (of other users and tokens), so every request's revocation check has lists to look in. */
  revocations?: 'memory' | 'redis'
  /** Measures the verified-token cache: meaningless, or refused, before the plugin has one. */
  needsCache: boolean
  /** The token of each measured request. */
  token: () => string
  /** Sent once, one request per token, before the first round (fills the cache). */
  preload?: readonly string[]
  /** The status every response should have. */
  expect: number
  /** Count the issuer's JWKS requests during each run. */
  countFetches?: boolean
  /** Measured in the first round only (fetch counts, not throughput ratios). */
  firstRoundOnly?: boolean
}

export interface TokenPools {
  /** 40 000 tokens, four times the default cache: cycled, every request is a miss. */
  misses: readonly string[]
  /** 10 000 tokens that fill the cache before the hot token is measured. */
  preload: readonly string[]
  /** 8 000 tokens, preloaded and then cycled: every request is a hit on a full-ish cache. */
  spread: readonly string[]
  /** The one token of the hot-token variants, in none of the pools. */
  hot: string
}

export function defineVariants (pools: TokenPools): Variant[] {
  const hot = () => pools.hot
  return [
    { id: '1', label: 'bare Fastify, no auth (the ceiling)', kind: 'bare', needsCache: false, token: hot, expect: 200 },
    { id: '2', label: 'this plugin, the same valid token every request (hits)', kind: 'plugin', needsCache: false, token: hot, expect: 200 },
    { id: '2b', label: 'this plugin, one hot token, 10 000 other tokens cached first', kind: 'plugin', needsCache: true, token: hot, preload: pools.preload, expect: 200 },
    { id: '2i', label: 'built package via `import`, `requireRoles([\'user\'])`, one hot token', kind: 'plugin', entry: 'import', guard: 'roles', needsCache: false, token: hot, expect: 200 },
    { id: '2r', label: 'built package via `require`, `requireRoles([\'user\'])`, one hot token', kind: 'plugin', entry: 'require', guard: 'roles', needsCache: false, token: hot, expect: 200 },
    { id: '2bi', label: 'as 2i, 10 000 other tokens cached first', kind: 'plugin', entry: 'import', guard: 'roles', needsCache: true, token: hot, preload: pools.preload, expect: 200 },
    { id: '2br', label: 'as 2r, 10 000 other tokens cached first', kind: 'plugin', entry: 'require', guard: 'roles', needsCache: true, token: hot, preload: pools.preload, expect: 200 },
    { id: '2v', label: 'as 2i, with 1 000 other users, a token and a token id revoked', kind: 'plugin', entry: 'import', guard: 'roles', revocations: 'memory', needsCache: false, token: hot, expect: 200 },
    { id: '2vr', label: 'as 2v, revocations shared through Redis (`redis` option)', kind: 'plugin', entry: 'import', guard: 'roles', revocations: 'redis', needsCache: false, token: hot, expect: 200 },
    { id: '2c', label: 'this plugin, hits spread over 8 000 cached tokens', kind: 'plugin', needsCache: true, token: cycle(pools.spread), preload: pools.spread, expect: 200 },
    { id: '3', label: 'this plugin, a new valid token every request (misses, cache on)', kind: 'plugin', needsCache: false, token: cycle(pools.misses), expect: 200 },
    { id: '4', label: 'this plugin, `tokenCacheSize: 0` (cache off)', kind: 'plugin', pluginOptions: { tokenCacheSize: 0 }, needsCache: true, token: cycle(pools.misses), expect: 200 },
    { id: '5', label: '`@fastify/jwt` + `get-jwks` (its README recipe)', kind: 'fastify-jwt', needsCache: false, token: cycle(pools.misses), expect: 200 },
    { id: '6', label: '`jose` `createRemoteJWKSet` + `jwtVerify` hook', kind: 'jose', needsCache: false, token: cycle(pools.misses), expect: 200 },
    { id: 'floor', label: 'one `crypto.verify` RS256 per request, nothing else', kind: 'floor', needsCache: false, token: cycle(pools.misses), expect: 200 },
    { id: 'floor-p', label: 'as floor, on libuv\'s thread pool (the callback form), as the plugin verifies', kind: 'floor-pool', needsCache: false, token: cycle(pools.misses), expect: 200 },
    { id: '7a', label: 'this plugin, bad signatures (a different token each request)', kind: 'plugin', needsCache: false, token: tampered(pools.misses), expect: 401 },
    { id: '7b', label: 'this plugin, random unknown `kid` each request', kind: 'plugin', needsCache: false, token: randomKidTokens(pools.hot), expect: 401, countFetches: true },
    { id: '7c', label: '`@fastify/jwt` + `get-jwks`, random unknown `kid`', kind: 'fastify-jwt', needsCache: false, token: randomKidTokens(pools.hot), expect: 401, countFetches: true, firstRoundOnly: true },
    { id: '7d', label: '`jose` hook, random unknown `kid`', kind: 'jose', needsCache: false, token: randomKidTokens(pools.hot), expect: 401, countFetches: true, firstRoundOnly: true }
  ]
}

function tampered (list: readonly string[]): () => string {
  const next = cycle(list)
  return () => tamper(next())
}
