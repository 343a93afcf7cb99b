import { observeFetch } from './diagnostics.js'
import { getJson, IdpFetchError, NOT_JSON, type GetJsonOptions, type HttpSettings, type JsonResponse } from './http.js'

/** Discovery documents are a few KiB. */
const MAX_DISCOVERY_BYTES = 64 * 1024
const MAX_HINT_ISSUER = 256

export interface Endpoints {
  readonly jwksUri: string
  /** Or why there is none: needed only with `introspection`, a bad one must not take the JWKS down. */
  readonly introspectionEndpoint: string | IdpFetchError
}

/**
 * The document's `issuer` must equal the configured one exactly (RFC 8414
 * §3.3, OpenID Connect Discovery §4.3), and `jwks_uri` and
 * `introspection_endpoint` must be on the issuer's origin, so a tampered
 * document can neither swap the keys nor make the plugin send tokens elsewhere.
 */
export async function discoverEndpoints (issuer: string, discoveryUrl: string, http: GetJsonOptions): Promise<Endpoints> {
  let answer: JsonResponse
  try {
    answer = await observeFetch('discovery', issuer, () => getJson(discoveryUrl, { ...http, maxBytes: MAX_DISCOVERY_BYTES }))
  } catch (err) {
    const { message, status } = err as IdpFetchError
    // A 4xx or an HTML page where Zitadel serves its document: the URL is wrong, not the IdP down.
    if ((status !== undefined && status >= 400 && status < 500) || message === NOT_JSON) {
      throw new IdpFetchError(message, {
        cause: err,
        status,
        hint: `no OpenID discovery document at ${discoveryUrl}; "issuer" must be the Zitadel instance URL without a path, such as https://my-instance.zitadel.cloud`
      })
    }
    throw err
  }
  const body = answer.body
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new IdpFetchError('discovery document is not a JSON object')
  }
  const doc = body as Record<string, unknown>
  if (doc.issuer !== issuer) {
    // The issuer it names is the fix: the IdP's own public URL, cut short and printable only.
    const named = typeof doc.issuer === 'string' && /^[\x21-\x7e]+$/.test(doc.issuer) ? `"${doc.issuer.slice(0, MAX_HINT_ISSUER)}"` : 'no usable issuer'
    throw new IdpFetchError('discovery document names another issuer than the configured one', {
      hint: `the discovery document at ${discoveryUrl} names ${named}, not "${issuer}"; set "issuer" to exactly what the document names (localhost and 127.0.0.1 differ; Zitadel v4 drops a non-standard port from the issuer of a host that is not localhost or an IP)`
    })
  }
  if (typeof doc.jwks_uri !== 'string') {
    throw new IdpFetchError('discovery document has no jwks_uri')
  }
  const origin = new URL(issuer).origin
  const jwksUri = sameOrigin(doc.jwks_uri, origin, 'jwks_uri')
  let introspectionEndpoint: string | IdpFetchError
  try {
    if (doc.introspection_endpoint === undefined) throw new IdpFetchError('discovery document has no introspection_endpoint')
    introspectionEndpoint = sameOrigin(doc.introspection_endpoint, origin, 'introspection_endpoint')
  } catch (err) {
    introspectionEndpoint = err as IdpFetchError
  }
  return { jwksUri, introspectionEndpoint }
}

function sameOrigin (value: unknown, origin: string, name: string): string {
  let url: URL
  try {
    url = new URL(value as string)
  } catch {
    throw new IdpFetchError(`discovery document has an invalid ${name}`)
  }
  if (url.origin !== origin) {
    throw new IdpFetchError(`discovery document puts ${name} on another origin than the issuer`)
  }
  return url.href
}

/** Fetched once and shared; a failed fetch is not remembered, so the next caller tries again. */
export class Discovery {
  readonly #issuer: string
  readonly #discoveryUrl: string
  readonly #http: HttpSettings
  #endpoints: Promise<Endpoints> | undefined

  constructor (issuer: string, discoveryUrl: string, http: HttpSettings) {
    this.#issuer = issuer
    this.#discoveryUrl = discoveryUrl
    this.#http = http
  }

  endpoints (): Promise<Endpoints> {
    if (this.#endpoints === undefined) {
      const pending = discoverEndpoints(this.#issuer, this.#discoveryUrl, { ...this.#http, maxBytes: MAX_DISCOVERY_BYTES })
      this.#endpoints = pending
      pending.catch(() => { if (this.#endpoints === pending) this.#endpoints = undefined })
    }
    return this.#endpoints
  }
}
