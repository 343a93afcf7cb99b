import { randomToken } from './ids.js'

export interface AuthRequest {
  readonly id: string
  readonly clientId: string
  readonly redirectUri: string
  readonly state: string | undefined
  readonly nonce: string | undefined
  readonly scopes: string[]
  /** Undefined when a confidential app did without PKCE. */
  readonly codeChallenge: string | undefined
  readonly expiresAt: number
}

/** An authorization code: single use, bound to the client, the redirect URI and the PKCE challenge. */
interface AuthCode {
  readonly clientId: string
  readonly redirectUri: string
  readonly codeChallenge: string | undefined
  readonly userId: string
  readonly scopes: string[]
  readonly nonce: string | undefined
  readonly authTime: number
  readonly sid: string
  readonly expiresAt: number
}

const AUTH_REQUEST_TTL = 1800
/** Seconds a code is valid (RFC 6749 §4.1.2 recommends at most ten minutes; the emulator is stricter). */
const CODE_TTL = 60

/**
 * Pending logins and codes, and the sign-in sessions logins open: a
 * session is known by the `sid` of its ID tokens, and lives until
 * terminated.
 */
export class LoginStore {
  readonly #requests = new Map<string, AuthRequest>()
  readonly #codes = new Map<string, AuthCode>()
  /** sid → whether the session is still active */
  readonly #sessions = new Map<string, boolean>()

  createAuthRequest (fields: Omit<AuthRequest, 'id' | 'expiresAt'>): AuthRequest {
    this.#sweep()
    const request = { ...fields, id: `V2_${randomToken(16)}`, expiresAt: Date.now() + AUTH_REQUEST_TTL * 1000 }
    this.#requests.set(request.id, request)
    return request
  }

  authRequest (id: string | undefined): AuthRequest | undefined {
    const request = id === undefined ? undefined : this.#requests.get(id)
    return request !== undefined && request.expiresAt > Date.now() ? request : undefined
  }

  complete (request: AuthRequest, userId: string): string {
    this.#requests.delete(request.id)
    const code = randomToken()
    const sid = randomToken(12)
    this.#sessions.set(sid, true)
    this.#codes.set(code, {
      clientId: request.clientId,
      redirectUri: request.redirectUri,
      codeChallenge: request.codeChallenge,
      userId,
      scopes: request.scopes,
      nonce: request.nonce,
      authTime: Math.floor(Date.now() / 1000),
      sid,
      expiresAt: Date.now() + CODE_TTL * 1000
    })
    return code
  }

  /** Removed on first use, whatever happens next. */
  takeCode (code: string): AuthCode | undefined {
    const grant = this.#codes.get(code)
    this.#codes.delete(code)
    return grant !== undefined && grant.expiresAt > Date.now() ? grant : undefined
  }

  /**
   * Ends a session: `true`, or `false` for a session already ended and
   * `undefined` for one never opened. Its code is spent by then: the `sid`
   * is known from the ID token the code brought.
   */
  terminate (sid: string): boolean | undefined {
    const active = this.#sessions.get(sid)
    if (active === true) this.#sessions.set(sid, false)
    return active
  }

  #sweep (): void {
    const t = Date.now()
    for (const [id, r] of this.#requests) if (r.expiresAt <= t) this.#requests.delete(id)
    for (const [code, c] of this.#codes) if (c.expiresAt <= t) this.#codes.delete(code)
  }
}
