import type { Directory, User } from './directory.js'
import { OAuthError } from './http.js'
import { verifyJwtAssertion } from './jwt-assertion.js'

/**
 * Checks the assertion of the JWT-profile grant as Zitadel does
 * (zitadel/zitadel token_jwt_profile.go, see verifyJwtAssertion): the
 * subject is a user, and the key named by `kid` is one of that user's keys.
 * Returns the user; every failure is `invalid_grant`.
 */
export async function verifyJwtProfileAssertion (assertion: string, issuer: string, directory: Directory): Promise<User> {
  const userId = await verifyJwtAssertion(assertion, {
    issuer,
    signer: 'user',
    keyOf: (sub, kid) => directory.user(sub)?.keys.get(kid),
    fail: (description) => { throw new OAuthError('invalid_grant', description) }
  })
  return directory.user(userId) as User
}
