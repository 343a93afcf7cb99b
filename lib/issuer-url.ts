/** As Zitadel writes `iss` and discovery's `issuer`: origin and path, no trailing slash. */
export function normaliseIssuer (value: unknown): { issuer: string } | { problem: 'not an http(s) URL' | 'credentials, query or fragment' } {
  let url: URL
  try {
    url = new URL(value as string)
  } catch {
    return { problem: 'not an http(s) URL' }
  }
  if (typeof value !== 'string' || (url.protocol !== 'http:' && url.protocol !== 'https:')) return { problem: 'not an http(s) URL' }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return { problem: 'credentials, query or fragment' }
  return { issuer: url.origin + url.pathname.replace(/\/+$/, '') }
}

export function isLoopbackHost (host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h)
}
