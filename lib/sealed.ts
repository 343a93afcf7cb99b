import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'
import type { IntrospectionCredentials } from './introspection-options.js'

/**
 * Introspection answers shared through Redis are sealed with a key Redis
 * never sees, derived (HKDF, RFC 5869) from the API's introspection
 * credentials, which every instance of the API has: whoever can write to
 * Redis still cannot make an instance accept a token Zitadel did not vouch
 * for, nor move one token's answer to another token.
 */
export function sealingKey (credentials: IntrospectionCredentials, namespace: string): Buffer {
  const secret = credentials.method === 'client_secret_basic'
    ? Buffer.from(`${credentials.clientId}:${credentials.clientSecret}`)
    : credentials.key.key.export({ format: 'der', type: 'pkcs8' })
  return Buffer.from(hkdfSync('sha256', secret, namespace, 'fastify-zitadel-auth introspection answers', 32))
}

/** `value`, bound to the token's `digest` by a MAC. */
export function seal (key: Buffer, digest: string, value: string): string {
  return JSON.stringify({ v: value, m: mac(key, digest, value).toString('base64url') })
}

/** The value sealed for `digest`, or undefined when the seal does not hold. */
export function unseal (key: Buffer, digest: string, sealed: string): string | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(sealed)
  } catch {
    return undefined
  }
  const { v, m } = (parsed ?? {}) as { v?: unknown, m?: unknown }
  if (typeof v !== 'string' || typeof m !== 'string') return undefined
  const given = Buffer.from(m, 'base64url')
  const expected = mac(key, digest, v)
  return given.length === expected.length && timingSafeEqual(given, expected) ? v : undefined
}

function mac (key: Buffer, digest: string, value: string): Buffer {
  return createHmac('sha256', key).update(digest).update('\n').update(value).digest()
}
