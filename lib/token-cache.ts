/**
 * Tokens → verification results, so a token seen before skips the signature
 * check; when an entry may be used is the verifier's business (lib/verify.ts).
 *
 * A fixed ring of slots evicted by CLOCK (second chance): close to LRU, but a
 * hit only sets a bit, where a Map kept in LRU order by delete and re-insert
 * slows down in V8 as it grows.
 *
 * The index is keyed by the token's last characters: V8 hashes a string key
 * over its full length on first use, and a JWS ends in its signature, so
 * distinct tokens differ there. The stored token is compared in full; tokens
 * sharing an ending share a slot, which costs a miss and nothing else.
 *
 * Once full, a new token is admitted on its second store only (a TinyLFU
 * "doorkeeper" notes a fingerprint the first time): a stream of one-off
 * tokens then neither evicts tokens in use nor churns entries that have
 * reached V8's old generation, where evicting them is costly garbage.
 */

/** Characters of the token that key the index: 192 bits of a signature. */
const KEY_LENGTH = 32

export class TokenCache<V> {
  readonly #max: number
  readonly #index = new Map<string, number>()
  readonly #keys: string[] = []
  readonly #tokens: string[] = []
  readonly #values: V[] = []
  /** 1: used since the hand last passed the slot. */
  readonly #used: Uint8Array
  #hand = 0
  /** Doorkeeper fingerprints, in the cell the fingerprint picks; a newer one overwrites. */
  readonly #seen: Uint32Array

  /** `admission: false` skips the doorkeeper: for values far dearer than an entry (a network call). */
  constructor (maxEntries: number, { admission = true }: { admission?: boolean } = {}) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be an integer of at least 1')
    this.#max = maxEntries
    this.#used = new Uint8Array(maxEntries)
    this.#seen = new Uint32Array(admission ? 2 ** Math.ceil(Math.log2(maxEntries)) : 0)
  }

  get size (): number {
    return this.#index.size
  }

  get (token: string): V | undefined {
    const slot = this.#index.get(token.slice(-KEY_LENGTH))
    if (slot === undefined || this.#tokens[slot] !== token) return undefined
    this.#used[slot] = 1
    return this.#values[slot]
  }

  /** False when the doorkeeper only noted the token. */
  set (token: string, value: V): boolean {
    const key = token.slice(-KEY_LENGTH)
    let slot = this.#index.get(key)
    if (slot === undefined) {
      if (this.#tokens.length < this.#max) {
        slot = this.#tokens.length
      } else {
        if (!this.#admit(key)) return false
        slot = this.#evict()
      }
      this.#index.set(key, slot)
      this.#keys[slot] = key
    }
    this.#tokens[slot] = token
    this.#values[slot] = value
    this.#used[slot] = 0
    return true
  }

  clear (): void {
    this.#index.clear()
    this.#keys.length = 0
    this.#tokens.length = 0
    this.#values.length = 0
    this.#used.fill(0)
    this.#seen.fill(0)
    this.#hand = 0
  }

  #admit (key: string): boolean {
    if (this.#seen.length === 0) return true
    const hash = fnv1a(key)
    const cell = hash & (this.#seen.length - 1)
    // The top bit set: never 0, which marks an empty cell (there are at most 2^20 cells).
    const print = (hash | 0x80000000) >>> 0
    if (this.#seen[cell] === print) {
      this.#seen[cell] = 0
      return true
    }
    this.#seen[cell] = print
    return false
  }

  #evict (): number {
    let slot = this.#hand
    while (this.#used[slot] === 1) {
      this.#used[slot] = 0
      slot = slot + 1 === this.#max ? 0 : slot + 1
    }
    this.#hand = slot + 1 === this.#max ? 0 : slot + 1
    this.#index.delete(this.#keys[slot] as string)
    return slot
  }
}

/** Not a security boundary: a collision only admits a token one sighting early. */
function fnv1a (key: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  return hash >>> 0
}
