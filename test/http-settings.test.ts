import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import { ProxyAgent } from 'undici'
import zitadelAuth from '../lib/index.js'
import { VERSION } from '../lib/version.js'
import { FAST, appFor, issuerFor } from './helpers/app.js'

/**
 * How the plugin talks to Zitadel: a User-Agent naming it, and an undici
 * dispatcher for a proxy or a private CA, over real HTTP through a real
 * CONNECT proxy on 127.0.0.1.
 */

/** A forward proxy that tunnels CONNECT requests and remembers where to. */
async function startProxy (t: Test): Promise<{ url: string, tunnels: string[] }> {
  const tunnels: string[] = []
  const sockets = new Set<Socket>()
  const server = createServer((_req, res) => { res.writeHead(405).end() })
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '')
    const [host, port] = (req.url ?? '').split(':')
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => { client.destroy(); upstream.destroy() })
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, tunnels }
}

t.test('the version in the User-Agent is the package\'s', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  t.equal(VERSION, pkg.version, 'lib/version.ts follows package.json')
})

t.test('requests to Zitadel name the plugin in User-Agent', async (t) => {
  const issuer = await issuerFor(t)
  const { me } = await appFor(t, issuer)
  t.equal((await me(await issuer.token())).statusCode, 200)
  t.strictSame([...issuer.userAgents], [`fastify-zitadel-auth/${VERSION}`], 'discovery and keys alike')
})

t.test('a dispatcher carries every request to Zitadel, through a proxy', async (t) => {
  const issuer = await issuerFor(t)
  const proxy = await startProxy(t)
  const dispatcher = new ProxyAgent(proxy.url)
  t.teardown(() => dispatcher.close())
  const { app, me } = await appFor(t, issuer, { dispatcher })
  t.equal((await me(await issuer.token())).statusCode, 200, 'keys fetched through the proxy')
  const target = new URL(issuer.url).host
  t.ok(proxy.tunnels.length > 0 && proxy.tunnels.every((to) => to === target), 'every tunnel went to the issuer')
  t.equal(issuer.requests.jwks, 1)
  t.notOk('dispatcher' in app.zitadel.options, 'the dispatcher is not shown in the resolved options (a proxy\'s credentials may be in it)')
})

t.test('a proxy that cannot be reached makes the IdP unavailable, not the token bad', async (t) => {
  const issuer = await issuerFor(t)
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  const dispatcher = new ProxyAgent(`http://127.0.0.1:${port}`)
  t.teardown(() => dispatcher.close())
  const { me } = await appFor(t, issuer, { dispatcher })
  const res = await me(await issuer.token())
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'ZITADEL_AUTH_IDP_UNAVAILABLE')
  t.equal(issuer.requests.discovery + issuer.requests.jwks, 0, 'nothing went around the dispatcher')
})

t.test('the dispatcher option is checked at registration', async (t) => {
  const issuer = await issuerFor(t)
  for (const dispatcher of [{}, 'http://proxy:3128', null, { dispatch: true }]) {
    const app = Fastify()
    t.teardown(() => app.close())
    await t.rejects(async () => { await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, ...FAST, dispatcher: dispatcher as never }) }, {
      code: 'ZITADEL_AUTH_INVALID_OPTION',
      message: /option "dispatcher" must be an undici Dispatcher \(an object with a dispatch method\), such as new ProxyAgent\(url\) from the undici package/
    }, JSON.stringify(dispatcher))
  }
})
