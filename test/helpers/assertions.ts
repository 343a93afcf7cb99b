import type { LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import { SUB } from '../../fixtures/issuer.js'

/** A 401 with the code ZITADEL_AUTH_`code` and its RFC 6750 challenge; `what` prefixes the assertion messages. */
export function refused (t: Test, res: LightMyRequestResponse, code: string, what: string): void {
  t.equal(res.statusCode, 401, `${what}: status 401`)
  t.equal(res.json().code, `ZITADEL_AUTH_${code}`, `${what}: code ${code}`)
  t.match(res.headers['www-authenticate'], /^Bearer realm="api", error="invalid_token", error_description="[^"]+"$/, `${what}: challenge`)
}

/** A 200 whose request.user is the subject of the test issuer's tokens (SUB); `what` prefixes the assertion messages. */
export function accepted (t: Test, res: LightMyRequestResponse, what: string): void {
  t.equal(res.statusCode, 200, `${what}: status 200 (${res.body})`)
  t.equal(res.json().sub, SUB, `${what}: request.user is the token's subject`)
}

/** The error `fn` throws; fails the test when it throws none. */
export function thrown (fn: () => unknown): Error & { code?: string } {
  try {
    fn()
  } catch (err) {
    return err as Error & { code?: string }
  }
  throw new Error('expected an error, none was thrown')
}
