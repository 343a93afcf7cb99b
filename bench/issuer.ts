/**
 * The issuer for every variant, in its own process: the tests' real HTTP
 * issuer (fixtures/issuer.ts, shared with the tests: discovery at Zitadel's path, JWKS at
 * /oauth/v2/keys, Zitadel-shaped claims, request counters). The package's
 * emulator serves the same endpoints, but the bench needs the private key to
 * mint 100 000 tokens quickly (the emulator signs each one on libuv's thread
 * pool and keeps a record of every token), and this issuer hands it out.
 */
import { startIssuer } from '../fixtures/issuer.js'
import { cpuMicros, serve } from './ipc.js'

const issuer = await startIssuer()
const key = issuer.keys[0]
if (key === undefined) throw new Error('the issuer has no key')

serve({
  info: async () => ({
    url: issuer.url,
    projectId: issuer.projectId,
    kid: key.kid,
    publicJwk: key.publicJwk,
    privateKeyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }),
    // A token as the tests mint it: its header and claims are the template.
    sample: await issuer.token({ roles: ['user'] })
  }),
  counts: () => ({ ...issuer.requests }),
  cpu: () => cpuMicros(),
  close: async () => { await issuer.close() }
})
