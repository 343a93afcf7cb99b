import { generateKeyPair, type JsonWebKey, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import type { IdGenerator } from './ids.js'
import { decodeJws, signJws, verifyJws } from './jws.js'
import type { EmulatorAlgorithm } from './options.js'

const generate = promisify(generateKeyPair)

interface SigningKey {
  readonly kid: string
  readonly alg: EmulatorAlgorithm
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** The public JWK as the JWKS endpoint serves it: `kid`, `alg`, `use: "sig"`. */
  readonly jwk: JsonWebKey
  published: boolean
}

const CURVES = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' } as const

/** A fresh key pair for `alg`: RSA 2048 (Zitadel's default size), the matching EC curve, or Ed25519. */
async function generateKeys (alg: EmulatorAlgorithm): Promise<{ privateKey: KeyObject, publicKey: KeyObject }> {
  if (alg.startsWith('RS')) return generate('rsa', { modulusLength: 2048 })
  if (alg === 'EdDSA') return generate('ed25519')
  return generate('ec', { namedCurve: CURVES[alg as keyof typeof CURVES] })
}

/**
 * A key pair as Zitadel hands one out for a service user or an API app:
 * RSA 2048, the private key as PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`),
 * which the key file carries; Zitadel keeps only the public key.
 */
export async function generateKeyFileKey (): Promise<{ publicKey: KeyObject, pem: string }> {
  const { privateKey, publicKey } = await generateKeys('RS256')
  return { publicKey, pem: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string }
}

/**
 * The emulator's signing keys (Zitadel's web keys): one active key signs;
 * published keys are served at /oauth/v2/keys and are the only ones tokens
 * verify against. A key that is no longer published invalidates its tokens,
 * as deleting a web key does in Zitadel.
 */
export class KeyRing {
  readonly #keys: SigningKey[] = []
  readonly #ids: IdGenerator
  readonly #typ: boolean

  /** `typ`: whether tokens carry `typ: "JWT"` (zitadel/oidc v2.9.0 and later) or no `typ` (earlier). */
  constructor (ids: IdGenerator, { typ = true }: { typ?: boolean } = {}) {
    this.#ids = ids
    this.#typ = typ
  }

  /** Makes a new key the signing key; the others stay published only with `keepOld`. */
  async rotate (alg: EmulatorAlgorithm, keepOld: boolean): Promise<SigningKey> {
    const { privateKey, publicKey } = await generateKeys(alg)
    const kid = this.#ids.next()
    const jwk: JsonWebKey = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' }
    const key: SigningKey = { kid, alg, privateKey, publicKey, jwk, published: true }
    if (!keepOld) for (const k of this.#keys) k.published = false
    this.#keys.unshift(key)
    return key
  }

  /** The newest key signs; the emulator makes one before it listens. */
  get active (): SigningKey {
    return this.#keys[0] as SigningKey
  }

  /** The JWKS document: published keys, the active one first. */
  jwks (): { keys: JsonWebKey[] } {
    return { keys: this.#keys.filter((k) => k.published).map((k) => ({ ...k.jwk })) }
  }

  /**
   * Signs a JWT with the active key; header `{ alg, kid, typ: "JWT" }` as
   * Zitadel's signer writes it (zitadel/oidc pkg/op/signer.go, zitadel
   * internal/api/oidc/token.go signerFromWebKey), or without `typ` as before
   * zitadel/oidc v2.9.0.
   */
  async sign (claims: Record<string, unknown>): Promise<string> {
    const key = this.active
    const header = this.#typ ? { alg: key.alg, kid: key.kid, typ: 'JWT' } : { alg: key.alg, kid: key.kid }
    return signJws(header, claims, key.privateKey)
  }

  /**
   * Verifies a JWT the emulator signed with a key it still publishes and
   * returns its claims; no claim is checked. Undefined for anything else.
   */
  async verify (token: string): Promise<Record<string, unknown> | undefined> {
    const jws = decodeJws(token)
    if (jws === undefined) return undefined
    const key = this.#keys.find((k) => k.published && k.kid === jws.header.kid && k.alg === jws.header.alg)
    if (key === undefined) return undefined
    return await verifyJws(jws, key.alg, key.publicKey) ? jws.payload : undefined
  }
}
