import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AuthError } from './errors.js'

function setChallenge (reply: FastifyReply, err: unknown): void {
  const headers = (err as AuthError).headers
  if (headers !== undefined) reply.headers(headers)
}

/**
 * Sets the error's headers on the reply before `done(err)`: Fastify's default
 * error handler applies `err.headers`, a custom `setErrorHandler` does not,
 * and RFC 6750 §3 requires `WWW-Authenticate` on every 401.
 */
export function failHook (reply: FastifyReply, err: unknown, done: (err?: Error) => void): void {
  setChallenge(reply, err)
  done(err as Error)
}

/** For a caller that awaits a hook instead of passing `done`. */
export function awaitable (hook: (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  return new Promise((resolve, reject) => {
    hook(request, reply, (err) => { if (err === undefined) resolve(); else reject(err) })
  })
}
