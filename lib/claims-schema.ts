import { FormatRegistry, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { invalidOption } from './errors.js'

/**
 * A `format` nobody registered makes TypeBox fail every value, so every token
 * would get 401 with no hint why: a registration error instead.
 */
export function compileClaimsSchema (schema: TSchema): TypeCheck<TSchema> {
  const unknown = formatsOf(schema).filter((f) => !FormatRegistry.Has(f))
  if (unknown.length > 0) {
    invalidOption(`option "claimsSchema" uses the format ${unknown.map((f) => `"${f}"`).join(', ')} that is not registered; add it with FormatRegistry.Set from @sinclair/typebox`)
  }
  try {
    return TypeCompiler.Compile(schema)
  } catch (err) {
    invalidOption(`option "claimsSchema" could not be compiled: ${(err as Error).message}`)
  }
}

function formatsOf (value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) {
    for (const v of value) formatsOf(v, found)
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'format' && typeof v === 'string') found.push(v)
      else formatsOf(v, found)
    }
  }
  return found
}
