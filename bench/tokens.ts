import { availableParallelism } from 'node:os'
import { randomUUID } from 'node:crypto'
import { Worker } from 'node:worker_threads'

/**
 * Valid tokens, minted in bulk. RSA-2048 signing costs about 0.3 ms, so
 * 100 000 tokens are split over one worker thread per core. Each token is the
 * issuer's sample (same header, same Zitadel claims) with its own `sub` and
 * `jti`, signed with the issuer's key: what a busy API sees from many users.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const { createPrivateKey, randomUUID, sign } = require('node:crypto')
const { pem, headerB64, template, start, count } = workerData
const key = createPrivateKey(pem)
const out = []
for (let i = start; i < start + count; i++) {
  const claims = { ...template, sub: String(263785000000000000n + BigInt(i)), jti: randomUUID() }
  const input = headerB64 + '.' + Buffer.from(JSON.stringify(claims)).toString('base64url')
  out.push(input + '.' + sign('sha256', Buffer.from(input, 'latin1'), key).toString('base64url'))
}
parentPort.postMessage(out)
`

export async function mintTokens (count: number, sample: string, privateKeyPem: string): Promise<string[]> {
  const [headerB64, payloadB64] = sample.split('.') as [string, string]
  const template = JSON.parse(Buffer.from(payloadB64, 'base64url').toString('utf8')) as Record<string, unknown>
  const workers = Math.max(1, availableParallelism())
  const per = Math.ceil(count / workers)
  const parts = await Promise.all(Array.from({ length: workers }, (_, w) => {
    const start = w * per
    const n = Math.min(per, count - start)
    return new Promise<string[]>((resolve, reject) => {
      const worker = new Worker(WORKER, { eval: true, workerData: { pem: privateKeyPem, headerB64, template, start, count: n } })
      worker.once('message', resolve)
      worker.once('error', reject)
    })
  }))
  return parts.flat()
}

/** The same token with one signature character changed in the middle: a bad signature, everything else intact. */
export function tamper (token: string): string {
  const dot = token.lastIndexOf('.')
  const at = dot + Math.floor((token.length - dot) / 2)
  const c = token[at] === 'A' ? 'B' : 'A'
  return token.slice(0, at) + c + token.slice(at + 1)
}

/**
 * Tokens whose header names a random, unknown `kid` (payload and signature of
 * a real token): a new one per call, cheap enough to make per request.
 */
export function randomKidTokens (token: string): () => string {
  const dot = token.indexOf('.')
  const header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) as Record<string, unknown>
  const [before, after] = JSON.stringify({ ...header, kid: '\u0000' }).split('"\\u0000"') as [string, string]
  const rest = token.slice(dot)
  return () => Buffer.from(`${before}"${randomUUID()}"${after}`).toString('base64url') + rest
}
