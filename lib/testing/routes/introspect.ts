import type { FastifyInstance } from 'fastify'
import { userInfo } from '../claims.js'
import { parseClientCredentials, verifyClient } from '../client-auth.js'
import type { EmulatorContext } from '../context.js'
import type { Project, User } from '../directory.js'
import { OAuthError, formOf, noStore, single } from '../http.js'
import { SCOPES, addOnce } from '../scopes.js'

/**
 * As Zitadel answers (zitadel/oidc pkg/op/server_http.go introspectionHandler,
 * zitadel internal/api/oidc/introspect.go): a live token is active only when
 * its `aud` names the asking app or its project. A PAT gets the caller's
 * client and project added to `aud` and the project's roles to its scope
 * (assertClientScopesForPAT), so every PAT is active for every caller.
 */
export function introspectRoutes (app: FastifyInstance, ctx: EmulatorContext): void {
  const { directory, tokens } = ctx

  app.post('/oauth/v2/introspect', { onRequest: ctx.hooksFor('introspect') }, async (request, reply) => {
    const form = formOf(request)
    const issuer = ctx.issuers.of(request)
    const credentials = parseClientCredentials(request, form)
    if (credentials.secret === undefined && credentials.assertion === undefined) throw new OAuthError('invalid_client', 'client must be authenticated')
    const token = single(form, 'token')
    if (token === undefined) throw new OAuthError('invalid_request', 'token missing')
    const client = await verifyClient(credentials, directory, { issuer, introspection: true })
    noStore(reply)
    const record = await tokens.verify(token, issuer)
    if (record === undefined) return { active: false }
    const project = directory.project(client.projectId) as Project
    const audience = [...record.audience]
    const scopes = [...record.scopes]
    if (record.isPAT) {
      addOnce(audience, client.clientId)
      addOnce(audience, project.id)
      for (const role of project.roles) addOnce(scopes, `${SCOPES.rolePrefix}${role}`)
    }
    if (!(audience.includes(client.clientId) || audience.includes(client.projectId))) return { active: false }
    const info = userInfo(directory, directory.user(record.userId) as User, {
      scopes,
      projectId: project.id,
      projectRoleAssertion: project.assertRoles,
      roleAssertion: true,
      userInfoAssertion: true,
      currentProjectOnly: true
    })
    const answer: Record<string, unknown> = {
      active: true,
      scope: scopes.join(' '),
      client_id: record.clientId,
      token_type: 'Bearer',
      exp: record.exp,
      iat: record.iat,
      auth_time: record.authTime,
      nbf: record.iat,
      aud: audience,
      amr: record.amr.length > 0 ? record.amr : undefined,
      iss: issuer,
      jti: record.jti,
      act: record.actor,
      sub: record.userId,
      username: info.standard.preferred_username,
      ...info.standard,
      ...info.reserved
    }
    // zitadel/oidc IntrospectionResponse fields are omitempty.
    for (const [name, value] of Object.entries(answer)) if (value === undefined || value === '' || value === 0) delete answer[name]
    return answer
  })
}
