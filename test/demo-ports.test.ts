import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import t from 'tap'
import { freePort, runScript } from './helpers/demo.js'

/*
 * `npm run demo` with a port already taken (most often by another demo):
 * one line naming the port and the variable that moves it, exit code 1, and
 * no stack trace. The demo binds "localhost", so the blocker does too.
 */
async function occupy (): Promise<{ server: Server, port: number }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve))
  return { server, port: (server.address() as { port: number }).port }
}

const keyFile = 'demo/.dev-idp/service-user.json'
const keyBefore = existsSync(keyFile) ? readFileSync(keyFile, 'utf8') : undefined

t.test('the emulator\'s port is taken: IDP_PORT is named', async (t) => {
  const { server, port } = await occupy()
  t.teardown(() => server.close())
  const res = await runScript('demo/server.ts', [], { IDP_PORT: String(port), API_PORT: String(await freePort()) })
  t.equal(res.code, 1)
  t.equal(res.stderr, `demo: port ${port} (the Zitadel emulator) is already in use: stop what uses it, or choose another port with IDP_PORT, e.g. IDP_PORT=${port + 10} npm run demo\n`)
  t.equal(res.stdout, '')
})

t.test('the API\'s port is taken: API_PORT is named, and the running demo\'s key file is left alone', async (t) => {
  const { server, port } = await occupy()
  t.teardown(() => server.close())
  const res = await runScript('demo/server.ts', [], { IDP_PORT: String(await freePort()), API_PORT: String(port) })
  t.equal(res.code, 1)
  // The emulator was up by then and said so; the error is the last line, and the only other.
  const lines = res.stderr.trimEnd().split('\n')
  t.equal(lines.length, 2, res.stderr)
  t.match(lines[0], /^zitadel emulator: issuer http:\/\/localhost:\d+/)
  t.equal(lines[1], `demo: port ${port} (the demo API) is already in use: stop what uses it, or choose another port with API_PORT, e.g. API_PORT=${port + 10} npm run demo`)
  t.notMatch(res.stdout, 'Demo API:', 'no banner for a demo that did not start')
  t.equal(existsSync(keyFile) ? readFileSync(keyFile, 'utf8') : undefined, keyBefore, 'the key file is written only once the API listens')
})
