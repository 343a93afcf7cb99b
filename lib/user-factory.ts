import type { FastifyBaseLogger } from 'fastify'
import type { Claims } from './claims.js'
import { UserRefusedError, type ErrorFactory } from './errors.js'
import type { ResolvedOptions } from './options.js'
import { createZitadelUser, type ZitadelUser } from './user.js'

/**
 * The users of verified tokens: a `ZitadelUser`, and what the `formatUser`
 * option makes of it, which is made once per token and reused from the cache.
 */
export function createUserFactory (opts: ResolvedOptions, errors: ErrorFactory, log: FastifyBaseLogger) {
  const { formatUser, roleClaim, tenant } = opts
  const format = formatUser === undefined
    ? undefined
    : (user: ZitadelUser): unknown => {
        try {
          return formatUser(user)
        } catch (err) {
          // The app's own code failed on a genuine token: a 401 the client can act on, and a log line the app can.
          log.warn({ err }, 'zitadel: formatUser threw; the request gets 401 ZITADEL_AUTH_USER_REFUSED')
          throw errors.auth(UserRefusedError)
        }
      }

  /** The user of a token seen for the first time: `formatUser` runs. */
  function build (token: string, claims: Claims): ZitadelUser {
    return createZitadelUser(token, claims, roleClaim, { format, tenant })
  }

  /** A user for another request with a token `first` was built for: what `formatUser` made is reused. */
  function rebuild (token: string, claims: Claims, first: unknown): ZitadelUser {
    return createZitadelUser(token, claims, roleClaim, { format: format === undefined ? undefined : () => first, tenant })
  }

  return { build, rebuild }
}

export type UserFactory = ReturnType<typeof createUserFactory>
