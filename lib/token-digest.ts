import { createHash } from 'node:crypto'

/**
 * What stands for a token wherever one is kept or shared (the introspection
 * cache, the revocation list): its SHA-256, so that no copy of the token
 * itself is ever stored.
 */
export function tokenDigest (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}
