import t from 'tap'
import { addTenant, claimsOf, codeFlow, introspect, startIdp } from './emulator/helpers.js'

// zitadel/oidc a7b5355 "allow scope without openid": ValidateAuthReqScopes wants some scope, not openid;
// zitadel token.go accessTokenResponseFromSession issues an ID token only when the scope has openid.
const idp = await startIdp()
t.teardown(() => idp.close())

t.test('a login without openid gets an access token and no ID token', async (t) => {
  const tenant = addTenant(idp)
  const api = idp.addApiApp({ projectId: tenant.projectId, name: 'api' })
  const res = await codeFlow(idp, tenant.clientId, tenant.alice.username, 'alice-pw', { scope: 'profile email' })
  t.same(Object.keys(res).sort(), ['access_token', 'expires_in', 'token_type'])
  t.equal(claimsOf(res.access_token).sub, tenant.alice.id)
  const seen = await (await introspect(idp, res.access_token, { basic: [api.clientId, api.clientSecret] })).json() as Record<string, unknown>
  t.equal(seen.active, true)
  t.equal(seen.scope, 'profile email')
  const info = await fetch(`${idp.issuer}/oidc/v1/userinfo`, { headers: { authorization: `Bearer ${res.access_token}` } })
  t.equal(info.status, 200)
})
