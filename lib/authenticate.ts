import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { bearerCredential, hasOneAuthorization, isB64Token, NONE } from './bearer.js'
import type { CredentialCheck } from './credential-check.js'
import { BadRequestError, TokenMalformedError, TokenRevokedError, type ErrorConstructor, type ErrorFactory } from './errors.js'
import type { ResolvedOptions } from './options.js'
import type { RevocationList } from './revocations.js'
import { requestUserOf, type ZitadelRequestUser, type ZitadelUser } from './user.js'
import { tokenChannel, type TokenMessage } from './diagnostics.js'
import { awaitable, failHook } from './hooks.js'

/** RFC 9110 §9.2.1: a cross-site page can make a browser send these with its cookies, but they change nothing. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** Set once `authenticate` has run on a request (see routes.ts). */
export const kChecked = Symbol('fastify-zitadel-auth.checked')

/**
 * A token that is presented is checked on every route, public or not (RFC
 * 6750 §3); a request without one goes on as anonymous and the guards decide.
 * Callback style, not async, so that a cache hit allocates no promise.
 */
export function createAuthenticate (credentials: CredentialCheck, revocations: RevocationList, errors: ErrorFactory, cookie: ResolvedOptions['cookie']) {
  return function authenticate (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    // `await authenticate(req, reply)` by hand: a promise, never a crash.
    if (typeof done !== 'function') return awaitable(authenticate, request, reply) as unknown as undefined
    ;(request as unknown as Record<symbol, boolean>)[kChecked] = true
    const header = request.headers.authorization
    if (header === undefined) {
      fromCookie(request, reply, done)
      return
    }
    // Node keeps the first of two Authorization lines; a proxy or service that
    // reads the last would see another caller (RFC 9110 §5.3, RFC 6750 §3.1).
    if (!hasOneAuthorization(request.raw.rawHeaders)) {
      refuse(reply, errors.auth(BadRequestError), done)
      return
    }
    const credential = bearerCredential(header)
    if (credential === NONE) {
      fromCookie(request, reply, done)
      return
    }
    if (typeof credential !== 'string') { // INVALID: "Bearer" with nothing usable after it
      refuse(reply, errors.auth(BadRequestError), done)
      return
    }
    // RFC 6750 §2.1: a credential that is no b64token is a malformed request (400).
    resolve(credential, BadRequestError, request, reply, done)
  }

  /** Without a Bearer header: the token cookie, when the option names one and the method allows it. */
  function fromCookie (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const value = cookie === undefined || (!cookie.unsafeMethods && !SAFE_METHODS.has(request.method))
      ? undefined
      : (request as FastifyRequest & { cookies?: Record<string, string | undefined> }).cookies?.[cookie.name]
    if (value === undefined || value === '') {
      done()
      return
    }
    // Not a request syntax error, as in the header: a cookie that holds no token is a bad token.
    resolve(value, TokenMalformedError, request, reply, done)
  }

  /** A credential to its user: the caches first (only tokens that passed every check are there), then every check. */
  function resolve (credential: string, malformed: ErrorConstructor, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    const user = credentials.cached(credential)
    if (user !== undefined) {
      accept(user, 'hit', request, reply, done)
      return
    }
    if (!isB64Token(credential)) {
      refuse(reply, errors.auth(malformed), done)
      return
    }
    credentials.check(credential).then((checked) => {
      accept(checked, 'miss', request, reply, done)
    }, (err: unknown) => { refuse(reply, err, done) })
  }

  /** A verified token's user, unless revoked since: revocations apply to cache hits too. */
  function accept (user: ZitadelUser, outcome: 'hit' | 'miss', request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    if (revocations.covers(user)) {
      refuse(reply, errors.auth(TokenRevokedError), done)
      return
    }
    if (tokenChannel.hasSubscribers) tokenChannel.publish({ outcome, code: undefined, tenant: user.tenant } satisfies TokenMessage)
    request.zitadelUser = user
    request.user = requestUserOf(user) as ZitadelRequestUser
    done()
  }

  function refuse (reply: FastifyReply, err: unknown, done: HookHandlerDoneFunction): void {
    if (tokenChannel.hasSubscribers) tokenChannel.publish({ outcome: 'refused', code: (err as { code?: string }).code, tenant: undefined } satisfies TokenMessage)
    failHook(reply, err, done)
  }
}

export type Authenticate = ReturnType<typeof createAuthenticate>
