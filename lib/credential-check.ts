import { isB64Token } from './bearer.js'
import { TokenMalformedError, TokenRevokedError, type ErrorFactory } from './errors.js'
import type { Introspector } from './introspection.js'
import type { RevocationList } from './revocations.js'
import type { ZitadelUser } from './user.js'
import type { TokenVerifier } from './verify.js'

/**
 * From a credential to its user, in the order the request path takes:
 *
 * 1. `cached`: the user of a token that passed every check before, with no
 *    syntax check (only such tokens are in the caches), or undefined.
 * 2. `check`: every check for any other `b64token` (RFC 6750 §2.1; the caller
 *    has made sure of it): Zitadel's introspection for opaque tokens (with
 *    `tokens: 'all'`, for every token), the JWT verifier otherwise. Every
 *    outcome comes through the promise.
 *
 * `verify` is both for a token that comes from elsewhere than a request.
 */
export function createCredentialCheck (verifier: TokenVerifier, introspector: Introspector | undefined, errors: ErrorFactory): CredentialCheck {
  function cached (credential: string): ZitadelUser | undefined {
    if (introspector === undefined) return verifier.cached(credential)
    // A JWT hit needs no look at the token's shape, as without introspection.
    if (!introspector.all) {
      const user = verifier.cached(credential)
      if (user !== undefined) return user
    }
    return introspector.applies(credential) ? introspector.cached(credential) : undefined
  }

  function check (credential: string): Promise<ZitadelUser> {
    return introspector !== undefined && introspector.applies(credential) ? introspector.check(credential) : verifier.verify(credential)
  }

  return withVerify(cached, check, errors)
}

/** The three steps from a credential to its user; `tenant-router.ts` makes one of several tenants' own. */
export interface CredentialCheck {
  cached (credential: string): ZitadelUser | undefined
  check (credential: string): Promise<ZitadelUser>
  verify (token: string): Promise<ZitadelUser>
}

/** `verify` that refuses revoked tokens too, as the hook does: `fastify.zitadel.verify`. */
export function verifyUnlessRevoked (credentials: CredentialCheck, revocations: RevocationList, errors: ErrorFactory): (token: string) => Promise<ZitadelUser> {
  return async function verify (token) {
    const user = await credentials.verify(token)
    if (revocations.covers(user)) throw errors.auth(TokenRevokedError)
    return user
  }
}

/** `verify` from `cached` and `check`: for a token that comes from elsewhere than a request. */
export function withVerify (cached: CredentialCheck['cached'], check: CredentialCheck['check'], errors: ErrorFactory): CredentialCheck {
  async function verify (token: string): Promise<ZitadelUser> {
    // Plain JavaScript may pass anything: a coded 401, never a TypeError (a 500 in a handler).
    if (typeof token !== 'string') throw errors.auth(TokenMalformedError)
    const user = cached(token)
    if (user !== undefined) return user
    if (!isB64Token(token)) throw errors.auth(TokenMalformedError)
    return check(token)
  }
  return { cached, check, verify }
}
