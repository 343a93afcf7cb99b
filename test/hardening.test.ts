import { connect, type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { isCanonicalBase64url } from '../lib/jws.js'
import { appFor, bearer, ES256_ONLY, issuerFor, setup } from './helpers/app.js'
import { accepted, refused } from './helpers/assertions.js'
import { SUB, type TestIssuer } from '../fixtures/issuer.js'

/*
 * Places where two components could disagree about who the caller is:
 * repeated Authorization lines, other spellings of one token, bytes that are
 * no UTF-8, a polluted prototype, and verify() called from plain JavaScript.
 */

/** Sends `head` (request line and header lines, no final blank line) over a real socket; the status and body. */
async function raw (app: FastifyInstance, head: string[]): Promise<{ status: number, body: string }> {
  const { port } = app.server.address() as AddressInfo
  const socket = connect(port, '127.0.0.1')
  // write, not end: a half-closed socket may be dropped before the answer.
  socket.write([...head, 'Host: 127.0.0.1', 'Connection: close', '', ''].join('\r\n'))
  let text = ''
  for await (const chunk of socket) text += (chunk as Buffer).toString('latin1')
  const body = text.slice(text.indexOf('\r\n\r\n') + 4)
  // Fastify answers JSON with Content-Length, so the body is not chunked.
  return { status: Number(text.slice(9, 12)), body }
}

async function listening (t: Test, issuer: TestIssuer): Promise<FastifyInstance> {
  const { app } = await appFor(t, issuer, ES256_ONLY)
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app
}

t.test('two Authorization lines are a bad request, whatever they hold (RFC 9110 §5.3)', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const app = await listening(t, issuer)
  const good = await issuer.token()
  const other = await issuer.token({ claims: { sub: '263785999999999999' } })

  const one = await raw(app, ['GET /me HTTP/1.1', `Authorization: Bearer ${good}`])
  t.equal(one.status, 200, 'one line: accepted')
  t.equal(JSON.parse(one.body).sub, SUB)
  for (const [name, lines] of [
    ['two valid Bearer tokens of two users', [`Authorization: Bearer ${good}`, `authorization: Bearer ${other}`]],
    ['a valid Bearer token, then a forged one', [`Authorization: Bearer ${good}`, 'AUTHORIZATION: Bearer forged.token.here']],
    ['Basic, then Bearer', ['Authorization: Basic dXNlcjpwYXNz', `Authorization: Bearer ${good}`]],
    ['the same line twice', [`Authorization: Bearer ${good}`, `Authorization: Bearer ${good}`]]
  ] as const) {
    for (const route of ['/me', '/public']) {
      const res = await raw(app, [`GET ${route} HTTP/1.1`, ...lines])
      t.equal(res.status, 400, `${name} on ${route}: 400`)
      t.equal(JSON.parse(res.body).code, 'ZITADEL_AUTH_BAD_REQUEST', `${name} on ${route}: code`)
    }
  }
  const none = await raw(app, ['GET /public HTTP/1.1', 'X-Authorization: Bearer x', 'Authorizations: y'])
  t.equal(none.status, 200, 'headers that only look alike are not Authorization')
})

t.test('only the canonical base64url spelling of a token is accepted (RFC 4648 §3.5)', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  const token = await issuer.token()
  accepted(t, await me(token), 'the token as signed')
  const [header, payload, signature] = token.split('.') as [string, string, string]
  // ES256 signatures are 64 bytes: 86 characters, the last one carrying 4 unused bits.
  t.equal(signature.length % 4, 2)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = alphabet.indexOf(signature.slice(-1))
  let variants = 0
  for (let bits = 1; bits < 16; bits++) {
    const variant = `${header}.${payload}.${signature.slice(0, -1)}${alphabet[last | bits] as string}`
    if (variant === token) continue
    t.same(Buffer.from(variant.split('.')[2] as string, 'base64url'), Buffer.from(signature, 'base64url'), 'the same signature bytes')
    refused(t, await me(variant), 'TOKEN_MALFORMED', `another spelling of the signature (${variant.slice(-1)})`)
    variants++
  }
  t.ok(variants >= 1, 'at least one other spelling was tried')
  const nonCanonical = (segment: string) => {
    const rest = segment.length % 4
    t.not(rest, 0, 'a segment with unused bits')
    const c = alphabet.indexOf(segment.slice(-1))
    return segment.slice(0, -1) + (alphabet[c | 1] as string)
  }
  refused(t, await me(`${header}.${nonCanonical(payload)}.${signature}`), 'TOKEN_MALFORMED', 'another spelling of the payload')
  // A header of a length with unused bits: an extra parameter of the right size.
  const padded = await Promise.all(['', 'a', 'aa', 'aaa'].map(async (x) => issuer.token({ header: { x } })))
  const odd = padded.find((tok) => (tok.split('.')[0] as string).length % 4 !== 0) as string
  accepted(t, await me(odd), 'a token whose header has unused bits')
  const [oddHeader, oddRest] = [odd.slice(0, odd.indexOf('.')), odd.slice(odd.indexOf('.'))]
  refused(t, await me(`${nonCanonical(oddHeader)}${oddRest}`), 'TOKEN_MALFORMED', 'another spelling of the header')
  refused(t, await me(`${header}.${payload}.${signature}AAA`), 'TOKEN_MALFORMED', 'a signature of 4n + 1 characters')
  accepted(t, await me(token), 'the token itself still passes')
})

