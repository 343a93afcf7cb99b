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
 * V8 once it holds thousands of entries; see issue 4.)
 *
 * The index is keyed by the token's last characters, not the whole token:
 * V8 hashes a string over its full length the first time it is used as a key,
 * which for a 1 KiB token from a fresh request costs several times the rest
 * of a hit. The end of a JWS is its signature, so distinct tokens differ
 * there; the stored token is then compared in full, so only the exact token
 * ever finds its entry. Two tokens that share an ending share a slot: the
 * later one replaces the earlier, which costs a miss and nothing else.
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

  /** `maxEntries`: the most tokens held at any time, at least 1. */
  constructor (maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be an integer of at least 1')
    this.#max = maxEntries
    this.#used = new Uint8Array(maxEntries)
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

  /** Stores `value` for `token`, evicting a token not used lately when the cache is full. */
  set (token: string, value: V): void {
    const key = token.slice(-KEY_LENGTH)
    let slot = this.#index.get(key)
    if (slot === undefined) {
      slot = this.#tokens.length < this.#max ? this.#tokens.length : this.#evict()
      this.#index.set(key, slot)
      this.#keys[slot] = key
    }
    this.#tokens[slot] = token
    this.#values[slot] = value
    this.#used[slot] = 0
  }

  /** Forgets every token. */
  clear (): void {
    this.#index.clear()
    this.#keys.length = 0
    this.#tokens.length = 0
    this.#values.length = 0
    this.#used.fill(0)
    this.#hand = 0
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
