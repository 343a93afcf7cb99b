import { channel } from 'node:diagnostics_channel'

/**
 * What the plugin tells `node:diagnostics_channel` subscribers (metrics,
 * tracing). Publishing costs nothing while no one subscribes: every call
 * site checks `hasSubscribers` first. No message holds a token, a key or a
 * credential.
 */

/** The outcome of each request that carries a token. */
export interface TokenMessage {
  /** `hit`: accepted from the caches; `miss`: accepted after every check; `refused`: answered with `code`. */
  readonly outcome: 'hit' | 'miss' | 'refused'
  /** The `ZITADEL_AUTH_*` code of a refusal; undefined otherwise. */
  readonly code: string | undefined
  /** The tenant of an accepted token, with the `tenants` option. */
  readonly tenant: string | undefined
}

/** Each request the plugin makes to Zitadel. */
export interface FetchMessage {
  readonly kind: 'discovery' | 'keys' | 'introspection'
  /** The issuer asked (the first of its list). */
  readonly issuer: string
  /** Wall time of the request, in milliseconds. */
  readonly durationMs: number
  readonly outcome: 'ok' | 'failed'
  /** Why it failed, in fixed words (as in the log); undefined when it worked. */
  readonly reason: string | undefined
}

/** Each revocation put in effect on this instance. */
export interface RevocationMessage {
  readonly kind: 'subject' | 'token' | 'tokenId'
  /** `api`: `fastify.zitadel.revoke*()` on this instance; `event`: a Zitadel event the `zitadelEvents` route received; `store`: another instance, through Redis. */
  readonly source: 'api' | 'event' | 'store'
}

/** The channel names, for `diagnostics_channel.subscribe(name, listener)`. */
export const DIAGNOSTICS_CHANNELS = Object.freeze({
  token: 'fastify-zitadel-auth:token',
  fetch: 'fastify-zitadel-auth:fetch',
  revocation: 'fastify-zitadel-auth:revocation'
} as const)

export const tokenChannel = channel(DIAGNOSTICS_CHANNELS.token)
export const fetchChannel = channel(DIAGNOSTICS_CHANNELS.fetch)
export const revocationChannel = channel(DIAGNOSTICS_CHANNELS.revocation)

/** Runs one request to Zitadel, and reports it when someone listens. */
export async function observeFetch<T> (kind: FetchMessage['kind'], issuer: string, work: () => Promise<T>): Promise<T> {
  if (!fetchChannel.hasSubscribers) return work()
  const started = performance.now()
  try {
    const result = await work()
    fetchChannel.publish({ kind, issuer, durationMs: performance.now() - started, outcome: 'ok', reason: undefined } satisfies FetchMessage)
    return result
  } catch (err) {
    fetchChannel.publish({ kind, issuer, durationMs: performance.now() - started, outcome: 'failed', reason: (err as Error).message } satisfies FetchMessage)
    throw err
  }
}
