import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import websocket, { type WebSocket } from '@fastify/websocket'
import Fastify, { type FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { WebSocket as Client } from 'undici'
import zitadelAuth, { type ZitadelUser } from '../lib/index.js'
import { FAST, bearer, type TestOptions } from './helpers/app.js'
import { FakeClock, kClock } from './helpers/clock.js'
import { ROLES_SCOPE, addTenant, audScope, codeFlow, startIdp } from './emulator/helpers.js'

/**
 * The WebSocket recipe of docs/websockets.md, run as the page shows it (the
 * first test checks that the page still holds the code below, verbatim),
 * against the Zitadel emulator over real HTTP, with real sockets: the server
 * is @fastify/websocket (ws), the client undici's WebSocket, which has a
 * browser's API (and, as an extension, lets Node clients send headers).
 * Refused upgrades are also sent by hand with node:http, to see the status.
 * Time is a FakeClock, shared by the plugin and the recipe: tokens expire
 * without waiting for them.
 */

// <<< the recipe of docs/websockets.md
/** The project role the sockets require. */
const ROLE = 'admin'

/** The time and timers the recipe reads: the system's, or a test's. */
interface Clock {
  wallSeconds (): number
  /** Calls `fn` in `ms` milliseconds, without keeping the process alive; returns the function that cancels it. */
  schedule (fn: () => void, ms: number): () => void
}
const systemClock: Clock = {
  wallSeconds: () => Date.now() / 1000,
  schedule: (fn, ms) => {
    const timer = setTimeout(fn, ms).unref()
    return () => { clearTimeout(timer) }
  }
}

/** Closes the socket with 4001 at `at` (seconds since the epoch, like `exp`); returns the function that cancels it. */
function closeAt (socket: WebSocket, at: number, reason: string, clock: Clock): () => void {
  let cancelTimer = (): void => {}
  const arm = (): void => {
    const ms = Math.round((at - clock.wallSeconds()) * 1000)
    if (ms <= 0) {
      socket.close(4001, reason)
      return
    }
    // Node fires a delay above 2^31 - 1 ms (24.8 days) at once: wait at most that long, then look again.
    cancelTimer = clock.schedule(arm, Math.min(ms, 2 ** 31 - 1))
  }
  const cancel = (): void => {
    cancelTimer()
    socket.off('close', cancel)
  }
  socket.on('close', cancel)
  arm()
  return cancel
}

/** The token of an auth message, `{"type":"auth","token":"…"}`; undefined for any other message. */
function authToken (data: unknown): string | undefined {
  try {
    const message = JSON.parse(String(data))
    return message?.type === 'auth' && typeof message.token === 'string' ? message.token : undefined
  } catch {
    return undefined
  }
}

/**
 * One socket. `user` is the user of the upgrade's token, or null: then the
 * first message must be an auth message, within 10 seconds. An auth message
 * on an authenticated socket renews its token.
 */
function serve (app: FastifyInstance, socket: WebSocket, user: ZitadelUser | null, clock: Clock): void {
  let cancel = user === null
    ? closeAt(socket, clock.wallSeconds() + 10, 'authentication required', clock)
    : closeAt(socket, user.claims.exp, 'token expired', clock)
  socket.on('message', async (data: unknown) => {
    const token = authToken(data)
    if (token === undefined) {
      if (user === null) socket.close(4001, 'authentication required')
      else socket.send(String(data)) // the application's own messages: an echo here
      return
    }
    let next: ZitadelUser
    try {
      next = await app.zitadel.verify(token)
    } catch (err) {
      const { statusCode, code } = err as { statusCode?: number, code?: string }
      socket.close(statusCode === 503 ? 1013 : 4001, code)
      return
    }
    if (!next.hasRole(ROLE)) socket.close(4003, 'role required')
    else if (user !== null && next.sub !== user.sub) socket.close(4003, 'another user')
    else if (socket.readyState === socket.OPEN) {
      cancel()
      user = next
      cancel = closeAt(socket, user.claims.exp, 'token expired', clock)
      socket.send(JSON.stringify({ type: 'authenticated', exp: user.claims.exp }))
    }
  })
}

/** `clock` is for tests. */
function websocketRoutes (app: FastifyInstance, clock: Clock = systemClock): void {
  // Clients that send the header: the plugin and the guard check the upgrade.
  app.get('/ws', { websocket: true, preHandler: app.zitadel.requireRoles([ROLE]) }, (socket, req) => {
    serve(app, socket, req.user, clock)
  })
  // Browsers: the token comes in the first message.
  app.get('/ws/browser', { websocket: true }, (socket) => {
    serve(app, socket, null, clock)
  })
}
// >>> end of the recipe

const idp = await startIdp()
t.teardown(() => idp.close())
const tenant = addTenant(idp) // alice holds the roles user and admin, bob only user
const carol = idp.addUser({ username: `carol-${tenant.projectId}`, password: 'carol-pw', orgId: tenant.orgId, grants: [{ projectId: tenant.projectId, roles: ['admin'] }] })
const scope = `openid profile email ${audScope(tenant.projectId)} ${ROLES_SCOPE}`
const login = async (username: string, password: string): Promise<string> => (await codeFlow(idp, tenant.clientId, username, password, { scope })).access_token
const alice = await login(tenant.alice.username, 'alice-pw')
const bob = await login(tenant.bob.username, 'bob-pw')
const carolToken = await login(carol.username, 'carol-pw')
/** alice's token with its signature's last characters changed. */
const forged = `${alice.slice(0, -4)}AAAA`

const expOf = (token: string): number => JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).exp
const authMessage = (token: string): string => JSON.stringify({ type: 'auth', token })

