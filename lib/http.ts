/**
 * The one way the plugin talks to the IdP: a bounded GET of a JSON document.
 * A timeout on every request, redirects not followed (a redirect could move
 * key discovery to another host), and a cap on the body so a broken or hostile
 * endpoint cannot exhaust memory.
 */

/** Why a fetch failed, in fixed words: nothing the remote sent is repeated. */
export class IdpFetchError extends Error {
  override name = 'IdpFetchError'
}

export interface JsonResponse {
  body: unknown
  headers: Headers
}

export interface GetJsonOptions {
  timeoutMs: number
  maxBytes: number
  /** Aborted when the plugin closes. */
  signal: AbortSignal
}

export async function getJson (url: string, { timeoutMs, maxBytes, signal }: GetJsonOptions): Promise<JsonResponse> {
  let res: Response
  try {
    res = await fetch(url, {
      redirect: 'manual',
      headers: { accept: 'application/json' },
      signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)])
    })
  } catch (cause) {
    throw new IdpFetchError(isTimeout(cause) ? `no answer within ${timeoutMs} ms` : `the request failed${systemCode(cause)}`, { cause })
  }
  if (res.status !== 200) {
    await res.body?.cancel()
    throw new IdpFetchError(`answered HTTP ${res.status}`)
  }
  const text = await readCapped(res, maxBytes, timeoutMs)
  try {
    return { body: JSON.parse(text), headers: res.headers }
  } catch {
    throw new IdpFetchError('answered with a body that is not JSON')
  }
}

/**
 * The system error code behind a failed fetch (ECONNREFUSED, ENOTFOUND, a TLS
 * code…), which says what went wrong without repeating anything the remote sent.
 */
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
