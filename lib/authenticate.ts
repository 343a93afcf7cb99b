import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { bearerCredential, hasOneAuthorization, isB64Token, NONE } from './bearer.js'
import type { CredentialCheck } from './credential-check.js'
import { BadRequestError, type ErrorFactory } from './errors.js'
import { awaitable, failHook } from './hooks.js'

/** Set once `authenticate` has run on a request (see routes.ts). */
export const kChecked = Symbol('fastify-zitadel-auth.checked')

/**
 * A token that is presented is checked on every route, public or not (RFC
 * 6750 §3); a request without one goes on as anonymous and the guards decide.
 * Callback style, not async, so that a cache hit allocates no promise.
 */
export function createAuthenticate (credentials: CredentialCheck, errors: ErrorFactory) {
  return function authenticate (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    // `await authenticate(req, reply)` by hand: a promise, never a crash.
    if (typeof done !== 'function') return awaitable(authenticate, request, reply) as unknown as undefined
    ;(request as unknown as Record<symbol, boolean>)[kChecked] = true
    const header = request.headers.authorization
    if (header === undefined) {
      done()
      return
    }
    // Node keeps the first of two Authorization lines; a proxy or service that
    // reads the last would see another caller than the one authorised here
    // (RFC 9110 §5.3: Authorization is not a list; RFC 6750 §3.1).
    if (!hasOneAuthorization(request.raw.rawHeaders)) {
      failHook(reply, errors.auth(BadRequestError), done)
      return
    }
    const credential = bearerCredential(header)
    if (credential === NONE) {
      done()
      return
    }
    if (typeof credential !== 'string') { // INVALID: "Bearer" with nothing usable after it
      failHook(reply, errors.auth(BadRequestError), done)
      return
    }
    const user = credentials.cached(credential)
    if (user !== undefined) {
      request.user = user
      done()
      return
    }
    // RFC 6750 §2.1: not a b64token is a malformed request (400), not a bad
    // token (401). Checked after the caches, which hold only tokens that passed.
    if (!isB64Token(credential)) {
      failHook(reply, errors.auth(BadRequestError), done)
      return
    }
    credentials.check(credential).then((checked) => {
      request.user = checked
      done()
    }, (err: unknown) => { failHook(reply, err, done) })
  }
}

export type Authenticate = ReturnType<typeof createAuthenticate>
