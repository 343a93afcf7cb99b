import type { FastifyInstance, FastifyRequest } from 'fastify'
import { userInfo } from '../claims.js'
import type { EmulatorContext } from '../context.js'
import type { User } from '../directory.js'
import { OAuthError, noStore } from '../http.js'
import { preflight } from '../hooks.js'

const BEARER = /^Bearer[ \t]+([A-Za-z0-9._~+/-]+=*)[ \t]*$/i

/**
 * As zitadel internal/api/oidc/userinfo.go: `sub`, the profile and e-mail
 * claims of the token's scope, and the reserved claims (roles per the token's
 * client project).
 */
export function userinfoRoutes (app: FastifyInstance, ctx: EmulatorContext): void {
  const { directory, tokens } = ctx

  async function handler (request: FastifyRequest) {
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1]
    const record = token === undefined ? undefined : await tokens.verify(token, ctx.issuers.of(request))
    if (record === undefined) {
      throw new OAuthError('access_denied', 'access token invalid', 401, { 'www-authenticate': 'Bearer error="invalid_token"' })
    }
    const project = record.projectId === undefined ? undefined : directory.project(record.projectId)
    const info = userInfo(directory, directory.user(record.userId) as User, {
      scopes: record.scopes,
      projectId: project?.id,
      projectRoleAssertion: project?.assertRoles ?? false,
      roleAssertion: true,
      userInfoAssertion: true
    })
    return { sub: record.userId, ...info.standard, ...info.reserved }
  }

  const hooks = ctx.hooksFor('userinfo', { cors: true })
  app.get('/oidc/v1/userinfo', { onRequest: hooks }, async (request, reply) => {
    noStore(reply)
    return handler(request)
  })
  app.post('/oidc/v1/userinfo', { onRequest: hooks }, async (request, reply) => {
    noStore(reply)
    return handler(request)
  })
  app.options('/oidc/v1/userinfo', { onRequest: ctx.cors }, preflight)
}
