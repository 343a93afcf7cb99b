import { isUtf8 } from 'node:buffer'
import { constants, createPublicKey, verify, type KeyObject } from 'node:crypto'
import type { Algorithm } from './options.js'
import type { Claims } from './claims.js'
import { isPlainObject } from './values.js'

/**
 * JWS compact serialization (RFC 7515 §7.1) on node:crypto directly, not
 * jose, whose WebCrypto path is slower on a check that runs per request. Only
 * the subset Zitadel uses: asymmetric algorithms, a key chosen by `kid`, and
 * the algorithm bound to the key type.
 */

/** Three base64url segments (RFC 7515 §7.1); anything else is not a JWS. */
export const COMPACT_JWS = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/

/** Imported once, when the key set is fetched. */
export interface VerificationKey {
  readonly kid: string
  /** The JWK's own `alg`, when it names one: then only that algorithm may use the key (RFC 7517 §4.4). */
  readonly alg: string | undefined
  readonly key: KeyObject
}

interface AlgorithmRule {
  /** `crypto.verify`'s digest; null for EdDSA, which hashes internally. */
  readonly hash: string | null
  /** RFC 7518 §3, RFC 8037 §3.1 */
  readonly fits: (key: KeyObject) => boolean
  readonly options?: { padding?: number, saltLength?: number, dsaEncoding?: 'ieee-p1363' }
  /** Exact signature length in bytes, where the algorithm fixes it (ECDSA: RFC 7518 §3.4). */
  readonly signatureLength?: number
}

const isRsa = (key: KeyObject) => key.asymmetricKeyType === 'rsa'
const isCurve = (curve: string) => (key: KeyObject) => key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === curve
const rsaPss = (hash: string, saltLength: number): AlgorithmRule => ({
  hash,
  fits: isRsa,
  // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
  options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength }
})
const ecdsa = (hash: string, curve: string, signatureLength: number): AlgorithmRule => ({
  hash,
  fits: isCurve(curve),
  // JWS carries R || S (RFC 7518 §3.4), not DER.
  options: { dsaEncoding: 'ieee-p1363' },
  signatureLength
})

const RULES: Readonly<Record<Algorithm, AlgorithmRule>> = {
  RS256: { hash: 'sha256', fits: isRsa },
  RS384: { hash: 'sha384', fits: isRsa },
  RS512: { hash: 'sha512', fits: isRsa },
  PS256: rsaPss('sha256', 32),
  PS384: rsaPss('sha384', 48),
  PS512: rsaPss('sha512', 64),
  ES256: ecdsa('sha256', 'prime256v1', 64),
  ES384: ecdsa('sha384', 'secp384r1', 96),
  ES512: ecdsa('sha512', 'secp521r1', 132),
  EdDSA: { hash: null, fits: (key) => key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' }
}

/** RFC 7518 §3.3: RSA keys of 2048 bits or larger. */
const MIN_RSA_BITS = 2048

/** The key, or why it cannot be used: a JWKS only ever publishes public signing keys. */
export function importVerificationKey (jwk: unknown): VerificationKey | string {
  if (!isPlainObject(jwk)) return 'not an object'
  const k = jwk as Record<string, unknown>
  if (typeof k.kid !== 'string' || k.kid === '') return 'no kid'
  if (k.use !== undefined && k.use !== 'sig') return 'not a signing key'
  if (k.key_ops !== undefined && !(Array.isArray(k.key_ops) && k.key_ops.includes('verify'))) return 'key_ops without verify'
  if (k.kty !== 'RSA' && k.kty !== 'EC' && k.kty !== 'OKP') return 'unsupported kty'
  if (k.d !== undefined) return 'a private key'
  if (k.alg !== undefined && !(typeof k.alg === 'string' && Object.hasOwn(RULES, k.alg))) return 'unsupported alg'
  let key: KeyObject
  try {
    key = createPublicKey({ key: k as import('node:crypto').JsonWebKey, format: 'jwk' })
  } catch {
    return 'not a valid public key'
  }
  // Node reports modulusLength for every RSA key.
  if (isRsa(key) && (key.asymmetricKeyDetails as { modulusLength: number }).modulusLength < MIN_RSA_BITS) return 'RSA key shorter than 2048 bits'
  return Object.freeze({ kid: k.kid, alg: k.alg as string | undefined, key })
}

/**
 * Is this base64url text the one encoding of its bytes? RFC 4648 §3.5: the
 * bits past the last whole byte must be zero; a length of 4n + 1 encodes none.
 */
export function isCanonicalBase64url (segment: string): boolean {
  const rest = segment.length & 3
  if (rest === 0) return true
  if (rest === 1) return false
  const code = segment.charCodeAt(segment.length - 1)
  // The character's 6-bit value (A-Z, a-z, 0-9, '-', '_').
  const value = code === 95 ? 63 : code >= 97 ? code - 71 : code >= 65 ? code - 65 : code >= 48 ? code + 4 : 62
  // 2 chars: 12 bits for 8 (4 unused); 3 chars: 18 bits for 16 (2 unused).
  return (value & (rest === 2 ? 0x0f : 0x03)) === 0
}

/** Algorithm confusion is stopped here, before any signature math. */
export function keyFitsAlgorithm (key: VerificationKey, alg: Algorithm): boolean {
  if (key.alg !== undefined && key.alg !== alg) return false
  return RULES[alg].fits(key.key)
}

/**
 * Beyond this many checks waiting on libuv's thread pool, a check runs on the
 * event loop: forged tokens must not queue without bound in the pool that DNS
 * lookups and file reads share. Process-wide, like the pool.
 */
const MAX_OFFLOADED = 4 * (Number(process.env.UV_THREADPOOL_SIZE) || 4)
let offloaded = 0

/**
 * `signingInput` is the first two segments exactly as they came. Usually on
 * the thread pool (the callback form of `crypto.verify`), so a burst of new
 * tokens uses every core while other requests go on; past MAX_OFFLOADED, on
 * the spot. Never rejects: a signature that does not hold is false.
 */
export function verifySignature (alg: Algorithm, key: VerificationKey, signingInput: string, signature: Buffer): boolean | Promise<boolean> {
  const rule = RULES[alg]
  if (rule.signatureLength !== undefined && signature.length !== rule.signatureLength) return false
  const data = Buffer.from(signingInput, 'latin1')
  const publicKey = rule.options === undefined ? key.key : { key: key.key, ...rule.options }
  if (offloaded >= MAX_OFFLOADED) return verify(rule.hash, data, publicKey, signature)
  offloaded++
  return new Promise((resolve) => {
    // An error is a signature that cannot be parsed (a malformed ECDSA R || S).
    verify(rule.hash, data, publicKey, signature, (err, valid) => {
      offloaded--
      resolve(err === null && valid)
    })
  })
}

/** A base64url segment holding a JSON object in valid UTF-8 (RFC 7519 §7.2), or undefined. */
export function decodeJsonSegment (segment: string): Claims | undefined {
  const bytes = Buffer.from(segment, 'base64url')
  // toString would turn invalid bytes into U+FFFD, and two readers could then disagree on a claim.
  if (!isUtf8(bytes)) return undefined
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'))
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? value as Claims : undefined
  } catch {
    return undefined
  }
}
