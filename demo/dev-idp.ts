import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { ApplicationKeyFile, ServiceUserKeyFile, ZitadelEmulator } from '../lib/testing/index.js'

/** Fixed ids, so the API can be configured before the emulator is seeded. */
export const DEMO = {
  orgId: '263783958406283415',
  projectId: '263783958406348951',
  clientId: '263784183128768663@demo'
} as const

export interface DemoSeed {
  /** Origins of the demo API (Swagger UI's redirect page lives under /docs). */
  apiOrigins: string[]
  /** Where the service user's key file is written (Zitadel's format). */
  keyFile?: string
  /**
   * The access tokens the demo's logins and service user get: `'jwt'`
   * (default), or `'opaque'`, Zitadel's default for new apps, which the API
   * checks by introspection. Opaque also adds the API application the plugin
   * introspects with (private_key_jwt) and returns its key file.
   */
  tokens?: 'jwt' | 'opaque'
}

/** Writes a key file as Zitadel's console downloads it. */
export async function writeKeyFile (path: string, keyFile: ServiceUserKeyFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  // The private key of a throw-away local identity; mode 0600 all the same.
  await writeFile(path, JSON.stringify(keyFile, null, 2) + '\n', { mode: 0o600 })
}

/**
 * The demo's Zitadel: one organisation, the project with roles `user` and
 * `admin`, the Swagger UI app (PKCE, both the localhost and 127.0.0.1
 * redirect URIs: they are different URIs to an IdP), alice (user, admin),
 * bob (user), and a service user with the role `user`; with opaque tokens,
 * also the API application that introspects them.
 */
export async function seedDemo (idp: ZitadelEmulator, { apiOrigins, keyFile, tokens = 'jwt' }: DemoSeed) {
  const org = idp.addOrganization({ id: DEMO.orgId, name: 'ACME', domain: 'acme.localhost' })
  const project = idp.addProject({ id: DEMO.projectId, name: 'demo', roles: ['user', 'admin'] })
  idp.addApp({
    projectId: project.id,
    clientId: DEMO.clientId,
    name: 'Swagger UI',
    redirectUris: apiOrigins.map((origin) => `${origin}/docs/static/oauth2-redirect.html`),
    postLogoutRedirectUris: apiOrigins.map((origin) => `${origin}/docs`),
    accessTokenType: tokens
  })
  const alice = idp.addUser({ username: 'alice', password: 'alice', orgId: org.id, grants: [{ projectId: project.id, roles: ['user', 'admin'] }] })
  const bob = idp.addUser({ username: 'bob', password: 'bob', orgId: org.id, grants: [{ projectId: project.id, roles: ['user'] }] })
  const service = await idp.addServiceUser({ username: 'demo-service', orgId: org.id, grants: [{ projectId: project.id, roles: ['user'] }], accessTokenType: tokens })
  // The API application the demo API introspects opaque tokens with, as in Zitadel's console.
  let apiKeyFile: ApplicationKeyFile | undefined
  if (tokens === 'opaque') {
    const apiApp = idp.addApiApp({ projectId: project.id, name: 'demo API', authMethod: 'private_key_jwt' })
    apiKeyFile = await idp.addApiAppKey(apiApp.clientId)
  }
  if (keyFile !== undefined) await writeKeyFile(keyFile, service.keyFile)
  return { org, project, clientId: DEMO.clientId, users: { alice, bob }, serviceUser: service, apiKeyFile }
}
