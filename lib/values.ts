/** Small checks on untrusted values, shared by the option, token and key readers. */

/** A JSON object: not null, not an array (what `JSON.parse` gives for `{…}`). */
export function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
