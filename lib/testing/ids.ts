import { randomBytes, randomInt } from 'node:crypto'

/**
 * Zitadel's resource ids are 18-digit decimal strings (sonyflake ids, e.g.
 * `263783958406348951`); these look alike and never repeat within one emulator.
 */
export class IdGenerator {
  // A random start: two emulators started in the same millisecond do not share ids (or key ids).
  #last = BigInt(Date.now()) * 100_000n + BigInt(randomInt(50_000))
  readonly #taken = new Set<string>()

  next (): string {
    let id: string
    do {
      this.#last += BigInt(1 + randomInt(4096))
      id = this.#last.toString()
    } while (this.#taken.has(id))
    this.#taken.add(id)
    return id
  }

  claim (id: string): boolean {
    if (this.#taken.has(id)) return false
    this.#taken.add(id)
    return true
  }
}

export function randomToken (bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}
