import { fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'

/**
 * A child process the bench talks to over IPC: one request, one answer,
 * matched by id. Servers and the issuer each run in their own process so
 * their CPU time can be read with `process.cpuUsage()` and so a flood
 * against one never borrows the load generator's event loop.
 */
export interface Child {
  readonly process: ChildProcess
  call<T> (cmd: string, args?: Record<string, unknown>): Promise<T>
  stop (): Promise<void>
}

interface Reply { id: number, result?: unknown, error?: string }

/**
 * `execArgv`: the child's Node options; by default this process's (tsx's
 * loader with it). --expose-gc is always added: the memory step reads the
 * heap after a collection.
 */
export function startChild (entry: URL, name: string, execArgv: readonly string[] = process.execArgv): Child {
  const proc = fork(entry, [name], { execArgv: [...execArgv, '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const waiting = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  let next = 0
  proc.on('message', (msg: Reply) => {
    const w = waiting.get(msg.id)
    if (w === undefined) return
    waiting.delete(msg.id)
    if (msg.error !== undefined) w.reject(new Error(`${name}: ${msg.error}`))
    else w.resolve(msg.result)
  })
  proc.on('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`${name} exited with code ${code}`))
    waiting.clear()
  })
  return {
    process: proc,
    call<T> (cmd: string, args: Record<string, unknown> = {}): Promise<T> {
      const id = next++
      return new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject })
        proc.send({ id, cmd, ...args })
      })
    },
    async stop () {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      await exited
    }
  }
}

/** The child's side: answers each request with its handler's result. */
export function serve (handlers: Record<string, (msg: Record<string, unknown>) => unknown>): void {
  process.on('message', (msg: { id: number, cmd: string } & Record<string, unknown>) => {
    const handler = handlers[msg.cmd]
    Promise.resolve()
      .then(() => {
        if (handler === undefined) throw new Error(`unknown command ${msg.cmd}`)
        return handler(msg)
      })
      .then(
        (result) => process.send?.({ id: msg.id, result }),
        (err: Error) => process.send?.({ id: msg.id, error: err.stack ?? String(err) })
      )
  })
  // The parent going away ends the child: nothing is left running.
  process.on('disconnect', () => process.exit(0))
}

/**
 * CPU time the whole machine spent busy since boot, in microseconds (all
 * cores; Linux /proc/stat, counted in 1/100 s), or undefined elsewhere.
 */
export function machineBusyMicros (): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0] ?? ''
    const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).map(Number)
    return (user + nice + system + irq + softirq + steal) * 10_000
  } catch {
    return undefined
  }
}

/** CPU time of a process, in microseconds, user plus system. */
export function cpuMicros (): number {
  const { user, system } = process.cpuUsage()
  return user + system
}
