import { createHash, createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose'
import { PROJECT_ROLES_CLAIM, projectRolesClaim, startZitadelEmulator, type ZitadelEmulator, type ZitadelEmulatorOptions } from '../../lib/testing/index.js'
import type { ApplicationKeyFile, ServiceUserKeyFile } from '../../lib/testing/emulator.js'
import { CLIENT_ASSERTION_TYPE } from '../../lib/client-assertion.js'

/**
 * Shared steps for the emulator tests: everything goes over real HTTP to a
 * started emulator, the login form is walked with fetch (redirect: 'manual'),
 * and keys are generated at run time by the emulator itself.
 */

export const API_ORIGIN = 'http://localhost:8001'
export const REDIRECT_URI = `${API_ORIGIN}/docs/static/oauth2-redirect.html`
export const REDIRECT_URI_IP = 'http://127.0.0.1:8001/docs/static/oauth2-redirect.html'
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
export { CLIENT_ASSERTION_TYPE }
export const ROLES_SCOPE = 'urn:zitadel:iam:org:projects:roles'
export const audScope = (projectId: string): string => `urn:zitadel:iam:org:project:id:${projectId}:aud`

export async function startIdp (options: ZitadelEmulatorOptions = {}): Promise<ZitadelEmulator> {
  return startZitadelEmulator({ quiet: true, ...options })
}

export interface Tenant {
  orgId: string
  orgDomain: string
  projectId: string
  clientId: string
  alice: { id: string, username: string }
  bob: { id: string, username: string }
}

let counter = 0

/**
 * One organisation, a project with roles `user` and `admin`, the Swagger UI
 * app (both redirect URI forms), alice (user, admin) and bob (user). Every
 * call makes fresh names, so tests sharing an emulator do not meet.
 */
export function addTenant (idp: ZitadelEmulator, opts: { assertRoles?: boolean, roleAssertion?: boolean, appName?: string, clientSecret?: string, accessTokenType?: 'jwt' | 'opaque' } = {}): Tenant {
  const n = ++counter
  const org = idp.addOrganization({ name: `Org${n}` })
  const project = idp.addProject({ name: `demo${n}`, roles: ['user', 'admin'], assertRoles: opts.assertRoles })
  const app = idp.addApp({
    projectId: project.id,
    name: opts.appName ?? 'Swagger UI',
    redirectUris: [REDIRECT_URI, REDIRECT_URI_IP],
    postLogoutRedirectUris: [`${API_ORIGIN}/docs`],
    roleAssertion: opts.roleAssertion,
    clientSecret: opts.clientSecret,
    accessTokenType: opts.accessTokenType
  })
  const alice = idp.addUser({ username: `alice${n}`, password: 'alice-pw', orgId: org.id, grants: [{ projectId: project.id, roles: ['user', 'admin'] }] })
  const bob = idp.addUser({ username: `bob${n}`, password: 'bob-pw', orgId: org.id, grants: [{ projectId: project.id, roles: ['user'] }] })
  return { orgId: org.id, orgDomain: org.domain, projectId: project.id, clientId: app.clientId, alice, bob }
}

export function pkcePair (): { verifier: string, challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

export function authorizeUrl (idp: ZitadelEmulator, params: Record<string, string | undefined>): string {
  const query = new URLSearchParams()
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, v)
  return `${idp.issuer}/oauth/v2/authorize?${query}`
}

/** The standard authorize parameters for `clientId`, with overrides (undefined removes one). */
export function authorizeParams (clientId: string, challenge: string, overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    response_type: 'code',
    scope: 'openid profile email',
    state: 'st-123',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...overrides
  }
}

export function post (fields: Record<string, string>, headers: Record<string, string> = {}): RequestInit {
  return { method: 'POST', redirect: 'manual', headers, body: new URLSearchParams(fields) }
}

export function basic (clientId: string, secret: string): string {
  return 'Basic ' + Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')
}

/** GET /oauth/v2/authorize, then the login page it redirects to: the authRequestID of the form. */
export async function openLogin (idp: ZitadelEmulator, params: Record<string, string | undefined>): Promise<{ authRequestId: string, html: string, loginUrl: string }> {
  const res = await fetch(authorizeUrl(idp, params), { redirect: 'manual' })
  if (res.status !== 302) throw new Error(`authorize answered ${res.status}: ${await res.text()}`)
  const loginUrl = res.headers.get('location') as string
  const page = await fetch(loginUrl, { redirect: 'manual' })
  const html = await page.text()
  const authRequestId = /name="authRequestID" value="([^"]+)"/.exec(html)?.[1]
  if (authRequestId === undefined) throw new Error(`no login form: ${html}`)
  return { authRequestId, html, loginUrl }
}

