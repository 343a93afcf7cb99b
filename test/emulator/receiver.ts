import { createHmac } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request as it came: the headers and the raw body bytes. */
export interface Received {
  method: string
  headers: IncomingHttpHeaders
  body: Buffer
}

/**
 * A plain node:http server on 127.0.0.1 that records what the emulator
 * sends its event targets. `status` is the answer (default 200); `hang`
 * leaves requests unanswered. `next()` resolves with the next request, as
 * soon as its body is in.
 */
export interface Receiver {
  url: string
  received: Received[]
  status: number
  hang: boolean
  next: () => Promise<Received>
  close: () => Promise<void>
}

export async function startReceiver (): Promise<Receiver> {
  const waiting: Array<(r: Received) => void> = []
  const open = new Set<ServerResponse>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const received = { method: req.method as string, headers: req.headers, body: Buffer.concat(chunks) }
      receiver.received.push(received)
      for (const resolve of waiting.splice(0)) resolve(received)
      if (receiver.hang) open.add(res)
      else res.writeHead(receiver.status).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const receiver: Receiver = {
    url: `http://127.0.0.1:${port}/zitadel/events`,
    received: [],
    status: 200,
    hang: false,
    next: async () => new Promise((resolve) => waiting.push(resolve)),
    close: async () => {
      for (const res of open) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
  return receiver
}

/** An address nothing listens on: a server's port, once the server has closed. */
export async function deadUrl (): Promise<string> {
  const receiver = await startReceiver()
  await receiver.close()
  return receiver.url
}

/** `t` and `v1` of a `ZITADEL-Signature` header, or undefined when it has another shape. */
export function parseSignature (header: unknown): { t: number, v1: string } | undefined {
  const match = typeof header === 'string' ? /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header) : null
  return match === null ? undefined : { t: Number(match[1]), v1: match[2] as string }
}

/** The HMAC Zitadel's receivers check: hex HMAC-SHA256(key, "<t>." + body). */
export function expectedSignature (key: string, t: number, body: Buffer): string {
  return createHmac('sha256', key).update(`${t}.`).update(body).digest('hex')
}
