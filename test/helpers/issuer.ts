import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { CompactSign, SignJWT, exportJWK, type JWK } from 'jose'

/**
 * A real OpenID issuer on 127.0.0.1 for the tests: discovery, JWKS and a
 * token minter, with fault modes. Tokens are signed with jose, a separate
 * implementation from the plugin's verifier, so the two check each other.
 * Keys are generated at run time; nothing private is committed.
 */

export type Alg = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA'

export type Fault =
  | 'none'
  | 'down' // the connection is dropped without an answer
  | 'slow' // answers after `slowMs`
  | '500' // HTTP 500
  | 'garbage' // 200 with a body that is not JSON
  | 'empty' // JWKS {"keys": []}
  | 'redirect' // 302 to another URL
  | 'huge' // a JWKS body larger than any cap

export interface IssuerKey {
  kid: string
  alg: Alg
  privateKey: KeyObject
  publicJwk: JWK
  published: boolean
}

export const PROJECT_ID = '263783958406348951'
export const CLIENT_ID = '263784183128768663@demo'
export const ORG_ID = '263783958406283415'
export const ORG_DOMAIN = 'acme.localhost'
/** The subject of the tokens that `token()` mints. */
export const SUB = '263785111111111111'

/**
 * The claims every Zitadel access token carries (zitadel/oidc
 * NewAccessTokenClaims), issued by `iss` to SUB now, for an hour; then
 * `claims`, in their own key order, which override or, with undefined,
 * remove claims.
 */
export function zitadelClaims (iss: string, claims: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000)
  const payload: Record<string, unknown> = {
    iss,
    sub: SUB,
    aud: [CLIENT_ID, PROJECT_ID],
    exp: now + 3600,
    iat: now,
    nbf: now,
    jti: randomUUID(),
    client_id: CLIENT_ID,
    ...claims
  }
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k]
  return payload
}

export interface TestIssuer {
  /** The issuer URL, http://127.0.0.1:PORT */
  readonly url: string
  readonly projectId: string
  /** Requests seen per endpoint. */
  readonly requests: { discovery: number, jwks: number }
  /** Applies to discovery and JWKS unless `faultOn` narrows it. */
  fault: Fault
  faultOn: 'all' | 'discovery' | 'jwks'
  slowMs: number
  /** The JWKS response's Cache-Control header, if any. */
  cacheControl: string | undefined
  /** Merged into the discovery document (e.g. another issuer or jwks_uri). */
  discovery: Record<string, unknown>
  /** Extra JWKs served as they are, after the real keys. */
  extraJwks: unknown[]
  readonly keys: IssuerKey[]
  addKey (alg?: Alg, opts?: { publish?: boolean, jwk?: Partial<JWK> }): Promise<IssuerKey>
  /** Publishes a fresh key of the same algorithm and stops publishing the old ones. */
  rotate (alg?: Alg): Promise<IssuerKey>
  /** Signs exactly this header and payload with the given key (default: the first). */
  sign (payload: Record<string, unknown>, opts?: { key?: IssuerKey, header?: Record<string, unknown> }): Promise<string>
  /** Signs exactly these payload bytes (which need not be JSON or UTF-8). */
  signBytes (payload: Uint8Array, opts?: { key?: IssuerKey | undefined, header?: Record<string, unknown> }): Promise<string>
  /**
   * A Zitadel-shaped access token (zitadel/oidc NewAccessTokenClaims) for a
   * user with `roles` in ORG_ID. `claims` override or, with undefined, remove
   * claims.
   */
  token (opts?: { roles?: string[], claims?: Record<string, unknown>, key?: IssuerKey, header?: Record<string, unknown> }): Promise<string>
  resetCounts (): void
  close (): Promise<void>
}