export async function submitLogin (idp: ZitadelEmulator, authRequestId: string, username: string, password: string): Promise<Response> {
  return fetch(`${idp.issuer}/ui/login/login`, post({ authRequestID: authRequestId, username, password }))
}

/** The whole browser part of the code flow: authorize, log in, read the code off the redirect. */
export async function login (idp: ZitadelEmulator, clientId: string, username: string, password: string, overrides: Record<string, string | undefined> = {}): Promise<{ code: string, verifier: string, location: URL }> {
  const { verifier, challenge } = pkcePair()
  const { authRequestId } = await openLogin(idp, authorizeParams(clientId, challenge, overrides))
  const res = await submitLogin(idp, authRequestId, username, password)
  if (res.status !== 302) throw new Error(`login answered ${res.status}`)
  const location = new URL(res.headers.get('location') as string)
  return { code: location.searchParams.get('code') as string, verifier, location }
}

export async function exchange (idp: ZitadelEmulator, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${idp.issuer}/oauth/v2/token`, post({ grant_type: 'authorization_code', redirect_uri: REDIRECT_URI, ...fields }, headers))
}

export interface TokenResponse {
  access_token: string
  token_type: string
  expires_in: number
  id_token?: string
  [k: string]: unknown
}

/** Code flow end to end: the token endpoint's JSON. */
export async function codeFlow (idp: ZitadelEmulator, clientId: string, username: string, password: string, overrides: Record<string, string | undefined> = {}): Promise<TokenResponse> {
  const { code, verifier } = await login(idp, clientId, username, password, overrides)
  const res = await exchange(idp, { code, code_verifier: verifier, client_id: clientId, redirect_uri: overrides.redirect_uri ?? REDIRECT_URI })
  if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}: ${await res.text()}`)
  return await res.json() as TokenResponse
}

/** A fresh tenant, and the access tokens of its alice (roles user and admin) and bob (role user), by the code flow with roles. */
export async function tenantWithLogins (idp: ZitadelEmulator): Promise<{ tenant: Tenant, alice: string, bob: string }> {
  const tenant = addTenant(idp)
  const scope = `openid profile email ${audScope(tenant.projectId)} ${ROLES_SCOPE}`
  const alice = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw', { scope })
  const bob = await codeFlow(idp, tenant.clientId, tenant.bob.username, 'bob-pw', { scope })
  return { tenant, alice: alice.access_token, bob: bob.access_token }
}

/**
 * A JWT assertion as Zitadel documents it, with overrides (undefined removes a
 * claim): for the JWT-profile grant with a service user's key file
 * (`iss` = `sub` = userId), or for `private_key_jwt` with an API app's
 * (`iss` = `sub` = clientId).
 */
export async function assertion (key: ServiceUserKeyFile | ApplicationKeyFile, issuer: string, opts: { claims?: Record<string, unknown>, header?: Record<string, unknown>, signWith?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const id = key.type === 'serviceaccount' ? key.userId : key.clientId
  const claims: Record<string, unknown> = { iss: id, sub: id, aud: issuer, iat: now, exp: now + 300, ...opts.claims }
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k]
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', kid: key.keyId, ...opts.header } as never)
    .sign(createPrivateKey(opts.signWith ?? key.key))
}

/** A signed assertion an endpoint must refuse: its name, the assertion, and what the refusal's description says. */
export type RefusedAssertion = [name: string, assertion: Promise<string>, description: RegExp]

/**
 * The assertions refused whoever signs them, since the JWT-profile grant
 * and private_key_jwt check them by the same rules
 * (lib/testing/jwt-assertion.ts): audience, times, a missing sub or kid,
 * another signature or algorithm, no JWT at all. `key` is the signer's key
 * file; each endpoint's test adds the cases that depend on who signs.
 */
