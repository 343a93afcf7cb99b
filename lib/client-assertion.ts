import { createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto'
import { isPlainObject } from './values.js'

/**
 * `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID Connect Core
 * §9) as Zitadel documents it for an API application (docs:
 * guides/integrate/token-introspection/private-key-jwt). OpenID Connect Core
 * §9 says a `jti` is used once, but Zitadel does not enforce that (zitadel/oidc
 * VerifyJWTAssertion), so an assertion is reused until shortly before it
 * expires rather than paying an RSA signature on the event loop per call.
 */

/** Zitadel's application key file. */
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

/** Zitadel's limit is an hour. */
const LIFETIME_S = 300
/** Renewed with this much left, so none expires in flight. */
const RENEW_BEFORE_S = 60
/**
 * Zitadel refuses an `iat` more than a second ahead of its own clock
 * (zitadel/oidc CheckIssuedAt), and the API's clock may run a little ahead.
 */
const BACKDATE_S = 30

export interface ClientKey {
  readonly keyId: string
  readonly clientId: string
  readonly key: KeyObject
}

/** The key, or what is wrong with the file (never echoing the key). */
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

export class ClientAssertion {
  readonly #key: ClientKey
  readonly #audience: string
  #assertion = ''
  /** 0: none yet, or dropped. */
  #iat = 0

  constructor (key: ClientKey, audience: string) {
    this.#key = key
    this.#audience = audience
  }

  current (): string {
    const now = Math.floor(Date.now() / 1000)
    // `now < #iat` catches a wall clock set back (further than the backdating) since signing.
    if (now >= this.#iat + LIFETIME_S - RENEW_BEFORE_S || now < this.#iat) {
      this.#iat = now - BACKDATE_S
      this.#assertion = this.#sign(this.#iat)
    }
    return this.#assertion
  }

  /** After the IdP refused it. */
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
