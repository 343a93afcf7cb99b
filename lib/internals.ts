import type { Clock } from './clock.js'
import type { ResolvedOptions } from './options.js'
import type { RedisShared } from './redis.js'
import type { Revoker } from './revoke.js'

/** What the package's other plugins (zitadelEvents) reach through `fastify.zitadel`; not for apps. */
export interface Internals {
  readonly clock: Clock
  readonly options: ResolvedOptions
  readonly apply: Revoker['apply']
  /** With the `redis` option: where zitadelEvents keeps whose grant is whose, for the whole fleet. */
  readonly shared: RedisShared | undefined
}

export const kInternals = Symbol('fastify-zitadel-auth.internals')

/** The internals of `zitadel`, if it is this package's decorator. */
export function internalsOf (zitadel: unknown): Internals | undefined {
  return (zitadel as { [kInternals]?: Internals } | undefined)?.[kInternals]
}
