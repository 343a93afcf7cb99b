import { sign, verify, type KeyObject } from 'node:crypto'
import type { EmulatorAlgorithm } from './options.js'

/**
 * JWS compact serialization (RFC 7515 §7.1) on node:crypto, so the package
 * needs no JOSE library at run time. Deliberately not shared with lib/jws.ts:
 * the tests check the plugin against the emulator, and both against jose.
 */

interface AlgorithmParams {
  /** `crypto.sign`'s digest; null for Ed25519, which hashes internally. */
  readonly hash: string | null
  /** R || S (RFC 7518 §3.4), not DER. */
  readonly dsaEncoding?: 'ieee-p1363'
}

const PARAMS: Readonly<Record<EmulatorAlgorithm, AlgorithmParams>> = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  ES256: { hash: 'sha256', dsaEncoding: 'ieee-p1363' },
  ES384: { hash: 'sha384', dsaEncoding: 'ieee-p1363' },
  ES512: { hash: 'sha512', dsaEncoding: 'ieee-p1363' },
  EdDSA: { hash: null }
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/**
 * The callback form of `crypto.sign` runs on the thread pool, off the event
 * loop. A string payload is taken as the exact JSON to sign.
 */
export async function signJws (header: { alg: EmulatorAlgorithm } & Record<string, unknown>, payload: Record<string, unknown> | string, privateKey: KeyObject): Promise<string> {
  const input = `${encode(header)}.${typeof payload === 'string' ? Buffer.from(payload).toString('base64url') : encode(payload)}`
  const { hash, dsaEncoding } = PARAMS[header.alg]
  const key = dsaEncoding === undefined ? privateKey : { key: privateKey, dsaEncoding }
  const signature = await new Promise<Buffer>((resolve, reject) => {
    sign(hash, Buffer.from(input), key, (err, sig) => { if (err === null) resolve(sig); else reject(err) })
  })
  return `${input}.${signature.toString('base64url')}`
}

/** Signature not checked yet. */
interface DecodedJws {
  readonly header: Record<string, unknown>
  readonly payload: Record<string, unknown>
  /** The first two segments exactly as they came: what the signature covers. */
  readonly signingInput: string
  readonly signature: Buffer
}

/** Three base64url segments; the signature may be empty (an unsigned JWT), which no key verifies. */
const COMPACT = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)$/

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value)

export function decodeJws (token: string): DecodedJws | undefined {
  const parts = COMPACT.exec(token)
  if (parts === null) return undefined
  const [, header, payload, signature] = parts as unknown as [string, string, string, string]
  let decoded: [unknown, unknown]
  try {
    decoded = [JSON.parse(Buffer.from(header, 'base64url').toString()), JSON.parse(Buffer.from(payload, 'base64url').toString())]
  } catch {
    return undefined
  }
  if (!isObject(decoded[0]) || !isObject(decoded[1])) return undefined
  return { header: decoded[0], payload: decoded[1], signingInput: `${header}.${payload}`, signature: Buffer.from(signature, 'base64url') }
}

/**
 * The header must name the caller's `alg` and carry no `crit`, whose
 * extensions this code does not understand (RFC 7515 §4.1.11). Never rejects.
 */
export async function verifyJws (jws: DecodedJws, alg: EmulatorAlgorithm, publicKey: KeyObject): Promise<boolean> {
  if (jws.header.alg !== alg || jws.header.crit !== undefined) return false
  const { hash, dsaEncoding } = PARAMS[alg]
  const key = dsaEncoding === undefined ? publicKey : { key: publicKey, dsaEncoding }
  return new Promise((resolve) => {
    verify(hash, Buffer.from(jws.signingInput), key, jws.signature, (err, valid) => { resolve(err === null && valid) })
  })
}
