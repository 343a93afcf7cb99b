import t from 'tap'
import { appFor, bearer, issuerFor } from './helpers/app.js'
import { PROJECT_ID, type IssuerKey } from '../fixtures/issuer.js'
import { TOKEN_SHAPES, materialize } from './fixtures/zitadel-token-shapes.js'

/*
 * The shapes of real Zitadel tokens (test/fixtures/zitadel-token-shapes.ts:
 * each names the Zitadel file or the public issue it comes from), re-signed
 * with keys made here, against the plugin on its defaults: each is accepted
 * or refused as a real deployment needs. An ID token or a token without a
 * subject must never pass; every access token Zitadel really issues must.
 */

const CUSTOM_DOMAIN = 'https://auth.acdgbrasil.com.br'

t.test('real token shapes on the default options', async (t) => {
  const issuer = await issuerFor(t)
  const keys: Record<string, IssuerKey> = {
    RS256: issuer.keys[0] as IssuerKey,
    ES256: await issuer.addKey('ES256'),
    EdDSA: await issuer.addKey('EdDSA')
  }
  const { app } = await appFor(t, issuer)
  const { app: withDomains } = await appFor(t, issuer, { issuer: [issuer.url, CUSTOM_DOMAIN] })

  for (const shape of TOKEN_SHAPES) {
    const { header, payload } = materialize(shape, { issuer: issuer.url, projectId: PROJECT_ID })
    const key = keys[header.alg as string]
    if (key === undefined) {
      t.fail(`${shape.name}: no test key for ${String(header.alg)}`)
      continue
    }
    // The header as it was (typ present or not), with our kid.
    const token = await issuer.sign(payload, { key, header: { ...header, kid: key.kid, typ: header.typ } })
    const res = await app.inject({ url: '/me', headers: bearer(token) })
    if (shape.expect === 'accept') {
      t.equal(res.statusCode, 200, `${shape.name} (${shape.kind} token): accepted — ${shape.source}`)
      t.equal(res.json().sub, payload.sub, `${shape.name}: request.user is its subject`)
    } else {
      t.equal(res.statusCode, 401, `${shape.name} (${shape.kind} token): refused — ${shape.source}`)
      t.match(res.json().code, /^ZITADEL_AUTH_[A-Z_]+$/, `${shape.name}: with a coded error`)
    }
    if (shape.kind === 'id') t.equal(res.json().code, 'ZITADEL_AUTH_CLAIMS_INVALID', `${shape.name}: refused as an ID token`)
    if (shape.name === 'custom-domain-iss-not-configured') {
      t.equal(res.json().code, 'ZITADEL_AUTH_ISSUER_INVALID', 'a custom domain not configured: refused for its issuer')
      const listed = await withDomains.inject({ url: '/me', headers: bearer(token) })
      t.equal(listed.statusCode, 200, 'the same token once the custom domain is one of the issuers')
    }
  }
})
