import type { Directory, User } from './directory.js'
import { OAuthError } from './http.js'
import { verifyJwtAssertion } from './jwt-assertion.js'

/** zitadel/zitadel token_jwt_profile.go: the key is one of the user's; every failure is `invalid_grant`. */
export async function verifyJwtProfileAssertion (assertion: string, issuer: string, directory: Directory): Promise<User> {
  const userId = await verifyJwtAssertion(assertion, {
    issuer,
    signer: 'user',
    keyOf: (sub, kid) => directory.user(sub)?.keys.get(kid),
    fail: (description) => { throw new OAuthError('invalid_grant', description) }
  })
  return directory.user(userId) as User
}
