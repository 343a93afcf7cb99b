import type { FastifyInstance } from 'fastify'
import { userInfo } from '../claims.js'
import { authenticateClient } from '../client-auth.js'
import type { EmulatorContext } from '../context.js'
import type { Project, User } from '../directory.js'
import { formOf, noStore, single } from '../http.js'

/**
 * Token introspection as Zitadel answers it (internal/api/oidc/introspect.go):
 * only apps that authenticate may ask (a secret over HTTP Basic, or a
 * `private_key_jwt` client assertion); a token, JWT or opaque, is active only
 * when it is live (not expired, not revoked) and its `aud` names the asking
 * app or the app's project; the answer carries the token's scope and the
 * user's claims, roles limited to the asking project. Everything that is not
 * a client-authentication failure is `active: false`.
 */
export function introspectRoutes (app: FastifyInstance, ctx: EmulatorContext): void {
  const { directory, tokens } = ctx

  app.post('/oauth/v2/introspect', { onRequest: ctx.hooksFor('introspect') }, async (request, reply) => {
    const form = formOf(request)
    const client = await authenticateClient(request, form, directory, { issuer: ctx.issuer, requireCredentials: true, error: 'unauthorized_client' })
    noStore(reply)
    const token = single(form, 'token')
    const record = token === undefined ? undefined : await tokens.verify(token)
    if (record === undefined || !(record.audience.includes(client.clientId) || record.audience.includes(client.projectId))) {
      return { active: false }
    }
    const project = directory.project(client.projectId) as Project
    const info = userInfo(directory, directory.user(record.userId) as User, {
      scopes: record.scopes,
      projectId: project.id,
      projectRoleAssertion: project.assertRoles,
      roleAssertion: true,
      userInfoAssertion: true,
      currentProjectOnly: true
    })
    return {
      active: true,
      scope: record.scopes.join(' '),
      client_id: record.clientId,
      token_type: 'Bearer',
      exp: record.exp,
      iat: record.iat,
      nbf: record.iat,
      aud: record.audience,
      iss: ctx.issuer,
      jti: record.jti,
      sub: record.userId,
      username: info.standard.preferred_username,
      ...info.standard,
      ...info.reserved
    }
  })
}
