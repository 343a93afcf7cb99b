import Fastify from 'fastify'
import { expect, test } from 'tstyche'
import zitadelAuth, { ZitadelUser } from 'fastify-zitadel-auth'

/** The app's own user; in a folder of its own, so that this augmentation types no other test. */
class Member {
  constructor (readonly user: ZitadelUser) {}
  get isAdmin (): boolean { return this.user.hasRole('admin') }
}

declare module 'fastify-zitadel-auth' {
  interface ZitadelAuthTypes { user: Member }
}

test('request.user is what formatUser returns, request.zitadelUser the verified user', () => {
  const app = Fastify()
  app.register(zitadelAuth, { issuer: 'https://x.zitadel.cloud', projectId: '1', formatUser: (user) => new Member(user) })
  expect(zitadelAuth).type.not.toBeCallableWith(app, { issuer: 'https://x.zitadel.cloud', projectId: '1', formatUser: (user: ZitadelUser) => ({ id: user.sub }) }, () => {})
  app.get('/', async (request) => {
    expect(request.user).type.toBe<Member | null>()
    expect(request.user!.isAdmin).type.toBe<boolean>()
    expect(request.zitadelUser).type.toBe<ZitadelUser | null>()
    return 'ok'
  })
})
