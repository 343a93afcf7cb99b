import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto'
import { isPlainObject } from './values.js'

/**
 * `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect Core
 * §9) with a Zitadel application key file, as Zitadel documents it for an
 * API application (docs: guides/integrate/token-introspection/private-key-jwt):
 * an RS256 JWT with header `kid` = keyId, claims `iss` = `sub` = clientId,
 * `aud` = the issuer, `iat`, `exp`. Zitadel accepts an assertion for at most an
 * hour and does not refuse a reused one, so one is signed and then reused until
 * shortly before it expires: one signature per few minutes, not per request
 * (an RSA signature costs about a millisecond of the event loop). OpenID
 * Connect Core §9 says a `jti` is to be used once; Zitadel does not enforce
 * that (zitadel/oidc VerifyJWTAssertion), and a new signature per call would
 * cost more than the call's own work.
 */

/** Zitadel's application key file: `{"type":"application","keyId","key","clientId","appId"}`. */
export interface ApplicationKeyFile {
  type: 'application'
  keyId: string
  /** The RSA private key, PEM (Zitadel writes PKCS#1; PKCS#8 works too). */
  key: string
  clientId: string
  appId?: string
}

/** RFC 7523 §2.2: the only client assertion type Zitadel accepts. */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** An assertion lives this long; Zitadel's limit is an hour. */
const LIFETIME_S = 300
/** A new one is signed when less than this is left, so none expires in flight. */
const RENEW_BEFORE_S = 60
/**
 * `iat` is set this far in the past: Zitadel refuses an `iat` more than a
 * second ahead of its own clock (zitadel/oidc CheckIssuedAt), and the API's
 * clock may run a little ahead of Zitadel's.
 */
const BACKDATE_S = 30

/** A key file read and checked: the key imported once. */
export interface ClientKey {
  readonly keyId: string
  readonly clientId: string
  readonly key: KeyObject
}

/**
 * Reads a key file given as an object or as its JSON text. Returns the key, or
 * a message saying what is wrong (never echoing the key).
 */
export function readKeyFile (value: unknown): ClientKey | string {
  let file: unknown = value
  if (typeof value === 'string') {
    try {
      file = JSON.parse(value)
    } catch {
      return 'JSON text that does not parse'
    }
  }
  if (!isPlainObject(file)) return 'not an object'
  const { type, keyId, key, clientId } = file as Record<string, unknown>
  if (type !== 'application') {
    const named = typeof type === 'string' && /^[a-z]{1,20}$/.test(type) ? `"${type}"` : 'another value'
    return `of type ${type === undefined ? 'undefined' : named}, not "application" (a service user's key file cannot introspect)`
  }
  if (typeof keyId !== 'string' || keyId === '') return 'without a "keyId"'
  if (typeof clientId !== 'string' || clientId === '') return 'without a "clientId"'
  if (typeof key !== 'string') return 'without a "key"'
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(key)
  } catch {
    return 'whose "key" is not a PEM private key'
  }
  if (privateKey.asymmetricKeyType !== 'rsa') return 'whose "key" is not an RSA key'
  return Object.freeze({ keyId, clientId, key: privateKey })
}

/** Signs assertions for one key and audience, reusing each until it is close to expiry. */
export class ClientAssertion {
  readonly #key: ClientKey
  readonly #audience: string
  #assertion = ''
  /** The `iat` of the current assertion; 0: none yet, or dropped. */
  #iat = 0

  constructor (key: ClientKey, audience: string) {
    this.#key = key
    this.#audience = audience
  }

  /** A valid assertion for the next request. */
  current (): string {
    const now = Math.floor(Date.now() / 1000)
    // `now < #iat` catches a wall clock set back (further than the backdating) since signing.
    if (now >= this.#iat + LIFETIME_S - RENEW_BEFORE_S || now < this.#iat) {
      this.#iat = now - BACKDATE_S
      this.#assertion = this.#sign(this.#iat)
    }
    return this.#assertion
  }

  /** Drops the current assertion (the IdP refused it): the next request gets a new one. */
  drop (): void {
    this.#iat = 0
  }

  #sign (iat: number): string {
    const { keyId, clientId, key } = this.#key
    const header = base64url({ alg: 'RS256', kid: keyId, typ: 'JWT' })
    const claims = base64url({ iss: clientId, sub: clientId, aud: this.#audience, iat, exp: iat + LIFETIME_S, jti: randomUUID() })
    const input = `${header}.${claims}`
    return `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`
  }
}

function base64url (value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}
