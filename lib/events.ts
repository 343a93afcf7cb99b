import type { FastifyPluginAsync } from 'fastify'
import { EventMalformedError, EventRefusedError, invalidOption } from './errors.js'
import { actionFor, concernsGrant, readEvent } from './event-revocations.js'
import { validEventSignature } from './event-signature.js'
import { internalsOf } from './internals.js'
import type { RedisShared } from './redis.js'
import { COMPACT_JWS, decodeJsonSegment } from './jws.js'

/** What `app.register(zitadelEvents, options)` takes. */
export interface ZitadelEventsOptions {
  /** The target's signing key, as Zitadel returned it when the target was made; two while you replace it. */
  signingKey: string | readonly string[]
  /** The route's path. Default: `'/zitadel/events'`. */
  path?: string | undefined
  /**
   * Seconds a signed request stays acceptable, either way of this host's
   * clock: an older one may be a replay. From 10 to 3600. Default: 300, as
   * Zitadel's own `actions.ValidatePayload` (pkg/actions/signing.go).
   */
  maxAge?: number | undefined
}

/** An event body is a few hundred bytes; a user's metadata can make it a few KiB. */
const BODY_LIMIT = 256 * 1024
/** Grants remembered from `user.grant.added`, to know whose grant a later event removes. */
const MAX_GRANTS = 100_000
/** Zitadel's signing keys are 36 characters (cmd/defaults.yaml SecretGenerators.SigningKey). */
const MIN_KEY_LENGTH = 16

/**
 * Receives Zitadel Actions v2 event webhooks and revokes the tokens the
 * events make invalid: a deactivated, locked or removed user's, a removed
 * personal access token, and the user's tokens when a grant of theirs is
 * removed or changed. Unknown and other events are acknowledged and ignored;
 * a request without a valid signature gets 401 and changes nothing.
 * Register it after fastify-zitadel-auth, as a plugin of its own: its JSON
 * parser (the raw bytes, for the signature) stays inside it.
 * @example await app.register(zitadelEvents, { signingKey: process.env.ZITADEL_EVENTS_KEY! })
 */
export const zitadelEvents: FastifyPluginAsync<ZitadelEventsOptions> = async function zitadelEvents (fastify, options) {
  const internals = internalsOf(fastify.hasDecorator('zitadel') ? fastify.zitadel : undefined)
  if (internals === undefined) invalidOption('zitadelEvents: register fastify-zitadel-auth first (await app.register(zitadelAuth, …)); the events revoke through it')
  const { keys, path, maxAge } = resolveEventsOptions(options)
  const { clock, options: opts, apply, shared } = internals
  const lifetime = opts.revocation.maxTokenLifetime + opts.clockTolerance
  const grants = createGrantBook(shared)
  const log = fastify.log.child({ plugin: 'fastify-zitadel-auth' })

  // The signature covers the exact bytes: the body must reach the handler unparsed.
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_request, body, done) => { done(null, body) })

  fastify.post(path, { config: { zitadel: false }, bodyLimit: BODY_LIMIT }, async function zitadelEvent (request, reply) {
    const body = request.body as Buffer | undefined
    if (!Buffer.isBuffer(body) || !validEventSignature(request.headers['zitadel-signature'], body, keys, clock.wallSeconds(), maxAge)) {
      log.warn({ path }, 'zitadel: refused an event request without a valid ZITADEL-Signature (a wrong signingKey, a clock off by more than maxAge, or not from Zitadel)')
      throw new EventRefusedError()
    }
    const event = readEvent(parse(body.toString('utf8')))
    if (event === undefined) throw new EventMalformedError()
    const action = actionFor(event, lifetime, concernsGrant(event.event_type) ? await grants.userOf(event.aggregateID) : undefined)
    switch (action.kind) {
      case 'revoke':
        await apply(action.revocation, 'event')
        if (action.forgetGrant !== undefined) await grants.forget(action.forgetGrant)
        log.info({ event: event.event_type, revoked: action.revocation.kind === 'subject' ? { sub: action.revocation.sub } : { jti: (action.revocation as { jti: string }).jti } }, 'zitadel: tokens revoked by an event')
        break
      case 'grant':
        await grants.remember(action.grantId, action.userId)
        break
      case 'unknown-grant':
        log.warn({ event: event.event_type, grantId: action.grantId }, `zitadel: a grant changed whose user is unknown here (its user.grant.added came before ${shared === undefined ? 'this instance' : 'the fleet'} listened); that user's tokens keep their roles until they expire`)
        break
      default:
        log.debug({ event: event.event_type }, 'zitadel: event acknowledged, nothing to revoke')
    }
    // Zitadel counts any 2xx as delivered; a JSON body with forwardedStatusCode would count as a failure.
    return reply.code(200).send({})
  })
}

/**
 * Whose grant is whose, learnt from `user.grant.added`: grant events name
 * only the grant. With Redis, shared by the fleet (an event may reach another
 * instance than the grant's); always also here, bounded.
 */
function createGrantBook (shared: RedisShared | undefined) {
  const local = new Map<string, string>()
  return {
    async remember (grantId: string, userId: string): Promise<void> {
      // Oldest first out: a Map keeps insertion order.
      if (local.size >= MAX_GRANTS) local.delete(local.keys().next().value as string)
      local.set(grantId, userId)
      await shared?.set(`grant:${grantId}`, userId)
    },
    async userOf (grantId: string): Promise<string | undefined> {
      return local.get(grantId) ?? await shared?.get(`grant:${grantId}`)
    },
    async forget (grantId: string): Promise<void> {
      local.delete(grantId)
      await shared?.delete(`grant:${grantId}`)
    }
  }
}

/**
 * The body as JSON; with the target's payload type JWT, the payload of the
 * compact JWS, which the HMAC signature already vouches for.
 */
function parse (text: string): unknown {
  const jws = COMPACT_JWS.exec(text.trim())
  if (jws !== null) return decodeJsonSegment(jws[2] as string)
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Fastify hands a plugin an object, `{}` for none. */
function resolveEventsOptions (options: object): { keys: readonly string[], path: string, maxAge: number } {
  const { signingKey, path = '/zitadel/events', maxAge = 300, ...rest } = options as Record<string, unknown>
  for (const name of Object.keys(rest)) {
    if (!['prefix', 'logLevel', 'logSerializers'].includes(name)) invalidOption(`zitadelEvents: unknown option "${name}"; known options are signingKey, path, maxAge`)
  }
  const keys = typeof signingKey === 'string' ? [signingKey] : signingKey
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string' && k.length >= MIN_KEY_LENGTH)) {
    invalidOption(`zitadelEvents: option "signingKey" must be the target's signing key (a string of at least ${MIN_KEY_LENGTH} characters, as Zitadel returned it when the target was made), or a list of them`)
  }
  if (typeof path !== 'string' || !path.startsWith('/')) invalidOption('zitadelEvents: option "path" must be a path starting with "/"')
  if (typeof maxAge !== 'number' || !(maxAge >= 10 && maxAge <= 3600)) invalidOption('zitadelEvents: option "maxAge" must be a number of seconds from 10 to 3600')
  return { keys: Object.freeze([...keys as string[]]), path, maxAge }
}
