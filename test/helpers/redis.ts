import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer, type AddressInfo } from 'node:net'

/**
 * A real redis-server (Debian's package) for the tests, on a free port of
 * 127.0.0.1, without persistence. `stop()` and `start()` again on the same
 * port stand for an outage. Without redis-server the tests skip, unless
 * REQUIRE_REDIS=1 (set by .ci/run): then its absence is a failure.
 */
export interface TestRedis {
  readonly url: string
  readonly port: number
  start (): Promise<void>
  stop (): Promise<void>
}

export const REDIS_SERVER = process.env.REDIS_SERVER_PATH ?? 'redis-server'

export function hasRedisServer (): boolean {
  return spawnSync(REDIS_SERVER, ['--version']).status === 0
}

export async function startRedis (): Promise<TestRedis> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const redis: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start () {
      const started = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] })
      child = started
      await new Promise<void>((resolve, reject) => {
        let out = ''
        started.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          if (out.includes('Ready to accept connections')) resolve()
        })
        started.once('exit', (code) => { reject(new Error(`redis-server exited with ${String(code)}: ${out}`)) })
      })
    },
    async stop () {
      const running = child
      child = undefined
      if (running === undefined || running.exitCode !== null) return
      await new Promise<void>((resolve) => {
        running.once('exit', () => { resolve() })
        running.kill('SIGKILL')
      })
    }
  }
  await redis.start()
  return redis
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => { resolve() }))
  return port
}
