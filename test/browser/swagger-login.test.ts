import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { chromium, type Locator, type Page } from 'playwright-core'
import { startDemo } from '../helpers/demo.js'

/*
 * What a person does by hand: open Swagger UI, Authorize (a dialog with no
 * client_secret field), log in at the (emulated) Zitadel, call the public
 * route (which then sees the user) and role-protected routes with
 * "Try it out". Real headless Chromium from Debian's package; no browser
 * download.
 *
 * Without Chromium the test says it skipped; with REQUIRE_BROWSER=1 (set by
 * .ci/run) a missing browser is a failure instead.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SCREENSHOTS = join(process.cwd(), '.tap', 'screenshots')

if (!existsSync(CHROMIUM)) {
  if (process.env.REQUIRE_BROWSER === '1') {
    t.fail(`browser test required (REQUIRE_BROWSER=1) but Chromium is not at ${CHROMIUM}`)
  } else {
    t.test('Swagger UI: Authorize with PKCE, then call role-protected routes', {
      skip: `browser test SKIPPED: Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`
    }, async () => {})
  }
} else {
  t.test('Swagger UI: Authorize with PKCE, then call role-protected routes', async (t) => {
    const demo = await startDemo()
    t.teardown(() => demo.close())
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      // As root in a sandbox, and with no network beyond loopback.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    })
    t.teardown(() => browser.close())
    const page = await browser.newPage()
    await page.goto(`${demo.api}/docs`)
    mkdirSync(SCREENSHOTS, { recursive: true })

    const anonymous = await tryIt(page, '/api/public')
    t.equal(anonymous.status, '200', 'the public route without a login')
    t.equal(anonymous.authorization, undefined, 'not logged in: no token sent')
    t.equal(JSON.parse(anonymous.body).user, null, 'and no user')

    await login(page, 'bob', async (dialog) => {
      // Swagger UI has an input for a client secret in every authorization code
      // login; the PKCE login of a public client has none, so the plugin hides it.
      t.ok(await dialog.locator('#client_id_authorizationCode').isVisible(), 'the dialog shows client_id')
      t.equal(await dialog.locator('#client_secret_authorizationCode').count(), 1, 'Swagger UI rendered the client_secret input')
      t.notOk(await dialog.locator('#client_secret_authorizationCode').isVisible(), 'and the plugin\'s stylesheet hides it')
      t.notOk(await dialog.getByText('client_secret:').isVisible(), 'its label too')
      t.ok(await dialog.getByText('no client secret').isVisible(), 'the scheme\'s description says why')
      const shot = join(SCREENSHOTS, 'swagger-ui-authorize-dialog.png')
      await dialog.screenshot({ path: shot })
      t.comment(`screenshot: ${shot}`)
    })
    const bobPublic = await tryIt(page, '/api/public')
    t.equal(bobPublic.status, '200', 'bob: public route')
    t.match(bobPublic.authorization, /^Bearer \S+$/, 'logged in: Swagger UI sends the token to the optionalAuth route')
    t.match(JSON.parse(bobPublic.body).user, { roles: ['user'] }, 'and the route sees bob')
    t.equal((await tryIt(page, '/api/protected')).status, '200', 'bob has the role "user"')
    t.equal((await tryIt(page, '/api/protected/admin')).status, '403', 'bob lacks the role "admin"')
    await logout(page)

    await login(page, 'alice')
    t.equal((await tryIt(page, '/api/protected/admin')).status, '200', 'alice has the role "admin"')
    const shot = join(SCREENSHOTS, 'swagger-ui-alice-admin.png')
    await page.locator('.opblock-get', { has: page.locator('[data-path="/api/protected/admin"]') }).screenshot({ path: shot })
    t.comment(`screenshot: ${shot}`)
  })
}

/** Authorize → login popup at the IdP → back in Swagger UI, authorized. `inspect` looks at the dialog first. */
async function login (page: Page, user: string, inspect?: (dialog: Locator) => Promise<void>): Promise<void> {
  await page.click('button.authorize')
  const dialog = page.locator('.modal-ux')
  await dialog.locator('.auth-btn-wrapper button.authorize').waitFor()
  await inspect?.(dialog)
  const [popup] = await Promise.all([
    page.waitForEvent('popup'),
    dialog.locator('.auth-btn-wrapper button.authorize').click()
  ])
  await popup.waitForLoadState()
  await popup.fill('input[name="username"]', user)
  await popup.fill('input[name="password"]', user)
  await Promise.all([popup.waitForEvent('close'), popup.click('button[type="submit"]')])
  // Authorized: the dialog now offers Logout instead of Authorize.
  await dialog.locator('.auth-btn-wrapper button', { hasText: 'Logout' }).waitFor()
  await dialog.locator('button.close-modal').click()
}

async function logout (page: Page): Promise<void> {
  await page.click('button.authorize')
  const dialog = page.locator('.modal-ux')
  await dialog.locator('.auth-btn-wrapper button', { hasText: 'Logout' }).click()
  await dialog.locator('.auth-btn-wrapper button.authorize').waitFor()
  await dialog.locator('button.close-modal').click()
}

interface Answer {
  /** The status Swagger UI shows. */
  status: string
  /** The response body Swagger UI shows. */
  body: string
  /** The Authorization header of the request Swagger UI sent. */
  authorization: string | undefined
}

/** Expands GET `path`, "Try it out", "Execute", and returns what was sent and shown. */
async function tryIt (page: Page, path: string): Promise<Answer> {
  const op = page.locator('.opblock-get', { has: page.locator(`[data-path="${path}"]`) }).first()
  if (!(await op.locator('.opblock-body').isVisible())) await op.locator('.opblock-summary').click()
  const tryOut = op.locator('button.try-out__btn')
  if ((await tryOut.textContent())?.trim() === 'Try it out') await tryOut.click()
  // Clear an earlier answer, so the status read below is this call's.
  const clear = op.locator('button.btn-clear')
  if (await clear.isVisible()) await clear.click()
  const [request] = await Promise.all([
    page.waitForRequest((req) => new URL(req.url()).pathname === path),
    op.locator('button.execute').click()
  ])
  const status = op.locator('.live-responses-table .response .response-col_status').first()
  await status.waitFor()
  const text = (await status.textContent())?.trim() ?? ''
  const body = (await op.locator('.live-responses-table .response .response-col_description pre').first().textContent()) ?? ''
  return { status: text.replace(/\D.*$/, ''), body, authorization: await request.headerValue('authorization') ?? undefined }
}
