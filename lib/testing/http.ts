import { timingSafeEqual, createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { PageDetail } from './html.js'

/** RFC 6749 §5.2 JSON. */
export class OAuthError extends Error {
  override name = 'OAuthError'
  constructor (readonly errorCode: string, readonly description: string, readonly statusCode = 400, readonly headers: Record<string, string> = {}) {
    super(description)
  }
}

/** An error shown to a person as an HTML page: never a redirect to an unchecked URI. */
export class PageError extends Error {
  override name = 'PageError'
  constructor (readonly title: string, message: string, readonly details: readonly PageDetail[] = [], readonly statusCode = 400) {
    super(message)
  }
}

/** The largest legitimate field is a signed assertion. */
export const FORM_BODY_LIMIT = 16 * 1024

/** The only body the emulator reads; URLSearchParams keep repeated parameters visible. */
export function addFormParser (app: FastifyInstance): void {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT }, (_request, body, done) => {
    done(null, new URLSearchParams(body as string))
  })
}

export function formOf (request: FastifyRequest): URLSearchParams {
  return request.body instanceof URLSearchParams ? request.body : new URLSearchParams()
}

export function queryOf (request: FastifyRequest): URLSearchParams {
  return new URL(request.url, 'http://emulator.invalid').searchParams
}

/** Undefined when absent or empty. RFC 6749 §3.1: a parameter must not be sent more than once. */
export function single (params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name)
  if (values.length > 1) throw new OAuthError('invalid_request', `the parameter ${name} was sent more than once`)
  const value = values[0]
  return value === undefined || value === '' ? undefined : value
}

/** RFC 6749 §2.3.1: each part form-urlencoded. `null` when malformed. */
export function basicCredentials (header: string | undefined): { clientId: string, secret: string } | null | undefined {
  if (header === undefined) return undefined
  const match = /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header)
  if (match === null) return /^Basic(\s|$)/i.test(header) ? null : undefined
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return null
  try {
    return { clientId: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) }
  } catch {
    return null
  }
}

function formDecode (value: string): string {
  return decodeURIComponent(value.replace(/\+/g, ' '))
}

/** Digests first, so lengths do not leak. */
export function safeEqual (a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest()
  return timingSafeEqual(digest(a), digest(b))
}

/** Token responses must not be cached (RFC 6749 §5.1). */
export function noStore (reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
}

export function withParams (uri: string, params: Record<string, string | undefined>): string {
  const url = new URL(uri)
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value)
  return url.href
}
