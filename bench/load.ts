import autocannon from 'autocannon'

export interface LoadResult {
  /** Responses per second over the run. */
  rps: number
  /** Responses received. */
  responses: number
  seconds: number
  p50: number
  p99: number
  /** Responses per status code. */
  statuses: Record<string, number>
  /** Connection errors and timeouts. */
  errors: number
}

export interface LoadOptions {
  port: number
  /** The token for the next request; called once per request, by every connection. */
  token: () => string
  connections: number
  duration?: number
  /** A fixed number of requests instead of a duration. */
  amount?: number
}

/**
 * Load from this process with autocannon, GET /hello with a Bearer token.
 * Every variant builds its requests the same way (setupRequest per request),
 * so the load generator costs the same whatever the token source.
 */
export async function load (opts: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: `http://127.0.0.1:${opts.port}`,
    connections: opts.connections,
    pipelining: 1,
    // autocannon notices the end of a run on its sampling tick (1 s by default), so
    // a run of a fixed amount would be timed to the next whole second.
    ...(opts.amount === undefined ? { duration: opts.duration ?? 3 } : { amount: opts.amount, sampleInt: 20 }),
    requests: [{
      method: 'GET',
      path: '/hello',
      setupRequest: (request) => ({ ...request, headers: { ...request.headers, authorization: `Bearer ${opts.token()}` } })
    }]
  })
  const statuses: Record<string, number> = {}
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = stat.count ?? 0
  const responses = Object.values(statuses).reduce((a, b) => a + b, 0)
  return {
    rps: responses / result.duration,
    responses,
    seconds: result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    statuses,
    errors: result.errors + result.timeouts
  }
}

/** Cycles through a list, shared by all connections. */
export function cycle (list: readonly string[]): () => string {
  let i = 0
  return () => list[i++ % list.length] as string
}