t.test('a signed payload that is not valid UTF-8 is malformed (RFC 7519 §7.2)', async (t) => {
  const { issuer, me } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  const key = issuer.keys[0]
  const json = JSON.stringify({ iss: issuer.url, sub: SUB, aud: [issuer.projectId], exp: Math.floor(Date.now() / 1000) + 60, iat: Math.floor(Date.now() / 1000), name: '@@' })
  const [before, after] = json.split('@@') as [string, string]
  for (const [name, bytes] of [['a lone continuation byte', [0x80]], ['a truncated sequence', [0xe2, 0x82]], ['an overlong encoding', [0xc0, 0xaf]], ['a surrogate', [0xed, 0xa0, 0x80]]] as const) {
    const payload = Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)])
    refused(t, await me(await issuer.signBytes(payload, { key })), 'TOKEN_MALFORMED', name)
  }
  const valid = Buffer.concat([Buffer.from(before), Buffer.from('Zoë €', 'utf8'), Buffer.from(after)])
  accepted(t, await me(await issuer.signBytes(valid, { key })), 'valid UTF-8 beyond ASCII')
})

t.test('config.zitadel counts only as the route\'s own property: a polluted prototype switches nothing off', async (t) => {
  const issuer = await issuerFor(t, 'ES256')
  const proto = Object.prototype as Record<string, unknown>
  proto.zitadel = false
  t.teardown(() => { delete proto.zitadel })
  const { app } = await appFor(t, issuer, {}, {
    routes: (app) => {
      app.get('/configured', { config: { other: true } as object }, async (req) => ({ user: req.user?.sub ?? null }))
    }
  })
  delete proto.zitadel
  const forged = `${(await issuer.token()).slice(0, -4)}AAAA`
  refused(t, await app.inject({ url: '/configured', headers: bearer(forged) }), 'SIGNATURE_INVALID', 'a route with a config object')
  t.equal((await app.inject({ url: '/health', headers: bearer(forged) })).statusCode, 200, 'a route that opts out itself still does')
})

t.test('verify() from plain JavaScript: anything but a string rejects with the coded 401, never a TypeError', async (t) => {
  const { app } = await setup(t, ES256_ONLY, { alg: 'ES256' })
  const verify = app.zitadel.verify as (token: unknown) => Promise<unknown>
  for (const value of [null, undefined, 42, {}, ['a.b.c'], Buffer.from('a.b.c')]) {
    await t.rejects(verify(value), { code: 'ZITADEL_AUTH_TOKEN_MALFORMED', statusCode: 401 }, `verify(${String(value)})`)
  }
})

t.test('isCanonicalBase64url: every length class and every kind of last character', async (t) => {
  // Each string below is the base64url of some bytes exactly when it is canonical.
  const cases = ['', 'QQ', 'QR', 'Qw', 'Q_', 'Q-', 'Q0', 'QUE', 'QUF', 'QUa', 'QU4', 'QU-', 'QU_', 'QUJD', 'Q', 'QUJDR']
  for (const segment of cases) {
    const canonical = segment.length % 4 !== 1 && Buffer.from(segment, 'base64url').toString('base64url') === segment
    t.equal(isCanonicalBase64url(segment), canonical, `${JSON.stringify(segment)}: ${canonical ? 'canonical' : 'not canonical'}`)
  }
})
