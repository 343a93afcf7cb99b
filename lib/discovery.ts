import { getJson, IdpFetchError, type GetJsonOptions } from './http.js'

/** Discovery documents are a few KiB; Zitadel's is about 2 KiB. */
const MAX_DISCOVERY_BYTES = 64 * 1024

/**
 * Fetches `{issuer}/.well-known/openid-configuration` and returns the
 * `jwks_uri` it names, after the checks that keep an impostor out:
 * - its `issuer` equals the configured issuer exactly (RFC 8414 §3.3,
 *   OpenID Connect Discovery §4.3);
 * - its `jwks_uri` is on the issuer's own origin, so a tampered document
 *   cannot point key discovery at a server someone else controls.
 */
export async function discoverJwksUri (issuer: string, discoveryUrl: string, http: GetJsonOptions): Promise<string> {
  const { body } = await getJson(discoveryUrl, { ...http, maxBytes: MAX_DISCOVERY_BYTES })
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new IdpFetchError('discovery document is not a JSON object')
  }
  const doc = body as Record<string, unknown>
  if (doc.issuer !== issuer) {
    throw new IdpFetchError('discovery document names another issuer than the configured one')
  }
  if (typeof doc.jwks_uri !== 'string') {
    throw new IdpFetchError('discovery document has no jwks_uri')
  }
  let jwksUrl: URL
  try {
    jwksUrl = new URL(doc.jwks_uri)
  } catch {
    throw new IdpFetchError('discovery document has an invalid jwks_uri')
  }
  if (jwksUrl.origin !== new URL(issuer).origin) {
    throw new IdpFetchError('discovery document puts jwks_uri on another origin than the issuer')
  }
  return jwksUrl.href
}
