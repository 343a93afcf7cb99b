import t from 'tap'
import { addTenant, basic, claimsOf, codeFlow, post, startIdp } from './emulator/helpers.js'

// The emulator listens on 127.0.0.1; "localhost" is a second public domain of the same instance.
const idp = await startIdp({ domains: ['localhost', 'https://id.example.test'] })
t.teardown(() => idp.close())
const port = new URL(idp.url).port
const second = `http://localhost:${port}`
const tenant = addTenant(idp)
const api = idp.addApiApp({ projectId: tenant.projectId, name: 'api' })

async function discovery (headers: Record<string, string>): Promise<Record<string, unknown>> {
  return await (await fetch(`${idp.url}/.well-known/openid-configuration`, { headers })).json() as Record<string, unknown>
}

async function active (token: string, headers: Record<string, string> = {}): Promise<boolean> {
  const res = await fetch(`${idp.url}/oauth/v2/introspect`, post({ token }, { authorization: basic(api.clientId, api.clientSecret), ...headers }))
  return (await res.json() as { active: boolean }).active
}

t.test('issuers lists the main issuer, then one per domain', async (t) => {
  t.same(idp.issuers, [idp.issuer, second, 'https://id.example.test'])
  t.equal(idp.issuer, `http://127.0.0.1:${port}`)
})

t.test('the origin the client used is the issuer: Host, X-Forwarded-Host, Forwarded or x-zitadel-public-host', async (t) => {
  t.equal((await discovery({})).issuer, idp.issuer, 'the main issuer for 127.0.0.1')
  const cases: Array<Record<string, string>> = [
    { 'x-forwarded-host': `localhost:${port}` },
    { forwarded: `for=1.2.3.4;host="localhost:${port}";proto=http, host=elsewhere` },
    { 'x-zitadel-public-host': `localhost:${port}` },
    { 'x-forwarded-host': 'id.example.test', 'x-forwarded-proto': 'https' }
  ]
  for (const headers of cases) {
    const doc = await discovery(headers)
    const expected = 'x-forwarded-proto' in headers ? 'https://id.example.test' : second
    t.equal(doc.issuer, expected, JSON.stringify(headers))
    t.equal(doc.jwks_uri, `${expected}/oauth/v2/keys`)
  }
  t.equal((await discovery({ 'x-forwarded-host': 'unknown.example' })).issuer, idp.issuer, 'an unlisted host gets the main issuer')
})

t.test('tokens carry the issuer of the domain they were asked at, signed with the same keys', async (t) => {
  const viaSecond = await codeFlowAt(second)
  const claims = claimsOf(viaSecond.access_token)
  t.equal(claims.iss, second)
  t.equal(claimsOf(viaSecond.id_token as string).iss, second)
  t.equal(await active(viaSecond.access_token, { 'x-forwarded-host': `localhost:${port}` }), true, 'introspected at the same domain')
  t.equal(await active(viaSecond.access_token), false, 'a JWT is checked against the issuer of the request, as Zitadel does')

  const minted = await idp.mintAccessToken({ userId: tenant.bob.id, issuer: second })
  t.equal(claimsOf(minted).iss, second)
  t.equal(claimsOf(await idp.mintAccessToken({ userId: tenant.bob.id })).iss, idp.issuer)
  await t.rejects(idp.mintAccessToken({ userId: tenant.bob.id, issuer: 'http://elsewhere.example' }), /"issuer" must be one of/)
})

/** The code flow with every request sent to 127.0.0.1 but addressed to `origin`. */
async function codeFlowAt (origin: string): Promise<{ access_token: string, id_token?: string }> {
  const host = new URL(origin).host
  const realFetch = globalThis.fetch
  globalThis.fetch = async (input, init = {}) => {
    const url = new URL(String(input))
    const target = url.origin === origin ? `${idp.url}${url.pathname}${url.search}` : String(input)
    return realFetch(target, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-forwarded-host': host } })
  }
  try {
    return await codeFlow({ ...idp, issuer: origin } as never, tenant.clientId, tenant.alice.username, 'alice-pw')
  } finally {
    globalThis.fetch = realFetch
  }
}
