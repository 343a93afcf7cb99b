// Checks the package as users get it: the packed tarball, linted by publint and
// @arethetypeswrong/cli, then loaded with import() and require() from a scratch
// project and registered in a Fastify app. Run after `npm run build`.
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

const root = resolve('.')
const bin = (name) => join(root, 'node_modules', '.bin', name)
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: 'inherit', ...opts })
const scratch = mkdtempSync(join(tmpdir(), 'fza-pack-'))

try {
  const [{ filename }] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', scratch], { encoding: 'utf8' }))
  const tarball = join(scratch, filename)

  run(bin('publint'), ['run', '--strict', '--pack', 'npm'])
  run(bin('attw'), [tarball, '--format', 'table-flipped'])

  // A consumer project: the unpacked tarball plus this repo's installed dependencies.
  const modules = join(scratch, 'app', 'node_modules')
  const pkgDir = join(modules, 'fastify-zitadel-auth')
  mkdirSync(pkgDir, { recursive: true })
  run('tar', ['-xzf', tarball, '-C', pkgDir, '--strip-components=1'])
  for (const dep of ['fastify', 'fastify-plugin', 'jose', '@sinclair/typebox', '@fastify/error']) {
    mkdirSync(dirname(join(modules, dep)), { recursive: true })
    symlinkSync(join(root, 'node_modules', dep), join(modules, dep), 'dir')
  }
  const body = (load) => `
    const Fastify = ${load('fastify')}
    const plugin = ${load('fastify-zitadel-auth')}
    const app = Fastify()
    await app.register(plugin, { issuer: 'http://127.0.0.1:9', projectId: '1' })
    await app.ready()
    if (typeof app.zitadel.requireRoles !== 'function') throw new Error('no decorator')
    await app.close()
    const { startZitadelEmulator } = ${load('fastify-zitadel-auth/testing')}
    const idp = await startZitadelEmulator({ quiet: true })
    if (!idp.issuer.startsWith('http://127.0.0.1:')) throw new Error('no emulator')
    await idp.close()
  `
  writeFileSync(join(scratch, 'app', 'esm.mjs'), body((m) => m.endsWith('/testing') ? `(await import('${m}'))` : `(await import('${m}')).default`))
  writeFileSync(join(scratch, 'app', 'cjs.cjs'), `(async () => {${body((m) => `require('${m}')`)}})().catch((e) => { console.error(e); process.exit(1) })`)
  run(process.execPath, ['esm.mjs'], { cwd: join(scratch, 'app') })
  run(process.execPath, ['cjs.cjs'], { cwd: join(scratch, 'app') })
  console.log('package: publint, attw, import and require all pass')
} finally {
  rmSync(scratch, { recursive: true, force: true })
}