interface Api {
  clock: FakeClock
  /** ws://127.0.0.1:port */
  url: string
  /** The server's end of every socket opened. */
  sockets: WebSocket[]
}

/** The recipe's Clock on a FakeClock; `delays` gets the delay of each timer. */
function recipeClockOf (clock: FakeClock, delays: number[] = []): Clock {
  return {
    wallSeconds: () => clock.wallSeconds(),
    schedule: (fn, ms) => {
      delays.push(ms)
      const timer = clock.setTimeout(fn, ms)
      timer.unref()
      return () => { clock.clearTimeout(timer) }
    }
  }
}

/**
 * The plugin, @fastify/websocket and the recipe's routes, listening on
 * 127.0.0.1. Each app has a clock of its own (made after the tokens, so they
 * are current for it), which the recipe reads too unless `recipeClock` says
 * otherwise (undefined: the recipe's default, the system's).
 */
async function apiFor (t: Test, recipeClock: (clock: FakeClock) => Clock | undefined = recipeClockOf): Promise<Api> {
  const clock = new FakeClock()
  const app: FastifyInstance = Fastify()
  // A key set that outlives the tokens: no refresh while the clock runs to exp.
  const options: TestOptions = { ...FAST, jwksCacheTtl: 86400, [kClock]: clock }
  await app.register(zitadelAuth, { issuer: idp.issuer, projectId: tenant.projectId, ...options })
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } })
  websocketRoutes(app, recipeClock(clock))
  const sockets: WebSocket[] = []
  app.websocketServer.on('connection', (socket: WebSocket) => { sockets.push(socket) })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { clock, url: `ws://127.0.0.1:${(app.server.address() as AddressInfo).port}`, sockets }
}

interface Closed { code: number, reason: string }

/** A client socket, and what it receives. */
interface Peer {
  /** true once open; false when it closed (or failed) first. */
  opened: Promise<boolean>
  closed: Promise<Closed>
  send (message: string): void
  close (): void
  /** The next message; rejects when the socket closes first. */
  next (): Promise<string>
  /** Once open, sends `message`, then the next message. */
  echo (message: string): Promise<string>
}

