import { VERSION } from './version.js'

/**
 * Every request to the IdP has a timeout and a body cap (a broken or hostile
 * endpoint must not exhaust memory) and follows no redirect (one could move
 * key discovery, or a token, to another host).
 */

/** Why a fetch failed, in fixed words: nothing the remote sent is repeated. */
export class IdpFetchError extends Error {
  override name = 'IdpFetchError'
  readonly status: number | undefined
  /** What to fix, when the failure can only be the plugin's configuration. */
  readonly hint: string | undefined
  /** The RFC 6749 §5.2 `error` of a 4xx answer; only a short lower-case word, never free text. */
  readonly oauthError: string | undefined

  constructor (message: string, options?: { cause?: unknown, status?: number | undefined, oauthError?: string | undefined, hint?: string }) {
    super(message, options)
    this.status = options?.status
    this.oauthError = options?.oauthError
    this.hint = options?.hint
  }
}

/** Why a fetch failed when the body is not JSON (an HTML page: a wrong URL, or a proxy's page). */
export const NOT_JSON = 'answered with a body that is not JSON'

/** An OAuth error body is a few hundred bytes. */
const MAX_ERROR_BYTES = 4096
const OAUTH_ERROR_CODE = /^[a-z_]{1,64}$/

export interface JsonResponse {
  body: unknown
  headers: Headers
}

/**
 * An undici `Dispatcher`: Node's `fetch` sends through it instead of its
 * global one (`new ProxyAgent(url)`, or an `Agent` with `connect: { ca }`, from the `undici` package).
 */
export interface HttpDispatcher {
  dispatch (options: never, handler: never): unknown
}

/** How every request to the IdP is made: one object, built at registration. */
export interface HttpSettings {
  readonly timeoutMs: number
  /** The plugin's: aborted when the app closes. */
  readonly signal: AbortSignal
  readonly dispatcher: HttpDispatcher | undefined
}

export interface GetJsonOptions extends HttpSettings {
  readonly maxBytes: number
}

/** Names the plugin to Zitadel's access logs and to proxies. */
const USER_AGENT = `fastify-zitadel-auth/${VERSION}`

export function getJson (url: string, http: GetJsonOptions): Promise<JsonResponse> {
  return requestJson(url, { method: 'GET', headers: { accept: 'application/json', 'user-agent': USER_AGENT } }, http)
}

export function postForm (url: string, form: URLSearchParams, headers: Record<string, string>, http: GetJsonOptions): Promise<JsonResponse> {
  return requestJson(url, { method: 'POST', body: form, headers: { ...headers, accept: 'application/json', 'user-agent': USER_AGENT } }, http)
}

async function requestJson (url: string, init: RequestInit, { timeoutMs, maxBytes, signal, dispatcher }: GetJsonOptions): Promise<JsonResponse> {
  // Not AbortSignal.any([signal, AbortSignal.timeout()]): on Node 20 the
  // timeout signal can be garbage-collected before it fires, and a stalled IdP
  // then holds the request forever.
  const controller = new AbortController()
  const timer = setTimeout(() => { controller.abort(new DOMException('timed out', 'TimeoutError')) }, timeoutMs)
  timer.unref()
  const close = () => { controller.abort(signal.reason) }
  if (signal.aborted) close()
  else signal.addEventListener('abort', close, { once: true })
  try {
    let res: Response
    try {
      // `dispatcher` is Node's extension of RequestInit (undici's fetch).
      res = await fetch(url, { ...init, redirect: 'manual', signal: controller.signal, ...(dispatcher === undefined ? {} : { dispatcher }) } as RequestInit)
    } catch (cause) {
      throw new IdpFetchError(isTimeout(cause) ? `no answer within ${timeoutMs} ms` : `the request failed${systemCode(cause)}`, { cause })
    }
    if (res.status !== 200) {
      const oauthError = res.status >= 400 && res.status < 500 ? await readOAuthError(res, timeoutMs) : undefined
      await res.body?.cancel()
      throw new IdpFetchError(`answered HTTP ${res.status}${oauthError === undefined ? '' : ` ${oauthError}`}`, { status: res.status, oauthError })
    }
    const text = await readCapped(res, maxBytes, timeoutMs)
    try {
      return { body: JSON.parse(text), headers: res.headers }
    } catch {
      throw new IdpFetchError(NOT_JSON)
    }
  } finally {
    clearTimeout(timer)
    signal.removeEventListener('abort', close)
  }
}

/** zitadel/oidc `WriteError` answers a refused client authentication with 400 and an RFC 6749 §5.2 body. */
async function readOAuthError (res: Response, timeoutMs: number): Promise<string | undefined> {
  try {
    const code = (JSON.parse(await readCapped(res, MAX_ERROR_BYTES, timeoutMs)) as { error?: unknown } | null)?.error
    return typeof code === 'string' && OAUTH_ERROR_CODE.test(code) ? code : undefined
  } catch {
    return undefined
  }
}

/** ECONNREFUSED, ENOTFOUND, a TLS code…: what went wrong, without repeating what the remote sent. */
function systemCode (cause: unknown): string {
  const code = ((cause as { cause?: { code?: unknown } }).cause)?.code
  return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? ` (${code})` : ''
}

function isTimeout (cause: unknown): boolean {
  return cause instanceof Error && cause.name === 'TimeoutError'
}

async function readCapped (res: Response, maxBytes: number, timeoutMs: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'))
  if (declared > maxBytes) {
    await res.body?.cancel()
    throw new IdpFetchError(`answered with more than ${maxBytes} bytes`)
  }
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for await (const chunk of res.body as ReadableStream<Uint8Array>) {
      size += chunk.byteLength
      if (size > maxBytes) throw new IdpFetchError(`answered with more than ${maxBytes} bytes`)
      chunks.push(chunk)
    }
  } catch (cause) {
    if (cause instanceof IdpFetchError) throw cause
    throw new IdpFetchError(isTimeout(cause) ? `no complete answer within ${timeoutMs} ms` : 'the answer was cut off', { cause })
  }
  return Buffer.concat(chunks).toString('utf8')
}
