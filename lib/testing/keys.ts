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
  readonly jwk: JsonWebKey
  published: boolean
}

const CURVES = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' } as const

/** RSA 2048: Zitadel's default size. */
async function generateKeys (alg: EmulatorAlgorithm): Promise<{ privateKey: KeyObject, publicKey: KeyObject }> {
  if (alg.startsWith('RS')) return generate('rsa', { modulusLength: 2048 })
  if (alg === 'EdDSA') return generate('ed25519')
  return generate('ec', { namedCurve: CURVES[alg as keyof typeof CURVES] })
}

/** As Zitadel hands one out in a key file: RSA 2048, PKCS#1 PEM; Zitadel keeps only the public key. */
export async function generateKeyFileKey (): Promise<{ publicKey: KeyObject, pem: string }> {
  const { privateKey, publicKey } = await generateKeys('RS256')
  return { publicKey, pem: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string }
}

/** An unpublished key invalidates its tokens, as deleting a web key does in Zitadel. */
export class KeyRing {
  readonly #keys: SigningKey[] = []
  readonly #ids: IdGenerator
  readonly #typ: boolean

  /** `typ`: whether tokens carry `typ: "JWT"` (zitadel/oidc v2.9.0 and later) or no `typ` (earlier). */
  constructor (ids: IdGenerator, { typ = true }: { typ?: boolean } = {}) {
    this.#ids = ids
    this.#typ = typ
  }

  async rotate (alg: EmulatorAlgorithm, keepOld: boolean): Promise<SigningKey> {
    const { privateKey, publicKey } = await generateKeys(alg)
    const kid = this.#ids.next()
    const jwk: JsonWebKey = { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' }
    const key: SigningKey = { kid, alg, privateKey, publicKey, jwk, published: true }
    if (!keepOld) for (const k of this.#keys) k.published = false
    this.#keys.unshift(key)
    return key
  }

  /** The newest key; the emulator makes one before it listens. */
  get active (): SigningKey {
    return this.#keys[0] as SigningKey
  }

  jwks (): { keys: JsonWebKey[] } {
    return { keys: this.#keys.filter((k) => k.published).map((k) => ({ ...k.jwk })) }
  }

  /**
   * Header as Zitadel's signer writes it (zitadel/oidc pkg/op/signer.go,
   * zitadel internal/api/oidc/token.go signerFromWebKey).
   */
  async sign (claims: Record<string, unknown>): Promise<string> {
    const key = this.active
    const header = this.#typ ? { alg: key.alg, kid: key.kid, typ: 'JWT' } : { alg: key.alg, kid: key.kid }
    return signJws(header, claims, key.privateKey)
  }

  /**
   * A JWS whose payload is exactly these JSON bytes, with the active key and
   * `typ: JWT` (zitadel internal/execution/execution.go payloadJWT, for
   * targets with the JWT payload type, which only Zitadel v4 has).
   */
  async signPayload (payload: string): Promise<string> {
    const key = this.active
    return signJws({ alg: key.alg, kid: key.kid, typ: 'JWT' }, payload, key.privateKey)
  }

  /** No claim is checked. */
  async verify (token: string): Promise<Record<string, unknown> | undefined> {
    const jws = decodeJws(token)
    if (jws === undefined) return undefined
    const key = this.#keys.find((k) => k.published && k.kid === jws.header.kid && k.alg === jws.header.alg)
    if (key === undefined) return undefined
    return await verifyJws(jws, key.alg, key.publicKey) ? jws.payload : undefined
  }
}
