import t from 'tap'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { addTenant, basic, claimsOf, codeFlow, headerOf, post, startIdp } from './emulator/helpers.js'

async function jwksOf (issuer: string): Promise<{ res: Response, keys: Array<Record<string, unknown>> }> {
  const res = await fetch(`${issuer}/oauth/v2/keys`)
  return { res, keys: (await res.json() as { keys: Array<Record<string, unknown>> }).keys }
}

t.test('an administrator may activate ES256, then EdDSA, then RS512 mid-run: every key is listed with alg, use and a numeric kid', async (t) => {
  const idp = await startIdp()
  t.teardown(() => idp.close())
  const tenant = addTenant(idp)
  const api = idp.addApiApp({ projectId: tenant.projectId, name: 'api' })
  const tokens: string[] = [await idp.mintAccessToken({ userId: tenant.bob.id })]
  for (const algorithm of ['ES256', 'EdDSA', 'RS512'] as const) {
    await idp.rotateKeys({ algorithm, keepOld: true })
    const token = await idp.mintAccessToken({ userId: tenant.bob.id })
    t.equal(headerOf(token).alg, algorithm, `${algorithm} signs from now on`)
    tokens.push(token)
  }
  const { keys } = await jwksOf(idp.issuer)
  t.same(keys.map((k) => k.alg), ['RS512', 'EdDSA', 'ES256', 'RS256'], 'the newest first, the older ones kept')
  t.same(keys.map((k) => k.kty), ['RSA', 'OKP', 'EC', 'RSA'])
  for (const key of keys) {
    t.equal(key.use, 'sig')
    t.match(key.kid, /^\d{18}$/, 'a numeric-string kid')
    t.notOk('d' in key)
  }
  t.equal(new Set(keys.map((k) => k.kid)).size, 4)
  const set = createLocalJWKSet({ keys } as never)
  for (const token of tokens) {
    await t.resolves(jwtVerify(token, set, { issuer: idp.issuer, algorithms: ['RS256', 'ES256', 'EdDSA', 'RS512'] }), headerOf(token).alg as string)
    const seen = await fetch(`${idp.issuer}/oauth/v2/introspect`, post({ token }, { authorization: basic(api.clientId, api.clientSecret) }))
    t.equal((await seen.json() as { active: boolean }).active, true, 'introspection verifies every published key')
  }
  // The login flow signs its ID token with the active key too.
  const res = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw')
  t.equal(headerOf(res.id_token as string).alg, 'RS512')
})

t.test('typHeader: false signs tokens without typ, as zitadel/oidc before v2.9.0', async (t) => {
  const legacy = await startIdp({ typHeader: false })
  t.teardown(() => legacy.close())
  const tenant = addTenant(legacy)
  const res = await codeFlow(legacy, tenant.clientId, tenant.alice.username, 'alice-pw')
  for (const token of [res.access_token, res.id_token as string, await legacy.mintAccessToken({ userId: tenant.bob.id })]) {
    t.same(Object.keys(headerOf(token)).sort(), ['alg', 'kid'], 'alg and kid only')
  }
  const { keys } = await jwksOf(legacy.issuer)
  await t.resolves(jwtVerify(res.access_token, createLocalJWKSet({ keys } as never), { issuer: legacy.issuer }))
  t.equal(claimsOf(res.access_token).sub, tenant.alice.id)
})

t.test('jwksCacheControl: web keys send max-age=300, must-revalidate; legacy keys no-store', async (t) => {
  const web = await startIdp()
  t.teardown(() => web.close())
  t.equal((await jwksOf(web.issuer)).res.headers.get('cache-control'), 'max-age=300, must-revalidate')
  const legacy = await startIdp({ jwksCacheControl: 'no-store' })
  t.teardown(() => legacy.close())
  t.equal((await jwksOf(legacy.issuer)).res.headers.get('cache-control'), 'no-store')
})
