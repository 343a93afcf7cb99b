// tap's reporter for `npm test` (set in .taprc): the full TAP of each test file
// that fails, what passing files skipped, tap's own top-level comments (coverage,
// the `# { total, pass, fail }` line .ci/run counts, the time), and nothing for
// files that pass. tap's terse reporter redraws a progress box, which outside a
// terminal is thousands of lines; `npx tap -R base` shows every test.
import { Transform } from 'node:stream'

export default class QuietReporter extends Transform {
  #rest = ''
  #block = []
  // What indented lines are for: 'collect' (a file's TAP, kept until its result
  // line), 'print' (after a failure) or 'drop' (after a pass).
  #mode = 'drop'

  constructor () {
    super({ decodeStrings: false })
  }

  _transform (chunk, _encoding, done) {
    const lines = (this.#rest + chunk).split('\n')
    this.#rest = lines.pop()
    for (const line of lines) this.#line(line)
    done()
  }

  _flush (done) {
    if (this.#rest !== '') this.#line(this.#rest)
    // A file cut off before its result line (a crash, a bail-out) is shown whole.
    if (this.#block.length > 0) this.push(this.#block.join('\n') + '\n')
    done()
  }

  #line (line) {
    // Indented lines and blank lines belong to the file being reported: its
    // asserts before the result line, its YAML diagnostics after it.
    if (line === '' || line.startsWith(' ')) {
      if (this.#mode === 'print') this.push(line + '\n')
      else if (this.#mode === 'collect') this.#block.push(line)
      return
    }
    if (line.startsWith('# Subtest: ')) {
      this.#block = [line]
      this.#mode = 'collect'
    } else if (line.startsWith('not ok ')) {
      this.push([...this.#block, line].join('\n') + '\n')
      this.#block = []
      this.#mode = 'print'
    } else if (line.startsWith('ok ')) {
      // A passing file still says what it skipped (the browser test without Chromium).
      const skipped = this.#block.filter((l) => /^\s*ok \d+ .* # (SKIP|TODO)/i.test(l)).map((l) => `  ${l.trim()}`)
      if (skipped.length > 0 || / # (SKIP|TODO)/i.test(line)) this.push([line, ...skipped].join('\n') + '\n')
      this.#block = []
      this.#mode = 'drop'
    } else if (line.startsWith('#') || line.startsWith('Bail out!')) {
      this.push(line + '\n')
    }
  }
}
