import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import type { Directory } from './directory.js'

/** The endpoints whose requests are counted. */
export type Endpoint = 'discovery' | 'jwks' | 'authorize' | 'login' | 'token' | 'introspect' | 'userinfo' | 'revoke' | 'endSession'

export type EmulatorRequestCounts = Record<Endpoint, number>

/**
 * Fault modes for resilience tests, on the discovery, JWKS and token endpoints:
 * `down` drops the connection without an answer, `slow` answers after
 * `slowMs`, `error` answers HTTP 500.
 */
export type EmulatorFault = 'none' | 'down' | 'slow' | 'error'

export const FAULTS: readonly EmulatorFault[] = ['none', 'down', 'slow', 'error']

export interface RuntimeState {
  fault: EmulatorFault
  slowMs: number
  readonly requests: EmulatorRequestCounts
  /** Slow answers stop waiting when the emulator closes. */
  readonly closing: AbortSignal
}

export function newCounts (): EmulatorRequestCounts {
  return { discovery: 0, jwks: 0, authorize: 0, login: 0, token: 0, introspect: 0, userinfo: 0, revoke: 0, endSession: 0 }
}

export type HooksFor = (endpoint: Endpoint, opts?: { fault?: boolean, cors?: boolean }) => onRequestAsyncHookHandler[]

export function createHooks (state: RuntimeState, directory: Directory): { hooksFor: HooksFor, cors: onRequestAsyncHookHandler } {
  async function cors (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    reply.header('vary', 'Origin')
    const { origin } = request.headers
    // Only the exact origin of a registered redirect URI, never `*`.
    if (origin !== undefined && directory.allowedOrigins().has(origin)) reply.header('access-control-allow-origin', origin)
  }

  async function fault (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    switch (state.fault) {
      case 'down':
        return drop(request, reply)
      case 'error':
        throw new Error('emulated fault')
      case 'slow':
        try {
          await sleep(state.slowMs, undefined, { signal: state.closing })
        } catch {
          // The emulator is closing: the slow answer never comes.
          drop(request, reply)
        }
    }
  }

  function drop (request: FastifyRequest, reply: FastifyReply): void {
    reply.hijack()
    request.raw.socket.destroy()
  }

  function hooksFor (endpoint: Endpoint, { fault: faulty = false, cors: withCors = false } = {}): onRequestAsyncHookHandler[] {
    const count: onRequestAsyncHookHandler = async function count () { state.requests[endpoint]++ }
    return [count, ...(withCors ? [cors] : []), ...(faulty ? [fault] : [])]
  }

  return { hooksFor, cors }
}

/** For a registered origin only (the `cors` hook ran first). */
export async function preflight (_request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  if (reply.hasHeader('access-control-allow-origin')) {
    reply.header('access-control-allow-methods', 'GET, POST, OPTIONS')
    // Swagger UI's token request sends X-Requested-With.
    reply.header('access-control-allow-headers', 'Accept, Accept-Language, Authorization, Content-Type, X-Requested-With')
    reply.header('access-control-max-age', '600')
  }
  return reply.code(204).send()
}
