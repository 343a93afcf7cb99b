import { isLoopbackHost, normaliseIssuer } from '../issuer-url.js'
import { fail } from './setup-error.js'

/** Signing algorithms of Zitadel's web keys (RSA with three hashes, ECDSA on three curves, Ed25519). */
export const EMULATOR_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const

export type EmulatorAlgorithm = typeof EMULATOR_ALGORITHMS[number]

/** What `startZitadelEmulator(options)` takes. Durations are in whole seconds. */
export interface ZitadelEmulatorOptions {
  /** The port to listen on. Default: 0, an ephemeral port. */
  port?: number
  /** The address to listen on. Default: `'127.0.0.1'`. Anything but loopback needs `allowNonLoopback`. */
  host?: string
  /** Listen on a non-loopback address. Default: false. The emulator is for development and tests only. */
  allowNonLoopback?: boolean
  /** The public issuer URL written in tokens and discovery. Default: `http://{host}:{port}`. A trailing slash is dropped; a path becomes the prefix of every endpoint. */
  issuer?: string
  /** The signing algorithm of the emulator's keys. Default: `'RS256'`, as Zitadel's default web key. */
  algorithm?: EmulatorAlgorithm
  /** Seconds an access token is valid. Default: 43200 (12 h, Zitadel's default). */
  accessTokenLifetime?: number
  /** Seconds an ID token is valid. Default: 43200 (12 h, Zitadel's default). */
  idTokenLifetime?: number
  /** Fastify's logger for the emulator. Default: false. */
  logger?: boolean
  /** Do not print the one-line start-up warning to stderr. Default: false. */
  quiet?: boolean
  /**
   * Write `typ: "JWT"` in the header of every token. Default: true. false
   * signs as servers built on zitadel/oidc before v2.9.0 did: no `typ`.
   */
  typHeader?: boolean
  /**
   * The JWKS endpoint's Cache-Control. Default: `'max-age=300, must-revalidate'`,
   * as Zitadel serves web keys; `'no-store'` is what legacy keys get.
   */
  jwksCacheControl?: string
  /**
   * More public domains of the instance (Zitadel's custom domains): origins
   * (`'https://id.example.com'`) or host names (`'localhost'`: then
   * `http://{name}:{port}`). A request to one of them, by its Host,
   * `X-Forwarded-Host`, `Forwarded` or `x-zitadel-public-host` header, gets
   * that origin as its issuer. Same keys for all.
   */
  domains?: string[]
}

export interface ResolvedEmulatorOptions {
  readonly port: number
  readonly host: string
  readonly issuer: string | undefined
  readonly algorithm: EmulatorAlgorithm
  readonly accessTokenLifetime: number
  readonly idTokenLifetime: number
  readonly logger: boolean
  readonly quiet: boolean
  readonly typHeader: boolean
  readonly jwksCacheControl: string
  readonly domains: readonly string[]
}

const KNOWN = new Set(['port', 'host', 'allowNonLoopback', 'issuer', 'algorithm', 'accessTokenLifetime', 'idTokenLifetime', 'logger', 'quiet', 'typHeader', 'jwksCacheControl', 'domains'])

export function resolveEmulatorOptions (input: ZitadelEmulatorOptions = {}): ResolvedEmulatorOptions {
  if (input === null || typeof input !== 'object') fail('options must be an object')
  for (const name of Object.keys(input)) {
    if (!KNOWN.has(name)) fail(`unknown option "${name}"; known options are ${[...KNOWN].join(', ')}`)
  }
  const { port = 0, host = '127.0.0.1', allowNonLoopback = false, issuer, algorithm = 'RS256', accessTokenLifetime = 43200, idTokenLifetime = 43200, logger = false, quiet = false } = input
  const { typHeader = true, jwksCacheControl = 'max-age=300, must-revalidate', domains = [] } = input

  if (!Number.isInteger(port) || port < 0 || port > 65535) fail('option "port" must be an integer from 0 to 65535')
  if (typeof host !== 'string' || host === '') fail('option "host" must be a non-empty string')
  for (const [name, value] of Object.entries({ allowNonLoopback, logger, quiet, typHeader })) {
    if (typeof value !== 'boolean') fail(`option "${name}" must be a boolean`)
  }
  if (!allowNonLoopback && !isLoopbackHost(host)) {
    fail(`option "host" is "${host}", which is not a loopback address; the emulator is for development and tests only. Set allowNonLoopback: true to listen there anyway`)
  }
  if (!(EMULATOR_ALGORITHMS as readonly unknown[]).includes(algorithm)) fail(`option "algorithm" must be one of ${EMULATOR_ALGORITHMS.join(', ')}`)
  for (const [name, value] of Object.entries({ accessTokenLifetime, idTokenLifetime })) {
    if (!Number.isInteger(value) || value < 1 || value > 31_536_000) fail(`option "${name}" must be a whole number of seconds from 1 to 31536000`)
  }
  if (typeof jwksCacheControl !== 'string' || jwksCacheControl === '' || /[\r\n]/.test(jwksCacheControl)) fail('option "jwksCacheControl" must be a non-empty header value, such as "no-store"')
  if (!Array.isArray(domains)) fail('option "domains" must be an array of origins or host names')
  return Object.freeze({
    port,
    host,
    issuer: issuer === undefined ? undefined : issuerOption(issuer),
    algorithm,
    accessTokenLifetime,
    idTokenLifetime,
    logger,
    quiet,
    typHeader,
    jwksCacheControl,
    domains: Object.freeze(domains.map(normaliseDomain))
  })
}

/** `https://id.example.com` stays an origin; `localhost` or `id.localhost` is a host name that takes the port later. */
function normaliseDomain (value: unknown): string {
  const message = 'option "domains" must list origins such as "https://id.example.com" or host names such as "localhost"'
  if (typeof value !== 'string') fail(message)
  if (/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i.test(value)) return value.toLowerCase()
  let url: URL
  try {
    url = new URL(value)
  } catch {
    fail(message)
  }
  // Scheme, host and port only.
  if (!url.protocol.startsWith('http') || value.replace(/\/$/, '') !== url.origin) fail(message)
  return url.origin
}

function issuerOption (value: unknown): string {
  const result = normaliseIssuer(value)
  if ('issuer' in result) return result.issuer
  fail(result.problem === 'not an http(s) URL'
    ? 'option "issuer" must be an absolute http(s) URL, such as "http://localhost:8002"'
    : 'option "issuer" must be a URL without credentials, query or fragment')
}

/** `http://host:port`, with brackets around an IPv6 address. */
export function originOf (host: string, port: number): string {
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`
}
