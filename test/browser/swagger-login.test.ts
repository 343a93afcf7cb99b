import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { chromium, type Page } from 'playwright-core'
import { startDemo } from '../helpers/demo.js'

/*
 * What a person does by hand: open Swagger UI, Authorize, log in at the
 * (emulated) Zitadel, call role-protected routes with "Try it out". Real
 * headless Chromium from Debian's package; no browser download.
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

    await login(page, 'bob')
    t.equal(await tryIt(page, '/api/public'), '200', 'bob: public route')
    t.equal(await tryIt(page, '/api/protected'), '200', 'bob has the role "user"')
    t.equal(await tryIt(page, '/api/protected/admin'), '403', 'bob lacks the role "admin"')
    await logout(page)

    await login(page, 'alice')
    t.equal(await tryIt(page, '/api/protected/admin'), '200', 'alice has the role "admin"')
    mkdirSync(SCREENSHOTS, { recursive: true })
    const shot = join(SCREENSHOTS, 'swagger-ui-alice-admin.png')
    await page.locator('.opblock-get', { has: page.locator('[data-path="/api/protected/admin"]') }).screenshot({ path: shot })
    t.comment(`screenshot: ${shot}`)
  })
}

/** Authorize → login popup at the IdP → back in Swagger UI, authorized. */
async function login (page: Page, user: string): Promise<void> {
  await page.click('button.authorize')
  const dialog = page.locator('.modal-ux')
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

/** Expands GET `path`, "Try it out", "Execute", and returns the status shown. */
async function tryIt (page: Page, path: string): Promise<string> {
  const op = page.locator('.opblock-get', { has: page.locator(`[data-path="${path}"]`) }).first()
  if (!(await op.locator('.opblock-body').isVisible())) await op.locator('.opblock-summary').click()
  const tryOut = op.locator('button.try-out__btn')
  if ((await tryOut.textContent())?.trim() === 'Try it out') await tryOut.click()
  // Clear an earlier answer, so the status read below is this call's.
  const clear = op.locator('button.btn-clear')
  if (await clear.isVisible()) await clear.click()
  await op.locator('button.execute').click()
  const status = op.locator('.live-responses-table .response .response-col_status').first()
  await status.waitFor()
  const text = (await status.textContent())?.trim() ?? ''
  return text.replace(/\D.*$/, '')
}
