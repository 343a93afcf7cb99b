import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from './clock.js'
import { createCredentialCheck, type CredentialCheck } from './credential-check.js'
import { Discovery } from './discovery.js'
import type { ErrorFactory } from './errors.js'
import type { HttpSettings } from './http.js'
import { createIntrospector, type IntrospectionStatus } from './introspection.js'
import { introspectionCredentials } from './introspection-options.js'
import { JwksCache, type KeySetStatus } from './jwks.js'
import type { ResolvedOptions } from './options.js'
import type { RedisShared } from './redis.js'
import { createUserFactory } from './user-factory.js'
import { createTokenVerifier } from './verify.js'

/** What a tenant's checks share with the others. */
export interface TenantContext {
  readonly log: FastifyBaseLogger
  readonly errors: ErrorFactory
  readonly clock: Clock
  readonly http: HttpSettings
  /** Introspection answers shared with other instances, with the `redis` option. */
  readonly shared: RedisShared | undefined
}

/** The state of one issuer's checks, as `fastify.zitadel.status()` shows it. Nothing secret. */
export interface ZitadelTenantStatus {
  /** A token can be checked now without waiting on Zitadel. */
  readonly ready: boolean
  /** The signing keys; undefined with `introspection.tokens: 'all'` (no key is used). */
  readonly keys: KeySetStatus | undefined
  /** Introspection; undefined without the `introspection` option. */
  readonly introspection: IntrospectionStatus | undefined
}

/**
 * Everything that checks one issuer's tokens under one set of rules: its
 * discovery, key set, verifier, token cache and introspection. Tenants share
 * nothing of it, so a token checked by one never meets another's rules or cache.
 */
export function createTenant (opts: ResolvedOptions, context: TenantContext) {
  const { errors, clock, http } = context
  const log = opts.tenant === undefined ? context.log : context.log.child({ tenant: opts.tenant })
  const discovery = new Discovery(opts.issuer, opts.discoveryUrl, http)
  const jwks = new JwksCache(opts, log, errors, discovery, clock, http)
  const users = createUserFactory(opts, errors, log)
  const verifier = createTokenVerifier(opts, jwks, errors, log, clock, users)
  const clientCredentials = introspectionCredentials(opts)
  const introspector = opts.introspection === undefined || clientCredentials === undefined
    ? undefined
    : createIntrospector(opts, opts.introspection, clientCredentials, discovery, log, errors, http, clock, users, context.shared)
  const credentials: CredentialCheck = createCredentialCheck(verifier, introspector, errors)
  /** With tokens: 'all', no key is ever used. */
  const usesKeys = introspector?.all !== true

  function status (): ZitadelTenantStatus {
    const keys = usesKeys ? jwks.status() : undefined
    const introspection = introspector?.status()
    return { ready: (keys === undefined || keys.usable) && introspection?.coolingDown !== true, keys, introspection }
  }

  /** The first key load: undefined once it worked (or when no key is used), otherwise why it failed. */
  async function loadKeys (): Promise<string | undefined> {
    if (!usesKeys) return undefined
    await jwks.warm()
    const { usable, lastFailure } = jwks.status()
    // The fetch always fails with a reason here: only closing the app aborts one without, and close waits for ready.
    return usable ? undefined : `${opts.issuer} (${lastFailure})`
  }

  /** In the background: start-up never waits on, or fails because of, the IdP (the load never rejects). */
  function warm (): void {
    if (usesKeys) jwks.warm().catch(() => {})
  }

  return { options: opts, credentials, introspects: introspector !== undefined, status, loadKeys, warm }
}

export type Tenant = ReturnType<typeof createTenant>
