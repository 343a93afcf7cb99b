import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { authenticateClient } from '../client-auth.js'
import type { EmulatorContext } from '../context.js'
import { PAGE_HEADERS, signedOutPage } from '../html.js'
import { OAuthError, PageError, formOf, noStore, queryOf, single, withParams } from '../http.js'

/** The emulator keeps no sign-in session: end_session only redirects. */
export function sessionRoutes (app: FastifyInstance, ctx: EmulatorContext): void {
  const { directory, keys, tokens } = ctx

  /** Only to a post_logout_redirect_uri registered for the client of `client_id` or `id_token_hint` (expired is fine). */
  async function endSession (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const params = request.method === 'POST' ? formOf(request) : queryOf(request)
    const read = (name: string): string | undefined => {
      try {
        return single(params, name)
      } catch {
        throw new PageError('Invalid request', `The parameter ${name} was sent more than once.`)
      }
    }
    const hint = read('id_token_hint')
    let clientId = read('client_id')
    const target = read('post_logout_redirect_uri')
    if (hint !== undefined) {
      const claims = await keys.verify(hint)
      const azp = claims?.iss === ctx.issuers.of(request) ? claims.azp : undefined
      if (typeof azp !== 'string' || (clientId !== undefined && clientId !== azp)) {
        throw new PageError('Invalid request', 'The id_token_hint was not issued by this identity provider to this client.')
      }
      clientId = azp
    }
    if (target === undefined) return reply.headers(PAGE_HEADERS).send(signedOutPage())
    const client = clientId === undefined ? undefined : directory.app(clientId)
    if (client === undefined || !client.postLogoutRedirectUris.includes(target)) {
      throw new PageError('Invalid redirect URI', 'The post_logout_redirect_uri is not registered for this application.')
    }
    return reply.redirect(withParams(target, { state: read('state') }), 302)
  }

  const endSessionHooks = ctx.hooksFor('endSession')
  app.get('/oidc/v1/end_session', { onRequest: endSessionHooks }, endSession)
  app.post('/oidc/v1/end_session', { onRequest: endSessionHooks }, endSession)

  // RFC 7009: 200 whether or not the token was known; only the client it was issued to can revoke it.
  // A JWT or an opaque token alike: zitadel/oidc Revoke reads either to the token id it revokes.
  app.post('/oauth/v2/revoke', { onRequest: ctx.hooksFor('revoke') }, async (request, reply) => {
    const form = formOf(request)
    const issuer = ctx.issuers.of(request)
    const client = await authenticateClient(request, form, directory, issuer)
    const token = single(form, 'token')
    if (token === undefined) throw new OAuthError('invalid_request', 'token is required')
    const record = await tokens.verify(token, issuer)
    if (record !== undefined && record.clientId === client.clientId) tokens.revoke(record)
    return noStore(reply).code(200).send()
  })
}
