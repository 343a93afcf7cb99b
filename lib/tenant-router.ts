import type { FastifyBaseLogger } from 'fastify'
import { hasAudience, loggable } from './claims.js'
import { withVerify, type CredentialCheck } from './credential-check.js'
import { AudienceInvalidError, IssuerInvalidError, TokenMalformedError, type AuthError, type ErrorFactory } from './errors.js'
import { COMPACT_JWS, decodeJsonSegment } from './jws.js'
import type { Tenant } from './tenant.js'
import type { ZitadelUser } from './user.js'

/**
 * The credential check of several tenants: a token goes to exactly one
 * tenant, chosen before any check, and is never tried against a second.
 *
 * - A JWT goes to the tenant its `iss` names; tenants of one instance are
 *   told apart by `aud` (options.ts makes sure their audiences differ). The
 *   claims are read unverified here, to choose: the chosen tenant then checks
 *   the signature and every claim, `iss` and `aud` included.
 * - Anything else is an opaque token, which names no issuer: it goes to the
 *   one tenant with introspection, whose answer's `aud` must not name
 *   another tenant of its issuer (claims.ts).
 *
 * The caches are asked in turn: each holds only tokens that passed its own
 * tenant's checks, and a token only ever reaches one tenant.
 */
export function createTenantRouter (tenants: readonly Tenant[], errors: ErrorFactory, log: FastifyBaseLogger): CredentialCheck {
  const byIssuer = new Map<string, Tenant[]>()
  for (const tenant of tenants) {
    for (const iss of tenant.options.issuers) byIssuer.set(iss, [...byIssuer.get(iss) ?? [], tenant])
  }
  const audiences = new Map(tenants.map((t) => [t, new Set(t.options.audience)]))
  // Without a tenant that introspects, the first refuses them: its verifier says in the log that they look like opaque tokens.
  const opaque = tenants.find((t) => t.introspects) ?? tenants[0] as Tenant

  function cached (credential: string): ZitadelUser | undefined {
    for (const tenant of tenants) {
      const user = tenant.credentials.cached(credential)
      if (user !== undefined) return user
    }
    return undefined
  }

  function check (credential: string): Promise<ZitadelUser> {
    const tenant = choose(credential)
    return tenant instanceof Error ? Promise.reject(tenant) : tenant.credentials.check(credential)
  }

  function choose (credential: string): Tenant | AuthError {
    const parts = COMPACT_JWS.exec(credential)
    if (parts === null) return opaque
    const claims = decodeJsonSegment(parts[2] as string)
    if (claims === undefined) return errors.auth(TokenMalformedError)
    const candidates = typeof claims.iss === 'string' ? byIssuer.get(claims.iss) : undefined
    if (candidates === undefined) {
      // The usual cause: a custom domain not listed in any tenant's `issuer`.
      log.debug({ iss: loggable(claims.iss), issuers: [...byIssuer.keys()] }, 'zitadel: token refused: no tenant has its issuer')
      return errors.auth(IssuerInvalidError)
    }
    if (candidates.length === 1) return candidates[0] as Tenant
    const meant = candidates.filter((t) => hasAudience(claims.aud, audiences.get(t) as Set<string>))
    if (meant.length === 1) return meant[0] as Tenant
    // None, or several: a token for two projects of this API could be judged by either's rules.
    log.debug({ tenants: (meant.length === 0 ? candidates : meant).map((t) => t.options.tenant) },
      meant.length === 0 ? 'zitadel: token refused: no tenant of its issuer has its audience' : 'zitadel: token refused: its audience names several tenants')
    return errors.auth(AudienceInvalidError)
  }

  return withVerify(cached, check, errors)
}
