import type { EmulatorContext } from './context.js'
import type { App, Project, User } from './directory.js'
import { OAuthError, single } from './http.js'
import { parseScope } from './scopes.js'
import { isActiveUser, type Actor, type TokenRecord, type TokenRequest } from './tokens.js'

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'

/** RFC 8693 §3 token types, and Zitadel's own for a user id. */
const TOKEN_TYPES = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  userId: 'urn:zitadel:params:oauth:token-type:user_id'
} as const

/** What a subject or actor token stands for (zitadel token_exchange.go exchangeToken). */
interface ExchangeToken {
  issuer: string
  user: User
  audience: readonly string[]
  scopes: readonly string[]
  authTime: number
  amr: readonly string[]
  actor: Actor | undefined
}

/**
 * Token exchange (RFC 8693) as zitadel internal/api/oidc/token_exchange.go
 * does it: impersonation writes the actor's `act: { iss, sub }`, `auth_time`
 * and `amr` into the new tokens; a requested ID token comes in `access_token`
 * with `token_type` `N_A`. Not reproduced: ID tokens and JWTs as subject
 * tokens, refresh tokens, delegation policies (impersonation is always allowed).
 */
export async function tokenExchange (form: URLSearchParams, client: App, issuer: string, ctx: EmulatorContext): Promise<Record<string, unknown>> {
  const { directory, tokens } = ctx
  // zitadel/oidc pkg/op/server_http.go tokenExchangeHandler: the request's shape first.
  const subjectToken = single(form, 'subject_token')
  const subjectType = single(form, 'subject_token_type')
  const actorToken = single(form, 'actor_token')
  const actorType = single(form, 'actor_token_type')
  const requested = single(form, 'requested_token_type') ?? TOKEN_TYPES.accessToken
  if (subjectToken === undefined) throw new OAuthError('invalid_request', 'subject_token missing')
  if (subjectType === undefined) throw new OAuthError('invalid_request', 'subject_token_type missing')
  if (subjectType !== TOKEN_TYPES.accessToken && subjectType !== TOKEN_TYPES.userId) throw new OAuthError('invalid_request', 'subject_token_type is not supported by the emulator (access_token or Zitadel\'s user_id)')
  if (!(Object.values(TOKEN_TYPES) as string[]).includes(requested) || requested === TOKEN_TYPES.userId) throw new OAuthError('invalid_request', 'requested_token_type is not supported')
  if (actorType !== undefined && actorType !== TOKEN_TYPES.accessToken) throw new OAuthError('invalid_request', 'actor_token_type is not supported by the emulator (access_token)')
  if (form.has('resource')) throw new OAuthError('invalid_target', 'resource parameter not supported')

  async function verify (token: string, type: string): Promise<ExchangeToken | undefined> {
    if (type === TOKEN_TYPES.userId) {
      const user = directory.user(token)
      return isActiveUser(user) ? { issuer, user, audience: [], scopes: [], authTime: 0, amr: [], actor: undefined } : undefined
    }
    const record = await tokens.verify(token, issuer)
    return record === undefined ? undefined : fromRecord(record, directory.user(record.userId) as User)
  }

  const subject = await verify(subjectToken, subjectType)
  if (subject === undefined) throw new OAuthError('invalid_request', 'subject_token invalid')
  let actor = subject
  const impersonation = subjectType === TOKEN_TYPES.userId || actorToken !== undefined
  if (impersonation) {
    const found = actorToken === undefined || actorType === undefined ? undefined : await verify(actorToken, actorType)
    if (found === undefined) throw new OAuthError('invalid_request', 'actor_token invalid')
    actor = found
  }
  const audience = exchangeAudience(form.getAll('audience').filter((a) => a !== ''), subject.audience, actor.audience)
  let scopes = parseScope(single(form, 'scope'))
  if (scopes.length === 0) scopes = [...subject.scopes]
  if (scopes.length === 0) scopes = [...actor.scopes]
  if (scopes.length === 0) throw new OAuthError('invalid_request', 'the scope of your request is missing')

  const project = directory.project(client.projectId) as Project
  const request: TokenRequest = {
    issuer,
    user: subject.user,
    clientId: client.clientId,
    projectId: project.id,
    scopes,
    audience,
    accessTokenType: requested === TOKEN_TYPES.jwt ? 'jwt' : 'opaque',
    projectRoleAssertion: project.assertRoles,
    accessTokenRoleAssertion: true,
    authTime: actor.authTime,
    amr: [...actor.amr],
    // Impersonation nests the actor's own actor (zitadel exchangeToken.nestedActor).
    actor: impersonation ? { iss: actor.issuer, sub: actor.user.id, ...(actor.actor === undefined ? {} : { act: actor.actor }) } : subject.actor,
    idToken: scopes.includes('openid') ? { nonce: undefined, sid: undefined, roleAssertion: true, userInfoAssertion: true } : undefined
  }
  if (requested === TOKEN_TYPES.idToken) {
    const idToken = await tokens.idToken(request, { nonce: undefined, sid: undefined, roleAssertion: true, userInfoAssertion: true }, undefined)
    return { access_token: idToken, issued_token_type: TOKEN_TYPES.idToken, token_type: 'N_A', expires_in: ctx.idTokenLifetime, scope: scopes.join(' ') }
  }
  const issued = await tokens.issue(request)
  return {
    access_token: issued.accessToken,
    issued_token_type: requested,
    token_type: 'Bearer',
    expires_in: issued.expiresIn,
    scope: scopes.join(' '),
    id_token: issued.idToken
  }
}

function fromRecord (record: TokenRecord, user: User): ExchangeToken {
  return { issuer: record.issuer, user, audience: record.audience, scopes: record.scopes, authTime: record.authTime, amr: record.amr, actor: record.actor }
}

/** zitadel token_exchange.go validateTokenExchangeAudience: the subject's, else the actor's, or a part of theirs. */
function exchangeAudience (requested: string[], subject: readonly string[], actor: readonly string[]): string[] {
  if (requested.length === 0) return [...(subject.length > 0 ? subject : actor)]
  const allowed = [...subject, ...actor]
  const foreign = requested.find((a) => !allowed.includes(a))
  if (foreign !== undefined) throw new OAuthError('invalid_target', `audience "${foreign}" not found in subject or actor token`)
  return requested
}
