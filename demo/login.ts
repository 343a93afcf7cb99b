import { createHash, randomBytes } from 'node:crypto'

export interface PkceLogin {
  /** The IdP, e.g. http://localhost:8002 */
  issuer: string
  /** A public User Agent app that may sign users in. */
  clientId: string
  /** One of the app's registered redirect URIs, character for character. */
  redirectUri: string
  scope: string
  username: string
  password: string
}

/**
 * A person's access token through the authorization-code flow with PKCE
 * (RFC 7636, S256), walked over HTTP as a browser and a public client would:
 * the authorization endpoint redirects to the login form, the form (fields
 * `username`, `password`) redirects to the redirect URI with a code, and the
 * code is exchanged with its verifier at the token endpoint. The form is the
 * emulator's; a real Zitadel's login UI asks for more than one POST.
 */
export async function loginWithPkce ({ issuer, clientId, redirectUri, scope, username, password }: PkceLogin): Promise<string> {
  const verifier = randomBytes(32).toString('base64url')
  const state = randomBytes(16).toString('base64url')
  const authorize = await fetch(`${issuer}/oauth/v2/authorize?${new URLSearchParams({
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope,
    state,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256'
  })}`, { redirect: 'manual' })
  const loginForm = await redirectOf(authorize, `the authorization endpoint (redirect_uri ${redirectUri})`)

  const submitted = await fetch(loginForm.origin + loginForm.pathname, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ authRequestID: loginForm.searchParams.get('authRequestID') ?? '', username, password })
  })
  if (submitted.status === 401) throw new Error(`the login of ${username} was refused: wrong username or password`)
  const back = await redirectOf(submitted, 'the login form')
  // Errors after the client checks come back on the redirect URI (RFC 6749 §4.1.2.1).
  const error = back.searchParams.get('error')
  if (error !== null) throw new Error(`the authorization endpoint refused the request: ${error} ${back.searchParams.get('error_description') ?? ''}`.trim())
  if (back.searchParams.get('state') !== state) throw new Error('the login form answered with another state')

  const res = await fetch(`${issuer}/oauth/v2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: back.searchParams.get('code') ?? '',
      redirect_uri: redirectUri,
      client_id: clientId,
      code_verifier: verifier
    })
  })
  const body = await res.json() as { access_token?: string, error?: string, error_description?: string }
  if (!res.ok || typeof body.access_token !== 'string') {
    throw new Error(`the token endpoint answered ${res.status}: ${body.error ?? 'no access_token'} ${body.error_description ?? ''}`.trim())
  }
  return body.access_token
}

/** Where a 302 points; anything else is an error naming the step and, for an error page, its title. */
async function redirectOf (res: Response, step: string): Promise<URL> {
  const location = res.headers.get('location')
  if (res.status === 302 && location !== null) return new URL(location, res.url)
  const title = /<h1>([^<]*)<\/h1>/.exec(await res.text())?.[1]
  throw new Error(`${step} answered ${res.status}${title === undefined ? '' : ` (${title})`} instead of a redirect`)
}
