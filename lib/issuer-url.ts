/**
 * Issuer URLs as Zitadel writes them in `iss` and in discovery, for the
 * plugin's options and the emulator's alike.
 */

/**
 * Origin and path, no trailing slash, from an absolute http(s) URL without
 * credentials, query or fragment; otherwise what is wrong with it, for the
 * caller's error message.
 */
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

/** `localhost` (and its subdomains), 127.0.0.0/8 or ::1, with or without IPv6 brackets, in any case. */
export function isLoopbackHost (host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h)
}
