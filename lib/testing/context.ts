import type { onRequestAsyncHookHandler } from 'fastify'
import type { Directory } from './directory.js'
import type { HooksFor } from './hooks.js'
import type { IdGenerator } from './ids.js'
import type { KeyRing } from './keys.js'
import type { LoginStore } from './login-store.js'
import type { TokenService } from './tokens.js'

/** What every route module gets: the emulator's state, no Fastify instance of its own. */
export interface EmulatorContext {
  /** The public issuer URL, no trailing slash. Known once the port is: read it when handling a request, never when registering a route. */
  readonly issuer: string
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