/** Connects as a browser would, or with the Authorization header when `token` is given. */
function connect (t: Test, url: string, token?: string): Peer {
  const ws = new Client(url, token === undefined ? {} : { headers: bearer(token) })
  t.teardown(() => { ws.close() })
  const inbox: string[] = []
  let wake = (): void => {}
  ws.addEventListener('message', (event) => {
    inbox.push(String(event.data))
    wake()
  })
  const closed = new Promise<Closed>((resolve) => {
    ws.addEventListener('close', (event) => { resolve({ code: event.code, reason: event.reason }) }, { once: true })
  })
  const opened = Promise.race([new Promise<boolean>((resolve) => { ws.addEventListener('open', () => { resolve(true) }) }), closed.then(() => false)])
  async function next (): Promise<string> {
    for (;;) {
      const message = inbox.shift()
      if (message !== undefined) return message
      const woken = await Promise.race([new Promise<true>((resolve) => { wake = () => { resolve(true) } }), closed])
      if (woken !== true) throw new Error(`the socket closed with ${woken.code} "${woken.reason}" before a message came`)
    }
  }
  return {
    opened,
    closed,
    send: (message) => { ws.send(message) },
    close: () => { ws.close() },
    next,
    echo: async (message) => {
      if (!await opened) throw new Error('the socket did not open')
      ws.send(message)
      return next()
    }
  }
}

/** The next message, or how the socket closed if it closed first: a test that expects a close fails at once on a message. */
const nextOrClose = (peer: Peer): Promise<string | Closed> => peer.next().catch(() => peer.closed)

interface HttpAnswer { status: number, headers: IncomingHttpHeaders, body: string }

