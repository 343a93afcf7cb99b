import Fastify from 'fastify'
import { expect, test } from 'tstyche'
import zitadelAuth, { type ZitadelAuthOptions } from 'fastify-zitadel-auth'

// Under exactOptionalPropertyTypes (this folder's tsconfig, as `tsc --init` sets it), an
// optional option still takes a value that may be undefined, as configuration from
// the environment is.
const app = Fastify()
const fromEnv = (name: string): string | undefined => process.env[name]

test('optional options accept undefined under exactOptionalPropertyTypes', () => {
  expect(app.register).type.toBeCallableWith(zitadelAuth, {
    issuer: 'https://x.zitadel.cloud',
    projectId: '1',
    clientId: fromEnv('CLIENT_ID'),
    allowedSubjects: undefined,
    clockTolerance: undefined,
    introspection: { clientId: fromEnv('API_CLIENT_ID'), clientSecret: fromEnv('API_SECRET'), cacheMaxAge: undefined },
    openapi: { securityScheme: undefined }
  })
  expect<ZitadelAuthOptions>().type.toBeAssignableFrom({ issuer: 'https://x', projectId: '1', realm: undefined })
  expect(app.register).type.not.toBeCallableWith(zitadelAuth, { issuer: undefined, projectId: '1' })
})