export function refusedWhoeverSigns (idp: ZitadelEmulator, key: ServiceUserKeyFile | ApplicationKeyFile): RefusedAssertion[] {
  const now = Math.floor(Date.now() / 1000)
  const id = key.type === 'serviceaccount' ? key.userId : key.clientId
  const strangerKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }) as string
  return [
    ['aud is another URL', assertion(key, idp.issuer, { claims: { aud: 'https://elsewhere.example' } }), /aud/],
    ['aud missing', assertion(key, idp.issuer, { claims: { aud: undefined } }), /aud/],
    ['expired', assertion(key, idp.issuer, { claims: { iat: now - 600, exp: now - 1 } }), /expired/],
    ['exp missing', assertion(key, idp.issuer, { claims: { exp: undefined } }), /expired/],
    ['iat missing', assertion(key, idp.issuer, { claims: { iat: undefined } }), /iat/],
    ['iat in the future', assertion(key, idp.issuer, { claims: { iat: now + 120, exp: now + 600 } }), /future/],
    ['iat more than an hour old', assertion(key, idp.issuer, { claims: { iat: now - 3700, exp: now + 60 } }), /hour old/],
    ['sub missing', assertion(key, idp.issuer, { claims: { sub: undefined } }), /iss and sub/],
    ['kid missing', assertion(key, idp.issuer, { header: { kid: undefined } }), /no key/],
    ['signed with a stranger\'s key', assertion(key, idp.issuer, { signWith: strangerKey }), /signature/],
    ['RS384', assertion(key, idp.issuer, { header: { alg: 'RS384' } }), /signature/],
    ['HS256 with the key id as secret', new SignJWT({ iss: id, sub: id, aud: idp.issuer, iat: now, exp: now + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: key.keyId }).sign(new TextEncoder().encode(key.keyId)), /signature/],
    ['not a JWT', Promise.resolve('not-a-jwt'), /not a signed JWT/]
  ]
}

export async function jwtProfile (idp: ZitadelEmulator, assertionJwt: string, scope: string | undefined): Promise<Response> {
  const fields: Record<string, string> = { grant_type: JWT_BEARER, assertion: assertionJwt }
  if (scope !== undefined) fields.scope = scope
  return fetch(`${idp.issuer}/oauth/v2/token`, post(fields))
}

/** How an API app authenticates to introspect: HTTP Basic, or a client assertion (private_key_jwt). */
export type IntrospectAuth = { basic: [clientId: string, secret: string] } | { assertion: string }

/** POST /oauth/v2/introspect with `token` (when given), the client's credentials and extra form fields. */
export async function introspect (idp: ZitadelEmulator, token: string | undefined, auth: IntrospectAuth | undefined, extra: Record<string, string> = {}): Promise<Response> {
  const fields: Record<string, string> = { ...extra }
  const headers: Record<string, string> = {}
  if (token !== undefined) fields.token = token
  if (auth !== undefined && 'basic' in auth) headers.authorization = basic(...auth.basic)
  if (auth !== undefined && 'assertion' in auth) Object.assign(fields, { client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: auth.assertion })
  return fetch(`${idp.issuer}/oauth/v2/introspect`, post(fields, headers))
}

/** Is the token live for this client, by introspection? */
export async function isActive (idp: ZitadelEmulator, token: string, auth: IntrospectAuth): Promise<boolean> {
  const res = await introspect(idp, token, auth)
  if (res.status !== 200) throw new Error(`introspection answered ${res.status}: ${await res.text()}`)
  return (await res.json() as { active: boolean }).active
}

/** The fields of an introspection answer that come from the token itself: its id, times and audience. */
export interface IntrospectedToken { jti: unknown, iat: unknown, nbf: unknown, exp: unknown, aud: unknown }

/**
 * What introspection answers for alice's access token from the code flow
 * (scope openid profile email) of `tenant`: the user's claims and roles,
 * `token`'s own fields, and, from `body` (the answer itself), the fields the
 * emulator makes up per login (auth_time, name, given_name, updated_at).
 */
export function aliceIntrospection (idp: ZitadelEmulator, tenant: Tenant, body: Record<string, unknown>, token: IntrospectedToken): Record<string, unknown> {
  const roles = { user: { [tenant.orgId]: tenant.orgDomain }, admin: { [tenant.orgId]: tenant.orgDomain } }
  return {
    active: true,
    scope: 'openid profile email',
    client_id: tenant.clientId,
    token_type: 'Bearer',
    exp: token.exp,
    iat: token.iat,
    auth_time: body.auth_time,
    nbf: token.nbf,
    aud: token.aud,
    amr: ['pwd'],
    iss: idp.issuer,
    jti: token.jti,
    sub: tenant.alice.id,
    username: tenant.alice.username,
    preferred_username: tenant.alice.username,
    name: body.name,
    given_name: body.given_name,
    family_name: 'Emulated',
    updated_at: body.updated_at,
    email: `${tenant.alice.username}@${tenant.orgDomain}`,
    email_verified: true,
    [PROJECT_ROLES_CLAIM]: roles,
    [projectRolesClaim(tenant.projectId)]: roles
  }
}

export function claimsOf (token: string): Record<string, unknown> {
  return decodeJwt(token)
}

export function headerOf (token: string): Record<string, unknown> {
  return decodeProtectedHeader(token)
}
