import type { onRequestAsyncHookHandler } from 'fastify'
import type { Directory } from './directory.js'
import type { HooksFor } from './hooks.js'
import type { IdGenerator } from './ids.js'
import type { Issuers } from './issuers.js'
import type { KeyRing } from './keys.js'
import type { LoginStore } from './login-store.js'
import type { TokenService } from './tokens.js'

/** What every route module gets: the emulator's state, no Fastify instance of its own. */
export interface EmulatorContext {
  /** The instance's issuers, one per public domain: `issuers.of(request)` when handling a request. */
  readonly issuers: Issuers
  readonly jwksCacheControl: string
  readonly idTokenLifetime: number
  readonly directory: Directory
  readonly keys: KeyRing
  readonly tokens: TokenService
  readonly logins: LoginStore
  readonly ids: IdGenerator
  /** onRequest hooks per endpoint: count, CORS, fault mode. */
  readonly hooksFor: HooksFor
  /** The CORS hook alone, for preflight routes (not counted, never faulty). */
  readonly cors: onRequestAsyncHookHandler
}
