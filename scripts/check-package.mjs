// Checks the package as a new user gets it. The working tree is copied as a
// fresh clone would have it (tracked and new files, nothing ignored, so no
// dist/) and packed with `npm pack`, whose prepack builds dist/. The tarball is
// linted by publint and @arethetypeswrong/cli, then installed with npm into two
// new projects:
// - ESM on the latest TypeScript with `tsc --init`'s defaults (types: ["node"]
//   as docs/testing.md says): every ```ts block of the README and of docs/*.md
//   compiles, and the test example of docs/testing.md passes under
//   `node --import tsx --test`; the same TypeScript compiles the type tests
//   and lib/;
// - CommonJS: require() of the package and of its emulator works, and a
//   token the emulator signs passes the plugin.
// Neither project may have jose installed: the plugin and the emulator sign
// and verify with node:crypto, so a production install pulls no JOSE library.
// npm reads its registry for the projects' other packages (fastify, TypeScript,
// tsx, @types/node), preferring its cache.
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const root = resolve('.')
const bin = (name) => join(root, 'node_modules', '.bin', name)
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: 'inherit', ...opts })
const npm = (cwd, ...args) => run('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd })
const scratch = mkdtempSync(join(tmpdir(), 'fza-pack-'))

/** The working tree as `git clone` would give it, with this repo's node_modules linked in for the build. */
function copyTree (dest) {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' }).split('\0')
  for (const file of files) {
    if (file !== '' && existsSync(file)) cpSync(file, join(dest, file), { recursive: true })
  }
  symlinkSync(join(root, 'node_modules'), join(dest, 'node_modules'), 'dir')
}

/** `npm pack` in a tree without dist/: the tarball must carry the built code. */
function pack (dir) {
  const [{ filename, files }] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', scratch], { cwd: dir, encoding: 'utf8' }))
  const paths = new Set(files.map((f) => f.path))
  for (const needed of ['dist/esm/index.js', 'dist/esm/index.d.ts', 'dist/cjs/index.js', 'dist/cjs/index.d.ts', 'dist/cjs/package.json', 'dist/esm/testing/index.js', 'dist/cjs/testing/index.js']) {
    if (!paths.has(needed)) throw new Error(`the packed tarball lacks ${needed}: prepack did not build`)
  }
  for (const path of paths) {
    if (!path.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(path)) throw new Error(`the packed tarball carries ${path}`)
  }
  return join(scratch, filename)
}

/** The user documentation: the README, then docs/*.md by name. */
const docFiles = () => ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)]

