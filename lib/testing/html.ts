/** For element content and quoted attribute values. */
function escapeHtml (value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Pages allow inline styles and nothing else: no script, no frames, no framing. */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store'
} as const

const STYLE = 'body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem;color:#222}' +
  'label{display:block;margin:.8rem 0}input{display:block;width:100%;padding:.4rem;box-sizing:border-box}' +
  'button{margin-top:1rem;padding:.5rem 1.2rem}.error{color:#b00020}.note{color:#666;font-size:.85rem}' +
  'dt{margin-top:.8rem;font-weight:600}dd{margin:.2rem 0 0 1rem}code{word-break:break-all}'

function page (title: string, body: string): string {
  return '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>` +
    `<h1>${escapeHtml(title)}</h1>${body}` +
    '<p class="note">Zitadel emulator: for development and tests only, never for production.</p>' +
    '</body></html>\n'
}

interface LoginPageInput {
  authRequestId: string
  appName: string
  username?: string
  error?: string
}

export function loginPage ({ authRequestId, appName, username = '', error }: LoginPageInput): string {
  return page('Sign in', [
    `<p>to continue to <strong>${escapeHtml(appName)}</strong></p>`,
    error === undefined ? '' : `<p class="error" role="alert">${escapeHtml(error)}</p>`,
    '<form method="post" action="login">',
    `<input type="hidden" name="authRequestID" value="${escapeHtml(authRequestId)}">`,
    `<label>Username <input name="username" autocomplete="username" required autofocus value="${escapeHtml(username)}"></label>`,
    '<label>Password <input name="password" type="password" autocomplete="current-password" required></label>',
    '<button type="submit">Sign in</button>',
    '</form>'
  ].join(''))
}

export interface PageDetail {
  label: string
  values: readonly string[]
}

/** Details are often what the request sent, so anyone can put markup in them. */
export function errorPage (title: string, message: string, details: readonly PageDetail[] = []): string {
  const items = details.map(({ label, values }) => `<dt>${escapeHtml(label)}</dt>` +
    (values.length === 0 ? '<dd>(none)</dd>' : values.map((value) => `<dd><code>${escapeHtml(value)}</code></dd>`).join('')))
  return page(title, `<p class="error">${escapeHtml(message)}</p>` + (items.length === 0 ? '' : `<dl>${items.join('')}</dl>`))
}

export function signedOutPage (): string {
  return page('Signed out', '<p>You have been signed out. You can close this window.</p>')
}
