import { readKeyFile, type ApplicationKeyFile, type ClientKey } from './client-assertion.js'
import { invalidOption } from './errors.js'

/** The `introspection` option: how the API asks Zitadel about tokens it cannot verify itself. */
export interface IntrospectionOptions {
  /** `private_key_jwt`: the API application's key file, as an object or its JSON text. Or give `clientId` and `clientSecret`. */
  keyFile?: ApplicationKeyFile | string | undefined
  /** Basic authentication: the API application's client id… */
  clientId?: string | undefined
  /** …and its client secret. */
  clientSecret?: string | undefined
  /**
   * `'opaque'` (default: JWTs are still checked locally) or `'all'` (every
   * token, so that revocation shows within `cacheMaxAge`).
   */
  tokens?: 'opaque' | 'all' | undefined
  /** Seconds an `active` answer is reused, never past the token's `exp`; 0 to 3600, 0 asks every time. Default: 60. */
  cacheMaxAge?: number | undefined
  /** How many answers are kept, by a SHA-256 of the token; integer 0 to 1000000. Default: 10000. */
  cacheSize?: number | undefined
}

/** What `fastify.zitadel.options.introspection` shows: no secret, no key. */
export interface ResolvedIntrospection {
  readonly clientId: string
  readonly authMethod: 'private_key_jwt' | 'client_secret_basic'
  /** The key file's `keyId`, with `private_key_jwt`. */
  readonly keyId: string | undefined
  readonly tokens: 'opaque' | 'all'
  readonly cacheMaxAge: number
  readonly cacheSize: number
}

/** Kept out of the options object, which anyone may log. */
export type IntrospectionCredentials =
  | { readonly method: 'private_key_jwt', readonly key: ClientKey }
  | { readonly method: 'client_secret_basic', readonly clientId: string, readonly clientSecret: string }

const FIELDS = ['keyFile', 'clientId', 'clientSecret', 'tokens', 'cacheMaxAge', 'cacheSize']

/** Messages name the field and never repeat a secret or a key. */
export function resolveIntrospection (input: unknown): { options: ResolvedIntrospection, credentials: IntrospectionCredentials } | undefined {
  if (input === undefined) return undefined
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    invalidOption('option "introspection" must be an object with "keyFile", or "clientId" and "clientSecret"')
  }
  const o = input as Record<string, unknown>
  for (const name of Object.keys(o)) {
    if (!FIELDS.includes(name)) invalidOption(`unknown option "introspection.${name}"; known fields are ${FIELDS.join(', ')}`)
  }
  const { keyFile, clientId, clientSecret, tokens = 'opaque', cacheMaxAge = 60, cacheSize = 10_000 } = o

  let credentials: IntrospectionCredentials
  if (keyFile !== undefined) {
    if (clientId !== undefined || clientSecret !== undefined) {
      invalidOption('option "introspection" takes "keyFile" (private_key_jwt) or "clientId" and "clientSecret" (Basic), not both')
    }
    const key = readKeyFile(keyFile)
    if (typeof key === 'string') invalidOption(`option "introspection.keyFile" must be Zitadel's application key file (an object or its JSON text with type "application", keyId, key, clientId); got one ${key}`)
    credentials = { method: 'private_key_jwt', key }
  } else {
    if (!isNonEmpty(clientId)) invalidOption('option "introspection.clientId" must be a non-empty string (the API application\'s client id), or give "keyFile" instead')
    if (!isNonEmpty(clientSecret)) invalidOption('option "introspection.clientSecret" must be a non-empty string (the API application\'s client secret), or give "keyFile" instead')
    credentials = { method: 'client_secret_basic', clientId, clientSecret }
  }
  if (tokens !== 'opaque' && tokens !== 'all') invalidOption('option "introspection.tokens" must be "opaque" or "all"')
  if (typeof cacheMaxAge !== 'number' || !(cacheMaxAge >= 0 && cacheMaxAge <= 3600)) invalidOption('option "introspection.cacheMaxAge" must be a number of seconds from 0 to 3600')
  if (!Number.isInteger(cacheSize) || !((cacheSize as number) >= 0 && (cacheSize as number) <= 1_000_000)) invalidOption('option "introspection.cacheSize" must be an integer from 0 (no cache) to 1000000')

  const options: ResolvedIntrospection = Object.freeze({
    clientId: credentials.method === 'private_key_jwt' ? credentials.key.clientId : credentials.clientId,
    authMethod: credentials.method,
    keyId: credentials.method === 'private_key_jwt' ? credentials.key.keyId : undefined,
    tokens,
    cacheMaxAge,
    cacheSize: cacheSize as number
  })
  return { options, credentials: Object.freeze(credentials) }
}

function isNonEmpty (value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}

const credentials = new WeakMap<object, IntrospectionCredentials>()

export function keepCredentials (resolved: object, kept: IntrospectionCredentials): void {
  credentials.set(resolved, kept)
}

export function introspectionCredentials (opts: object): IntrospectionCredentials | undefined {
  return credentials.get(opts)
}