/** An upgrade request sent by hand: the HTTP answer of a refusal, or status 101 (the socket is then closed at once). */
function upgrade (url: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url.replace(/^ws:/, 'http:'), {
      agent: false,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'), ...headers }
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ status: res.statusCode as number, headers: res.headers, body: '' })
    })
    req.on('response', (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => { resolve({ status: res.statusCode as number, headers: res.headers, body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

function assertRefused (t: Test, answer: HttpAnswer, status: number, code: string, challenge: RegExp, message: string): void {
  t.equal(answer.status, status, message)
  t.equal(JSON.parse(answer.body).code, code, `${message}: ${code}`)
  t.match(answer.headers['www-authenticate'], challenge, `${message}: the RFC 6750 challenge`)
}

t.test('docs/websockets.md shows the recipe these tests run, verbatim', async (t) => {
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n')
  const recipe = lines.slice(lines.indexOf('// <<< the recipe of docs/websockets.md') + 1, lines.indexOf('// >>> end of the recipe')).join('\n').trim()
  t.ok(recipe.includes('function websocketRoutes'), 'the markers hold the recipe')
  const page = readFileSync(new URL('../docs/websockets.md', import.meta.url), 'utf8')
  const block = page.split('```ts\n').find((b) => b.includes('function websocketRoutes'))?.split('\n```\n')[0] ?? ''
  const at = block.indexOf(recipe.slice(0, recipe.indexOf('\n')))
  t.not(at, -1, 'the page has a block with the recipe')
  t.equal(block.slice(at, at + recipe.length), recipe, 'the page\'s code is the code under test')
})

t.test('an upgrade without a token, or with a bad one, gets the plugin\'s 401 before any socket exists', async (t) => {
  const { url, sockets } = await apiFor(t)
  assertRefused(t, await upgrade(`${url}/ws`), 401, 'ZITADEL_AUTH_TOKEN_MISSING', /^Bearer realm="api"$/, 'no token')
  assertRefused(t, await upgrade(`${url}/ws`, bearer(forged)), 401, 'ZITADEL_AUTH_SIGNATURE_INVALID', /error="invalid_token"/, 'a forged token')
  const peer = connect(t, `${url}/ws`)
  t.equal(await peer.opened, false, 'a client never sees the socket open')
  t.equal((await peer.closed).code, 1006, 'it sees a failed connection (abnormal closure)')
  t.equal(sockets.length, 0, 'the server opened no socket')
})

t.test('bob (role user) gets 403 on the admin socket; alice (admin) gets the socket and her echo', async (t) => {
  const { url, sockets } = await apiFor(t)
  assertRefused(t, await upgrade(`${url}/ws`, bearer(bob)), 403, 'ZITADEL_AUTH_ROLE_REQUIRED', /error="insufficient_scope"/, 'bob')
  t.equal(await connect(t, `${url}/ws`, bob).opened, false, 'bob\'s client never sees the socket open')
  t.equal(sockets.length, 0, 'no socket for bob')
  t.equal((await upgrade(`${url}/ws`, bearer(alice))).status, 101, 'alice\'s upgrade: 101 Switching Protocols')
  const peer = connect(t, `${url}/ws`, alice)
  t.equal(await peer.opened, true, 'alice\'s client is connected')
  t.equal(await peer.echo('hello'), 'hello', 'and gets her echo')
  t.equal(sockets.length, 2, 'a socket for each of alice\'s upgrades')
})

t.test('the socket closes with 4001 "token expired" at exp, not a millisecond before, and the token opens no new one', async (t) => {
  const { clock, url } = await apiFor(t)
  const peer = connect(t, `${url}/ws`, alice)
  t.equal(await peer.echo('now'), 'now', 'open')
  const exp = expOf(alice)
  await clock.advanceToWallSeconds(exp - 0.001)
  t.equal(await peer.echo('a millisecond before exp'), 'a millisecond before exp', 'open until exp')
  await clock.advance(1)
  t.same(await peer.closed, { code: 4001, reason: 'token expired' }, 'closed at exp')
  assertRefused(t, await upgrade(`${url}/ws`, bearer(alice)), 401, 'ZITADEL_AUTH_TOKEN_EXPIRED', /error="invalid_token"/, 'the same token again, on the same clock')
})

t.test('the expiry timer goes with its socket', async (t) => {
  const { clock, url, sockets } = await apiFor(t)
  // A first socket, so that the plugin has loaded its keys and set its own timers.
  t.equal(await connect(t, `${url}/ws`, alice).echo('keys'), 'keys', 'a first socket')
  const before = clock.pending
  const peer = connect(t, `${url}/ws`, alice)
  t.equal(await peer.echo('one more'), 'one more', 'a second one')
  t.equal(clock.pending, before + 1, 'a timer for the socket')
  const serverEnd = sockets[1] as WebSocket
  const gone = once(serverEnd, 'close')
  peer.close()
  await gone
  t.equal(clock.pending, before, 'the client closed the socket: its timer is cleared')
})

t.test('a timer waits at most 2^31 - 1 ms: a 30-day token\'s socket closes at exp, not at once', async (t) => {
  // The recipe's own clock: the plugin's stays put (it only needs the token
  // to be current when it checks it), so 30 days pass without its 30 key
  // refreshes.
  const clock = new FakeClock()
  const delays: number[] = []
  const { url } = await apiFor(t, () => recipeClockOf(clock, delays))
  const token = await idp.mintAccessToken({ userId: tenant.alice.id, clientId: tenant.clientId, roles: true, expiresIn: 30 * 86400 })
  const peer = connect(t, `${url}/ws`, token)
  t.equal(await peer.echo('thirty days'), 'thirty days', 'open')
  await clock.advanceToWallSeconds(expOf(token) - 0.001)
  t.equal(await peer.echo('still open'), 'still open', 'open after 24.8 days, and until exp')
  t.ok(delays.length >= 2 && delays.every((ms) => ms <= 2 ** 31 - 1), `no delay beyond 2^31 - 1 ms: ${delays.join(', ')}`)
  await clock.advance(1)
  t.same(await peer.closed, { code: 4001, reason: 'token expired' }, 'closed at exp')
})

t.test('on the system\'s clock, the timer of a socket does not keep the process alive', async (t) => {
  const { url } = await apiFor(t, () => undefined)
  const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  t.equal(await connect(t, `${url}/ws`, alice).echo('first'), 'first', 'a first socket, for the timers of the plugin and the connections')
  const before = timeouts()
  const peer = connect(t, `${url}/ws`, alice)
  t.equal(await peer.echo('second'), 'second', 'a second socket, its timer set')
  t.equal(timeouts(), before, 'no timer more that holds the process')
})

t.test('a browser: the token in the first message, verified with app.zitadel.verify; the 10-second deadline goes once it is in', async (t) => {
  const { clock, url, sockets } = await apiFor(t)
  const peer = connect(t, `${url}/ws/browser`)
  t.equal(await peer.opened, true, 'the upgrade needs no token')
  await clock.advance(9_999)
  peer.send(authMessage(alice))
  t.same(JSON.parse(await peer.next()), { type: 'authenticated', exp: expOf(alice) }, 'authenticated just before the deadline')
  t.equal(await peer.echo('hello'), 'hello', 'echo')
  await clock.advance(10_000)
  t.equal(await peer.echo('later'), 'later', 'no deadline any more')
  await clock.advanceToWallSeconds(expOf(alice))
  t.same(await peer.closed, { code: 4001, reason: 'token expired' }, 'the token\'s exp closes it, as on /ws')
  t.equal(sockets.length, 1, 'one socket all along')
})

t.test('a browser: a refused or missing first message closes the socket with 4001 or 4003', async (t) => {
  const { clock, url } = await apiFor(t)
  const closes = async (first: string): Promise<string | Closed> => {
    const peer = connect(t, `${url}/ws/browser`)
    if (!await peer.opened) throw new Error('the socket did not open')
    peer.send(first)
    return nextOrClose(peer)
  }
  t.same(await closes(authMessage(forged)), { code: 4001, reason: 'ZITADEL_AUTH_SIGNATURE_INVALID' }, 'a forged token')
  t.same(await closes(authMessage('not a token')), { code: 4001, reason: 'ZITADEL_AUTH_TOKEN_MALFORMED' }, 'not a token')
  t.same(await closes('hello'), { code: 4001, reason: 'authentication required' }, 'a message that is not an auth message')
  t.same(await closes(JSON.stringify({ type: 'auth', token: 42 })), { code: 4001, reason: 'authentication required' }, 'an auth message without a token string')
  t.same(await closes(authMessage(bob)), { code: 4003, reason: 'role required' }, 'bob lacks the role admin')
  const silent = connect(t, `${url}/ws/browser`)
  t.equal(await silent.opened, true, 'a socket that sends nothing')
  await clock.advance(10_000)
  silent.send(authMessage(alice)) // too late
  t.same(await nextOrClose(silent), { code: 4001, reason: 'authentication required' }, 'nothing within 10 seconds')
  await clock.advanceToWallSeconds(expOf(alice))
  t.same(await closes(authMessage(alice)), { code: 4001, reason: 'ZITADEL_AUTH_TOKEN_EXPIRED' }, 'an expired token')
})

t.test('a new token on the open socket: the timer moves to its exp; another user\'s token or a bad one closes the socket', async (t) => {
  const { clock, url } = await apiFor(t)
  const peer = connect(t, `${url}/ws`, alice)
  t.equal(await peer.echo('first token'), 'first token', 'open')
  const renewed = await idp.mintAccessToken({ userId: tenant.alice.id, clientId: tenant.clientId, roles: true, expiresIn: 43200 + 600 })
  t.ok(expOf(renewed) > expOf(alice), 'the new token expires later')
  peer.send(authMessage(renewed))
  t.same(JSON.parse(await peer.next()), { type: 'authenticated', exp: expOf(renewed) }, 'renewed')
  await clock.advanceToWallSeconds(expOf(alice))
  t.equal(await peer.echo('past the first exp'), 'past the first exp', 'the first token\'s exp no longer closes it')
  await clock.advanceToWallSeconds(expOf(renewed))
  t.same(await peer.closed, { code: 4001, reason: 'token expired' }, 'the new exp does')

  const other = await apiFor(t)
  const renewals = async (token: string): Promise<string | Closed> => {
    const peer = connect(t, `${other.url}/ws/browser`)
    if (!await peer.opened) throw new Error('the socket did not open')
    peer.send(authMessage(alice))
    t.equal(JSON.parse(await peer.next()).type, 'authenticated', 'alice first')
    peer.send(authMessage(token))
    return nextOrClose(peer)
  }
  t.same(await renewals(carolToken), { code: 4003, reason: 'another user' }, 'carol, an admin too, cannot take over alice\'s socket')
  t.same(await renewals(forged), { code: 4001, reason: 'ZITADEL_AUTH_SIGNATURE_INVALID' }, 'a forged renewal')
  t.same(await renewals(bob), { code: 4003, reason: 'role required' }, 'a token without the role')
})

t.test('while Zitadel cannot be reached, the first message closes the socket with 1013 (try again later)', async (t) => {
  idp.fault = 'down'
  t.teardown(() => { idp.fault = 'none' })
  const { url } = await apiFor(t)
  const peer = connect(t, `${url}/ws/browser`)
  t.equal(await peer.opened, true, 'open')
  peer.send(authMessage(alice))
  t.same(await peer.closed, { code: 1013, reason: 'ZITADEL_AUTH_IDP_UNAVAILABLE' }, 'closed: try again later')
})
