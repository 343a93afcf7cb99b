/** Throws the emulator's setup error: a TypeError that says where it comes from and names what to fix. */
export function fail (message: string): never {
  throw new TypeError(`zitadel emulator: ${message}`)
}
