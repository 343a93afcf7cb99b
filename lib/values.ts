/** What `JSON.parse` gives for `{…}`. */
export function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

/** Iterative: JSON may nest deeper than the call stack. */
export function deepFreeze<T extends object> (root: T): T {
  const stack: object[] = [root]
  for (let value = stack.pop(); value !== undefined; value = stack.pop()) {
    Object.freeze(value)
    for (const key of Object.keys(value)) {
      const child: unknown = (value as Record<string, unknown>)[key]
      if (typeof child === 'object' && child !== null) stack.push(child)
    }
  }
  return root
}