/** The ```ts blocks of the user documentation, each with its file and the `#` or `##` heading it sits under. */
function docBlocks () {
  const blocks = []
  for (const file of docFiles()) {
    let heading = ''
    let block = null
    for (const line of readFileSync(join(root, file), 'utf8').split('\n')) {
      if (block !== null) {
        if (line === '```') { blocks.push({ file, heading, code: block.join('\n') + '\n' }); block = null } else block.push(line)
      } else if (/^##? /.test(line)) heading = line.replace(/^##? /, '')
      else if (line === '```ts') block = []
    }
  }
  return blocks
}

/**
 * A README or docs fragment made a module: what it uses without declaring
 * (`app`, the option values, the imports of the examples) is declared in front.
 */
function asModule (code) {
  const has = (re) => re.test(code)
  const prelude = []
  if (!has(/^import Fastify /m)) prelude.push("import Fastify from 'fastify'")
  if (!has(/^import zitadelAuth /m)) prelude.push("import zitadelAuth from 'fastify-zitadel-auth'")
  if (!has(/const app = /)) prelude.push('const app = Fastify()')
  for (const name of ['issuer', 'projectId', 'clientId']) {
    if (!has(new RegExp(`const ${name} = `))) prelude.push(`const ${name} = '${name === 'issuer' ? 'https://my-instance.zitadel.cloud' : '263783958406348951'}'`)
  }
  prelude.push('void zitadelAuth; void issuer; void projectId; void clientId')
  return prelude.join('\n') + '\n' + code
}

/** Fails if anything installed in `dir` is the package jose, naming where it is. */
function assertNoJose (dir) {
  const found = JSON.parse(execFileSync('npm', ['query', '#jose'], { cwd: dir, encoding: 'utf8' })).map((p) => p.location)
  if (found.length > 0) throw new Error(`${dir} has jose installed (${found.join(', ')}): the package must run without it`)
}

function esmProject (tarball) {
  const dir = join(scratch, 'esm')
  mkdirSync(join(dir, 'src'), { recursive: true })
  mkdirSync(join(dir, 'test'))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-api', private: true, type: 'module' }))
  npm(dir, 'install', tarball, 'fastify@5', '@fastify/swagger', '@fastify/swagger-ui', '@fastify/rate-limit', '@fastify/auth', 'undici', '@fastify/under-pressure', '@fastify/cookie', '@fastify/websocket', 'prom-client', '@opentelemetry/api', 'ioredis')
  npm(dir, 'install', '--save-dev', 'typescript@latest', 'tsx', '@types/node')
  assertNoJose(dir)
  const tsc = join(dir, 'node_modules', '.bin', 'tsc')
  run(tsc, ['--init'], { cwd: dir, stdio: 'ignore' })
  const tsconfig = join(dir, 'tsconfig.json')
  const config = readFileSync(tsconfig, 'utf8')
  if (!config.includes('"types": [],')) throw new Error('tsc --init no longer writes "types": []; update docs/testing.md and this check')
  // Blocks that change the type of request.user (ZitadelAuthTypes) would change it for every other block: each gets a project of its own.
  writeFileSync(tsconfig, config.replace('"types": [],', '"types": ["node"],').replace(/^\{/, '{\n  "exclude": ["own-*"],'))

  const blocks = docBlocks()
  const testing = blocks.filter((b) => b.file === 'docs/testing.md' && b.heading === 'Testing your own API')
  if (testing.length !== 1) throw new Error('expected one ```ts block under "# Testing your own API" in docs/testing.md')
  const own = []
  blocks.forEach((b, i) => {
    if (b === testing[0]) return
    const name = `${b.file.replace(/\.md$/, '').replace('/', '-')}-${i}.ts`
    if (!/interface ZitadelAuthTypes\b/.test(b.code)) {
      writeFileSync(join(dir, 'src', name), asModule(b.code))
      return
    }
    const project = join(dir, `own-${i}`)
    mkdirSync(project)
    writeFileSync(join(project, name), asModule(b.code))
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ extends: '../tsconfig.json', include: ['.'], exclude: [] }))
    own.push(project)
  })
  writeFileSync(join(dir, 'test', 'api.test.ts'), testing[0].code)
  const perFile = docFiles().map((file) => [file, blocks.filter((b) => b.file === file).length]).filter(([, n]) => n > 0)
  console.log(`package: the README's and docs' ${blocks.length} TypeScript blocks (${perFile.map(([file, n]) => `${file} ${n}`).join(', ')}; the test example of docs/testing.md among them), compiled by TypeScript ${execFileSync(tsc, ['--version'], { encoding: 'utf8' }).trim().replace('Version ', '')} with tsc --init's settings`)
  run(tsc, ['--noEmit'], { cwd: dir })
  for (const project of own) run(tsc, ['--noEmit', '-p', project], { cwd: dir })
  // TSTyche cannot load TypeScript 7 yet (it reads lib/typescript.js, which 7
  // does not ship), so 7 at least compiles the type tests' files, and lib/
  // through them, under exactOptionalPropertyTypes.
  run(tsc, ['-p', join(root, 'test', 'types', 'tsconfig.json'), '--noEmit'], { cwd: root })
  run(tsc, ['-p', join(root, 'test', 'types', 'custom-user', 'tsconfig.json'), '--noEmit'], { cwd: root })
  run(process.execPath, ['--import', 'tsx', '--test', 'test/api.test.ts'], { cwd: dir })
}

function cjsProject (tarball) {
  const dir = join(scratch, 'cjs')
  mkdirSync(dir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-cjs-api', private: true, type: 'commonjs' }))
  npm(dir, 'install', tarball, 'fastify@5')
  assertNoJose(dir)
  writeFileSync(join(dir, 'index.js'), `
    const Fastify = require('fastify')
    const { fastifyZitadelAuth } = require('fastify-zitadel-auth')
    const { startZitadelEmulator } = require('fastify-zitadel-auth/testing')
    ;(async () => {
      const idp = await startZitadelEmulator({ quiet: true })
      const org = idp.addOrganization({ name: 'ACME' })
      const project = idp.addProject({ name: 'api', roles: ['user'] })
      idp.addApp({ projectId: project.id, name: 'web', redirectUris: ['http://localhost:3000/callback'] })
      const alice = idp.addUser({ username: 'alice', password: 'secret', orgId: org.id, grants: [{ projectId: project.id, roles: ['user'] }] })
      const app = Fastify()
      await app.register(fastifyZitadelAuth, { issuer: idp.issuer, projectId: project.id })
      app.get('/me', { preHandler: app.zitadel.requireAuth() }, async (req) => req.user)
      const res = await app.inject('/me')
      if (res.statusCode !== 401) throw new Error('requireAuth let a request without a token through: ' + res.statusCode)
      const token = await idp.mintAccessToken({ userId: alice.id })
      const ok = await app.inject({ url: '/me', headers: { authorization: 'Bearer ' + token } })
      if (ok.statusCode !== 200) throw new Error('a token the emulator signed did not pass: ' + ok.statusCode + ' ' + ok.body)
      await app.close()
      await idp.close()
    })().catch((e) => { console.error(e); process.exit(1) })
  `)
  run(process.execPath, ['index.js'], { cwd: dir })
}

try {
  const tree = join(scratch, 'tree')
  copyTree(tree)
  const tarball = pack(tree)
  run(bin('publint'), ['run', tarball, '--strict'])
  run(bin('attw'), [tarball, '--format', 'table-flipped'])
  esmProject(tarball)
  cjsProject(tarball)
  console.log('package: packed from a clean tree; publint, attw, an ESM TypeScript project and a CommonJS project, neither with jose installed, all pass')
} finally {
  rmSync(scratch, { recursive: true, force: true })
}
