import Fastify from 'fastify'
import { Type, type Static } from '@sinclair/typebox'
import { expect, test } from 'tstyche'
import zitadelAuth from 'fastify-zitadel-auth'

const MyClaims = Type.Object({ email: Type.String(), tenant: Type.Number() })

declare module 'fastify-zitadel-auth' {
  interface ZitadelCustomClaims extends Static<typeof MyClaims> {}
}

test('custom claims flow into request.user.claims by augmentation', () => {
  const app = Fastify()
  app.register(zitadelAuth, { issuer: 'https://x.zitadel.cloud', projectId: '1', claimsSchema: MyClaims })
  app.get('/', async (request) => {
    expect(request.user?.claims.email).type.toBe<string | undefined>()
    expect(request.user!.claims.tenant).type.toBe<number>()
    expect(request.user!.claims.sub).type.toBe<string>()
    return 'ok'
  })
})