export async function startIssuer (opts: { alg?: Alg } = {}): Promise<TestIssuer> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((req, res) => { handle(req, res) })
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const issuer: TestIssuer = {
    url,
    projectId: PROJECT_ID,
    requests: { discovery: 0, jwks: 0 },
    fault: 'none',
    faultOn: 'all',
    slowMs: 500,
    cacheControl: undefined,
    discovery: {},
    extraJwks: [],
    keys: [],
    async addKey (alg = opts.alg ?? 'RS256', { publish = true, jwk = {} } = {}) {
      const privateKey = generatePrivateKey(alg)
      const kid = randomUUID()
      const publicJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig', ...jwk } as JWK
      for (const p of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) delete publicJwk[p]
      const key = { kid, alg, privateKey, publicJwk, published: publish }
      issuer.keys.push(key)
      return key
    },
    async rotate (alg = opts.alg ?? 'RS256') {
      for (const k of issuer.keys) k.published = false
      return issuer.addKey(alg)
    },
    async sign (payload, { key = issuer.keys[0], header = {} } = {}) {
      if (key === undefined) throw new Error('the test issuer has no key')
      return new SignJWT(payload)
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header } as never)
        .sign(key.privateKey)
    },
    async signBytes (payload, { key = issuer.keys[0], header = {} } = {}) {
      if (key === undefined) throw new Error('the test issuer has no key')
      return new CompactSign(payload)
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header } as never)
        .sign(key.privateKey)
    },
    async token ({ roles = [], claims = {}, key, header } = {}) {
      const roleClaim = Object.fromEntries(roles.map((r) => [r, { [ORG_ID]: ORG_DOMAIN }]))
      return issuer.sign(zitadelClaims(url, {
        [`urn:zitadel:iam:org:project:${PROJECT_ID}:roles`]: roleClaim,
        'urn:zitadel:iam:org:project:roles': roleClaim,
        'urn:zitadel:iam:user:resourceowner:id': ORG_ID,
        ...claims
      }), { key, header })
    },
    resetCounts () {
      issuer.requests.discovery = 0
      issuer.requests.jwks = 0
    },
    async close () {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
  await issuer.addKey()
  return issuer

  function handle (req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', url).pathname
    let endpoint: 'discovery' | 'jwks'
    if (path === '/.well-known/openid-configuration') endpoint = 'discovery'
    else if (path === '/oauth/v2/keys') endpoint = 'jwks'
    else return send(res, 404, { error: 'not found' })
    issuer.requests[endpoint]++

    const fault = issuer.faultOn === 'all' || issuer.faultOn === endpoint ? issuer.fault : 'none'
    const answer = () => respond(endpoint, fault, res)
    if (fault === 'slow') setTimeout(answer, issuer.slowMs)
    else answer()
  }

  function respond (endpoint: 'discovery' | 'jwks', fault: Fault, res: ServerResponse): void {
    switch (fault) {
      case 'down': res.socket?.destroy(); return
      case '500': return send(res, 500, { error: 'internal' })
      case 'garbage': res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"keys": [ oops'); return
      case 'redirect': res.writeHead(302, { location: `${url}/elsewhere` }); res.end(); return
      case 'huge': res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ keys: [], pad: 'x'.repeat(2 * 1024 * 1024) })); return
      case 'empty': if (endpoint === 'jwks') return send(res, 200, { keys: [] })
    }
    if (endpoint === 'discovery') {
      return send(res, 200, {
        issuer: url,
        authorization_endpoint: `${url}/oauth/v2/authorize`,
        token_endpoint: `${url}/oauth/v2/token`,
        jwks_uri: `${url}/oauth/v2/keys`,
        ...issuer.discovery
      })
    }
    const headers: Record<string, string> = issuer.cacheControl === undefined ? {} : { 'cache-control': issuer.cacheControl }
    send(res, 200, { keys: [...issuer.keys.filter((k) => k.published).map((k) => k.publicJwk), ...issuer.extraJwks] }, headers)
  }
}

function send (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

function generatePrivateKey (alg: Alg): KeyObject {
  if (alg.startsWith('RS') || alg.startsWith('PS')) return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  if (alg === 'EdDSA') return generateKeyPairSync('ed25519').privateKey
  const namedCurve = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg as 'ES256' | 'ES384' | 'ES512']
  return generateKeyPairSync('ec', { namedCurve }).privateKey
}
