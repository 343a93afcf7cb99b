/**
 * A bounded cache from access tokens to what their verification produced,
 * so that a token seen before skips the signature check. It only stores and
 * finds: what an entry means, and when it may be used, is the verifier's
 * business (lib/verify.ts).
 *
 * The structure is a fixed ring of slots with a Map index and one "used" bit
 * per slot, evicted by the CLOCK (second chance) rule: a hit costs one Map
 * lookup and sets a bit; a new token takes the first slot the hand finds
 * unused since its last pass, clearing the bits it passes over. That keeps
 * what was used recently, like LRU, without moving anything on a hit. (A Map
 * kept in LRU order by a delete and re-insert on every hit slows down badly in
 * V8 once it holds thousands of entries.)
 *
 * The index is keyed by the token's last characters, not the whole token:
 * V8 hashes a string over its full length the first time it is used as a key,
 * which for a 1 KiB token from a fresh request costs several times the rest
 * of a hit. The end of a JWS is its signature, so distinct tokens differ
 * there; the stored token is then compared in full, so only the exact token
 * ever finds its entry. Two tokens that share an ending share a slot: the
 * later one replaces the earlier, which costs a miss and nothing else.
 *
 * Once the cache is full, a new token is admitted only when it is stored for
 * the second time (a "doorkeeper", as in TinyLFU): the first time, only a
 * 32-bit fingerprint of it is noted. A token used once, as in a stream of new
 * tokens, then never evicts one in use, and entries are not built and thrown
 * away at the rate of new tokens: an entry (the token, its claims and user,
 * about 3 KiB) lives long enough to reach V8's old generation, so each one
 * evicted soon after is costly garbage: without this, a stream of new tokens
 * cost more CPU with the cache than without it (bench/). The price
 * is one more full check for each token that is used again, once the cache is
 * full.
 */

/** Characters of the token that key the index: 192 bits of a signature. */
const KEY_LENGTH = 32

export class TokenCache<V> {
  readonly #max: number
  /** The token's ending → its slot. */
  readonly #index = new Map<string, number>()
  // Slots, filled in order up to #max and then reused.
  readonly #keys: string[] = []
  readonly #tokens: string[] = []
  readonly #values: V[] = []
  /** 1: used since the hand last passed the slot. */
  readonly #used: Uint8Array
  #hand = 0
  /**
   * The doorkeeper: fingerprints of tokens seen once while the cache was
   * full, one per cell, a cell chosen by the fingerprint; a new fingerprint
   * overwrites an older one. As many cells as entries, rounded up to a power
   * of two.
   */
  readonly #seen: Uint32Array

  /**
   * `maxEntries`: the most tokens held at any time, at least 1.
   * `admission: false` stores every new token at once, full or not: for
   * values that cost far more to make again than an entry (a network call).
   */
  constructor (maxEntries: number, { admission = true }: { admission?: boolean } = {}) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be an integer of at least 1')
    this.#max = maxEntries
    this.#used = new Uint8Array(maxEntries)
    this.#seen = new Uint32Array(admission ? 2 ** Math.ceil(Math.log2(maxEntries)) : 0)
  }

  /** How many tokens are held. */
  get size (): number {
    return this.#index.size
  }

  /** The value stored for exactly this token, if it is still held. */
  get (token: string): V | undefined {
    const slot = this.#index.get(token.slice(-KEY_LENGTH))
    if (slot === undefined || this.#tokens[slot] !== token) return undefined
    this.#used[slot] = 1
    return this.#values[slot]
  }

  /**
   * Stores `value` for `token`. When the cache is full, a token not stored
   * before is only noted the first time; the second time, it takes the place
   * of a token not used lately. Returns whether the value was stored.
   */
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

  /** Forgets every token. */
  clear (): void {
    this.#index.clear()
    this.#keys.length = 0
    this.#tokens.length = 0
    this.#values.length = 0
    this.#used.fill(0)
    this.#seen.fill(0)
    this.#hand = 0
  }

  /** Has this token (by its ending) been noted before? If not, notes it. */
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

  /** Frees the first slot not used since the hand last passed it, and returns it. */
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

/**
 * 32-bit FNV-1a over the UTF-16 code units. Not a security boundary: two
 * tokens with the same fingerprint only let the second in one sighting early.
 */
function fnv1a (key: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  return hash >>> 0
}
