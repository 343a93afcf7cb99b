import type { FastifyRequest } from 'fastify'
import type { ResolvedEmulatorOptions } from './options.js'
import { fail } from './setup-error.js'

/**
 * Zitadel writes the origin the client used as `iss` (zitadel/oidc
 * pkg/op/context.go IssuerFromContext, fed by zitadel
 * internal/api/http/middleware/origin_interceptor.go), so an instance with
 * custom domains issues one `iss` per domain, all with the same keys.
 */
export class Issuers {
  #main = ''
  #byOrigin = new Map<string, string>()

  resolve (opts: ResolvedEmulatorOptions, url: string): void {
    this.#main = opts.issuer ?? url
    const { port } = new URL(url)
    // An issuer with a path keeps it on every domain: the endpoints live under it.
    const path = new URL(this.#main).pathname.replace(/\/+$/, '')
    for (const domain of opts.domains) {
      const origin = domain.includes('://') ? domain : `http://${domain}:${port}`
      this.#byOrigin.set(origin, origin + path)
    }
  }

  get main (): string { return this.#main }

  all (): string[] {
    return [this.#main, ...this.#byOrigin.values()]
  }

  of (request: FastifyRequest): string {
    const { headers } = request
    const forwarded = parseForwarded(first(headers.forwarded))
    const host = first(headers['x-zitadel-public-host']) ?? forwarded.host ?? first(headers['x-forwarded-host']) ?? headers.host
    const proto = forwarded.proto ?? first(headers['x-forwarded-proto']) ?? 'http'
    return this.#byOrigin.get(`${proto}://${String(host)}`.toLowerCase()) ?? this.#main
  }

  check (fn: string, issuer: unknown): string {
    if (typeof issuer !== 'string' || !this.all().includes(issuer)) fail(`${fn}: "issuer" must be one of ${this.all().join(', ')}`)
    return issuer
  }
}

/** The first (oldest) value; Node joins repeated headers with commas. */
function first (value: string | string[] | undefined): string | undefined {
  const one = String(value ?? '').split(',')[0]?.trim()
  return one === '' ? undefined : one
}

/** RFC 7239: the first (oldest) element's `host` and `proto`. */
function parseForwarded (value: string | undefined): { host?: string, proto?: string } {
  const out: { host?: string, proto?: string } = {}
  for (const pair of (value ?? '').split(';')) {
    const [name = '', raw = ''] = pair.split('=')
    const key = name.trim().toLowerCase()
    if (key === 'host' || key === 'proto') out[key] = raw.trim().replace(/^"(.*)"$/, '$1')
  }
  return out
}
