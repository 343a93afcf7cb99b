import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AuthError } from './errors.js'

/**
 * Ending the plugin's callback-style hooks: with an error and the headers it
 * carries, or as a promise for a caller that awaits a hook.
 */

/** Sets the headers an error carries (`WWW-Authenticate`, `Retry-After`) on the reply. */
function setChallenge (reply: FastifyReply, err: unknown): void {
  const headers = (err as AuthError).headers
  if (headers !== undefined) reply.headers(headers)
}

/**
 * Ends a callback-style hook with `err`, after setting the headers it
 * carries (`WWW-Authenticate`, `Retry-After`) on the reply. Fastify's default
 * error handler applies `err.headers` itself; a custom `setErrorHandler` that
 * sends its own body keeps them this way, as RFC 6750 §3 requires for every 401.
 */
export function failHook (reply: FastifyReply, err: unknown, done: (err?: Error) => void): void {
  setChallenge(reply, err)
  done(err as Error)
}

/**
 * Runs a callback-style hook as a promise: for a caller that awaits the hook
 * as if it were async, instead of passing `done`. The hooks are callback
 * style for speed; this keeps them safe to call either way.
 */
export function awaitable (hook: (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  return new Promise((resolve, reject) => {
    hook(request, reply, (err) => { if (err === undefined) resolve(); else reject(err) })
  })
}
