import Fastify, { type FastifyInstance, type onRequestHookHandler } from 'fastify'
import t from 'tap'
import zitadelAuth, { fastifyZitadelAuth, ZitadelUser } from '../lib/index.js'
import pluginDefault from '../lib/plugin.js'
import { appFor, bearer, FAST, issuerFor, setup, type Teardown } from './helpers/app.js'
import { ORG_ID, PROJECT_ID, type TestIssuer } from '../fixtures/issuer.js'

const SUB = '263785111111111111'
const BAD = 'not-a-jwt'

/** A token signed by a key the issuer does not publish, under the kid of the one it does. */
async function forged (issuer: TestIssuer, roles: string[] = []): Promise<string> {
  const rogue = await issuer.addKey('RS256', { publish: false })
  return issuer.token({ roles, key: rogue, header: { kid: issuer.keys[0]?.kid } })
}

/** A bare app with the plugin, for tests that need to declare routes before ready(). */
async function bareApp (t: Teardown, issuer: TestIssuer): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, ...FAST })
  return app
}

t.test('a token is checked on public routes too; request.user is set or null', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/whoami', async (req) => ({ isNull: req.user === null, isUser: req.user instanceof ZitadelUser }))
    }
  })
  const bad = await app.inject({ url: '/public', headers: bearer(BAD) })
  t.equal(bad.statusCode, 401, 'an invalid token on a public route is refused')
  t.equal(bad.json().code, 'ZITADEL_AUTH_TOKEN_MALFORMED')
  t.match(bad.headers['www-authenticate'], /^Bearer realm="api", error="invalid_token"/)

  const forgedRes = await app.inject({ url: '/public', headers: bearer(await forged(issuer)) })
  t.equal(forgedRes.statusCode, 401, 'a forged token on a public route is refused')
  t.equal(forgedRes.json().code, 'ZITADEL_AUTH_SIGNATURE_INVALID')

  const good = await app.inject({ url: '/public', headers: bearer(await issuer.token()) })
  t.equal(good.statusCode, 200)
  t.strictSame(good.json(), { public: true, user: SUB }, 'a valid token sets request.user on a public route')

  const anonymous = await app.inject({ url: '/public' })
  t.equal(anonymous.statusCode, 200)
  t.strictSame(anonymous.json(), { public: true, user: null })
  const who = await app.inject({ url: '/whoami' })
  t.strictSame(who.json(), { isNull: true, isUser: false }, 'no token: request.user === null, not undefined')
  const whoToken = await app.inject({ url: '/whoami', headers: bearer(await issuer.token()) })
  t.strictSame(whoToken.json(), { isNull: false, isUser: true })

  const basic = await app.inject({ url: '/whoami', headers: { authorization: 'Basic dXNlcjpwYXNz' } })
  t.equal(basic.statusCode, 200, 'another scheme is not ours to judge')
  t.strictSame(basic.json(), { isNull: true, isUser: false })
})

t.test('a Bearer header without a usable token is 400 invalid_request, on any route', async (t) => {
  const { app } = await setup(t)
  for (const authorization of ['Bearer', 'Bearer ', 'Bearer a b', 'Bearer "x"']) {
    const res = await app.inject({ url: '/public', headers: { authorization } })
    t.equal(res.statusCode, 400, `${JSON.stringify(authorization)}: 400`)
    t.equal(res.json().code, 'ZITADEL_AUTH_BAD_REQUEST')
    t.match(res.headers['www-authenticate'], /error="invalid_request"/)
  }
})

t.test('HEAD requests are guarded like their GET', async (t) => {
  const { issuer, app } = await setup(t)
  const me = await app.inject({ method: 'HEAD', url: '/me' })
  t.equal(me.statusCode, 401, 'HEAD /me without a token')
  t.equal(me.headers['www-authenticate'], 'Bearer realm="api"')
  t.equal(me.body, '', 'HEAD has no body')

  const admin = await app.inject({ method: 'HEAD', url: '/admin', headers: bearer(await issuer.token()) })
  t.equal(admin.statusCode, 403, 'HEAD /admin without the role')
  t.match(admin.headers['www-authenticate'], /error="insufficient_scope"/)

  const pub = await app.inject({ method: 'HEAD', url: '/public', headers: bearer(BAD) })
  t.equal(pub.statusCode, 401, 'HEAD /public with a bad token')
  t.match(pub.headers['www-authenticate'], /error="invalid_token"/)

  const health = await app.inject({ method: 'HEAD', url: '/health', headers: bearer(BAD) })
  t.equal(health.statusCode, 200, 'HEAD /health with a bad token: opted out like its GET')

  const ok = await app.inject({ method: 'HEAD', url: '/me', headers: bearer(await issuer.token()) })
  t.equal(ok.statusCode, 200, 'HEAD /me with a valid token')
})

t.test('the hook is added once to each route, HEAD routes included, and is app.zitadel.authenticate', async (t) => {
  const issuer = await issuerFor(t)
  const app = await bareApp(t, issuer)
  const seen = new Map<string, unknown>()
  app.addHook('onRoute', (route) => { seen.set(`${String(route.method)} ${route.url}`, route.onRequest) })
  const mine: onRequestHookHandler = (_req, _reply, done) => done()
  app.get('/plain', async () => ({}))
  app.get('/hooked', { onRequest: mine }, async () => ({}))
  app.get('/skipped', { config: { zitadel: false } }, async () => ({}))
  await app.ready()

  const { authenticate } = app.zitadel
  t.equal(authenticate.name, 'authenticate', 'the hook keeps its name for stack traces')
  t.strictSame(seen.get('GET /plain'), [authenticate])
  t.strictSame(seen.get('HEAD /plain'), [authenticate], 'the HEAD route gets the hook exactly once')
  t.strictSame(seen.get('GET /hooked'), [authenticate, mine], 'ours first, then the route\'s own')
  t.strictSame(seen.get('HEAD /hooked'), [authenticate, mine])
  t.equal(seen.get('GET /skipped'), undefined, 'an opted-out route gets no hook')
  t.equal(seen.get('HEAD /skipped'), undefined)
})

t.test('config: { zitadel: false } skips verification', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/health-user', { config: { zitadel: false } }, async (req) => ({ isNull: req.user === null }))
    }
  })
  const health = await app.inject({ url: '/health', headers: bearer(BAD) })
  t.equal(health.statusCode, 200, 'a bad token on /health is ignored')
  t.strictSame(health.json(), { ok: true })
  const forgedRes = await app.inject({ url: '/health', headers: bearer(await forged(issuer, ['admin'])) })
  t.equal(forgedRes.statusCode, 200)
  const bare = await app.inject({ url: '/health', headers: { authorization: 'Bearer' } })
  t.equal(bare.statusCode, 200, 'not even the header syntax is checked')
  const user = await app.inject({ url: '/health-user', headers: bearer(await issuer.token({ roles: ['admin'] })) })
  t.equal(user.statusCode, 200)
  t.strictSame(user.json(), { isNull: true }, 'request.user stays null there, even with a valid token')
})

t.test('config.zitadel false together with a zitadel guard fails registration', async (t) => {
  const issuer = await issuerFor(t)

  await t.test('declared at the top level: the declaration throws', async (t) => {
    const app = await bareApp(t, issuer)
    let caught: unknown
    try {
      app.get('/x', { config: { zitadel: false }, preHandler: app.zitadel.requireAuth() }, async () => ({}))
    } catch (err) {
      caught = err
    }
    t.type(caught, TypeError)
    t.equal((caught as { code?: string }).code, 'ZITADEL_AUTH_INVALID_OPTION')
    t.match((caught as Error).message, /GET \/x/, 'the message names the route')
  })

  for (const hook of ['onRequest', 'preParsing', 'preValidation'] as const) {
    await t.test(`a guard in ${hook} is caught too`, async (t) => {
      const app = await bareApp(t, issuer)
      t.throws(() => app.get('/x', { config: { zitadel: false }, [hook]: app.zitadel.requireRoles(['admin']) }, async () => ({})),
        { code: 'ZITADEL_AUTH_INVALID_OPTION' })
    })
  }

  for (const [name, preHandler] of [
    ['requireAuth', (app: FastifyInstance) => app.zitadel.requireAuth()],
    ['requireRoles in an array', (app: FastifyInstance) => [async () => {}, app.zitadel.requireRoles(['admin'])]],
    ['requireScopes', (app: FastifyInstance) => app.zitadel.requireScopes(['read'])]
  ] as const) {
    await t.test(`in a plugin, ${name}: app.ready() rejects`, async (t) => {
      const app = await bareApp(t, issuer)
      app.register(async (child) => {
        child.get('/x', { config: { zitadel: false }, preHandler: preHandler(child) }, async () => ({}))
      })
      await t.rejects(async () => { await app.ready() }, { code: 'ZITADEL_AUTH_INVALID_OPTION' })
    })
  }

  await t.test('config.zitadel false with a preHandler that is no guard is fine', async (t) => {
    const app = await bareApp(t, issuer)
    let ran = false
    app.get('/x', { config: { zitadel: false }, preHandler: async () => { ran = true } }, async () => ({ ok: true }))
    await app.ready()
    const res = await app.inject({ url: '/x', headers: bearer(BAD) })
    t.equal(res.statusCode, 200)
    t.equal(ran, true)
  })
})

t.test('config.zitadel other than false or absent is refused', async (t) => {
  const issuer = await issuerFor(t)
  for (const value of ['off', true, 0, null, 'false']) {
    await t.test(`config.zitadel: ${JSON.stringify(value)}`, async (t) => {
      const app = await bareApp(t, issuer)
      app.register(async (child) => {
        child.get('/x', { config: { zitadel: value as false } }, async () => ({}))
      })
      await t.rejects(async () => { await app.ready() }, { code: 'ZITADEL_AUTH_INVALID_OPTION' })
    })
  }
})

t.test('a route\'s own onRequest hooks still run, after ours', async (t) => {
  const calls: string[] = []
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.get('/single', {
        onRequest: async (req) => { calls.push(`single:${req.user?.sub ?? 'null'}`) }
      }, async (req) => ({ sub: req.user?.sub }))
      app.get('/array', {
        onRequest: [
          async (req) => { calls.push(`first:${req.user?.sub ?? 'null'}`) },
          (req, _reply, done) => { calls.push(`second:${req.user?.sub ?? 'null'}`); done() }
        ]
      }, async () => ({ ok: true }))
      app.get('/guarded', {
        onRequest: async (req) => { calls.push(`guarded:${req.user?.sub ?? 'null'}`) },
        preHandler: app.zitadel.requireAuth()
      }, async () => ({ ok: true }))
      app.get('/opted-out', {
        config: { zitadel: false },
        onRequest: async (req) => { calls.push(`opted-out:${req.user === null ? 'null' : 'set'}`) }
      }, async () => ({ ok: true }))
    }
  })
  const token = await issuer.token()

  t.equal((await app.inject({ url: '/single', headers: bearer(token) })).statusCode, 200)
  t.strictSame(calls.splice(0), [`single:${SUB}`], 'a single hook runs and sees request.user')
  t.equal((await app.inject({ url: '/array', headers: bearer(token) })).statusCode, 200)
  t.strictSame(calls.splice(0), [`first:${SUB}`, `second:${SUB}`], 'both hooks of an array run, in order, with request.user')
  t.equal((await app.inject({ url: '/guarded', headers: bearer(token) })).statusCode, 200)
  t.strictSame(calls.splice(0), [`guarded:${SUB}`])
  t.equal((await app.inject({ url: '/opted-out', headers: bearer(token) })).statusCode, 200)
  t.strictSame(calls.splice(0), ['opted-out:null'], 'an opted-out route keeps its own hook')

  t.equal((await app.inject({ url: '/single' })).statusCode, 200)
  t.strictSame(calls.splice(0), ['single:null'], 'no token: the hook runs with request.user null')

  const bad = await app.inject({ url: '/array', headers: bearer(BAD) })
  t.equal(bad.statusCode, 401)
  t.strictSame(calls.splice(0), [], 'a bad token stops the request before the route\'s hooks')
})

t.test('app-level preHandler hooks see request.user', async (t) => {
  let seen: unknown = 'not called'
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.addHook('preHandler', async (req) => { seen = req.user?.sub ?? null })
    }
  })
  await app.inject({ url: '/public', headers: bearer(await issuer.token()) })
  t.equal(seen, SUB)
})

t.test('routes of encapsulated child plugins are guarded too', async (t) => {
  const { issuer, app } = await setup(t, {}, {
    routes: (app) => {
      app.register(async (child) => {
        child.get('/child/public', async (req) => ({ user: req.user?.sub ?? null }))
        child.get('/child/admin', { preHandler: child.zitadel.requireRoles(['admin']) }, async () => ({ ok: true }))
        child.register(async (grandchild) => {
          grandchild.get('/grandchild', async (req) => ({ user: req.user?.sub ?? null }))
        })
      })
      app.register(async (child) => {
        child.get('/me', { preHandler: child.zitadel.requireAuth() }, async (req) => ({ sub: req.user?.sub }))
      }, { prefix: '/v1' })
    }
  })
  const token = await issuer.token({ roles: ['admin'] })

  const bad = await app.inject({ url: '/child/public', headers: bearer(BAD) })
  t.equal(bad.statusCode, 401, 'a bad token on a child\'s public route')
  t.equal(bad.json().code, 'ZITADEL_AUTH_TOKEN_MALFORMED')
  t.strictSame((await app.inject({ url: '/child/public', headers: bearer(token) })).json(), { user: SUB })
  t.equal((await app.inject({ url: '/grandchild', headers: bearer(BAD) })).statusCode, 401, 'a grandchild\'s route')
  t.strictSame((await app.inject({ url: '/grandchild', headers: bearer(token) })).json(), { user: SUB })

  t.equal((await app.inject({ url: '/child/admin' })).statusCode, 401)
  t.equal((await app.inject({ url: '/child/admin', headers: bearer(await issuer.token()) })).statusCode, 403)
  t.equal((await app.inject({ url: '/child/admin', headers: bearer(token) })).statusCode, 200)

  const v1 = await app.inject({ url: '/v1/me' })
  t.equal(v1.statusCode, 401, 'a prefixed child route')
  t.equal(v1.json().code, 'ZITADEL_AUTH_TOKEN_MISSING')
  t.strictSame((await app.inject({ url: '/v1/me', headers: bearer(token) })).json(), { sub: SUB })
})

t.test('app.zitadel: frozen, with the resolved options, the hook and verify', async (t) => {
  const issuer = await issuerFor(t)
  const { app } = await appFor(t, issuer, { issuer: `${issuer.url}/` })

  const { zitadel } = app
  t.ok(Object.isFrozen(zitadel), 'app.zitadel is frozen')
  t.throws(() => { (zitadel as unknown as Record<string, unknown>).verify = async () => null }, TypeError)
  t.ok(Object.isFrozen(zitadel.options), 'the options are frozen')
  t.throws(() => { (zitadel.options as unknown as Record<string, unknown>).projectId = 'other' }, TypeError)
  t.ok(Object.isFrozen(zitadel.options.audience))
  t.ok(Object.isFrozen(zitadel.options.algorithms))
  t.equal(zitadel.tenants.length, 1, 'one tenant: the options')
  t.equal(zitadel.tenants[0], zitadel.options)
  t.strictSame({ ...zitadel.options }, {
    tenant: undefined,
    issuer: issuer.url,
    issuers: [issuer.url],
    projectId: PROJECT_ID,
    clientId: undefined,
    audience: [PROJECT_ID],
    otherTenantsAudience: [],
    allowedClientIds: undefined,
    allowedSubjects: undefined,
    algorithms: ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'EdDSA'],
    clockTolerance: 0,
    jwksCacheTtl: 600,
    jwksCooldown: FAST.jwksCooldown,
    jwksMaxStale: 3600,
    httpTimeout: FAST.httpTimeout,
    tokenCacheSize: 10000,
    claimsSchema: undefined,
    realm: 'api',
    allowInsecureIssuer: false,
    waitForKeys: false,
    formatUser: undefined,
    cookie: undefined,
    redisNamespace: undefined,
    revocation: { maxTokenLifetime: 43200 },
    discoveryUrl: `${issuer.url}/.well-known/openid-configuration`,
    roleClaim: `urn:zitadel:iam:org:project:${PROJECT_ID}:roles`,
    openapi: {
      securityScheme: 'zitadel',
      scopes: {
        openid: 'Sign in with OpenID Connect',
        profile: 'The user\'s name and profile',
        email: 'The user\'s email address',
        [`urn:zitadel:iam:org:project:id:${PROJECT_ID}:aud`]: 'Puts this API\'s project in the token audience',
        'urn:zitadel:iam:org:projects:roles': 'Adds the user\'s project roles to the token'
      },
      description: 'Zitadel login (authorization code with PKCE; the login app is a public client, with no client secret). Send the access token as `Authorization: Bearer <token>`.'
    },
    introspection: undefined
  }, 'defaults filled in, trailing slash of the issuer dropped')

  for (const name of ['requireAuth', 'requireRoles', 'requireScopes', 'verify', 'authenticate'] as const) {
    t.type(zitadel[name], 'function', `app.zitadel.${name}`)
  }

  const user = await zitadel.verify(await issuer.token({ roles: ['admin'] }))
  t.type(user, ZitadelUser, 'verify returns a ZitadelUser')
  t.equal(user.sub, SUB)
  t.equal(user.hasRole('admin', ORG_ID), true)
  await t.rejects(zitadel.verify(BAD), { code: 'ZITADEL_AUTH_TOKEN_MALFORMED', statusCode: 401 })
  await t.rejects(zitadel.verify(await forged(issuer)), { code: 'ZITADEL_AUTH_SIGNATURE_INVALID', statusCode: 401 })
})

t.test('app.zitadel.authenticate can guard a route of its own', async (t) => {
  const issuer = await issuerFor(t)
  const app = await bareApp(t, issuer)
  // Opted out of the automatic hook, then verified by hand: the same behaviour.
  app.get('/manual', { config: { zitadel: false }, onRequest: app.zitadel.authenticate }, async (req) => ({ user: req.user?.sub ?? null }))
  await app.ready()
  t.strictSame((await app.inject({ url: '/manual', headers: bearer(await issuer.token()) })).json(), { user: SUB })
  t.strictSame((await app.inject({ url: '/manual' })).json(), { user: null })
  const bad = await app.inject({ url: '/manual', headers: bearer(BAD) })
  t.equal(bad.statusCode, 401)
  t.equal(bad.json().code, 'ZITADEL_AUTH_TOKEN_MALFORMED')
})

t.test('registering the plugin twice on one instance fails', async (t) => {
  const issuer = await issuerFor(t)
  const app = await bareApp(t, issuer)
  // register() returns the instance, a thenable: await it inside an async function.
  await t.rejects(async () => {
    await app.register(zitadelAuth, { issuer: issuer.url, projectId: issuer.projectId, ...FAST })
  }, { code: 'FST_ERR_DEC_ALREADY_PRESENT' })
})

t.test('an unknown URL with a bad token is a 404, not a 500', async (t) => {
  const { app } = await setup(t)
  const res = await app.inject({ url: '/does-not-exist', headers: bearer(BAD) })
  t.equal(res.statusCode, 404)
  const head = await app.inject({ method: 'HEAD', url: '/does-not-exist', headers: bearer(BAD) })
  t.equal(head.statusCode, 404)
  const post = await app.inject({ method: 'POST', url: '/me', headers: bearer(BAD) })
  t.equal(post.statusCode, 404, 'a known URL with an unknown method')
})

t.test('start-up does not wait on the IdP, and keys are fetched in the background once ready', async (t) => {
  const issuer = await issuerFor(t)
  issuer.fault = 'error'
  const { app: down } = await appFor(t, issuer)
  t.equal((await down.inject({ url: '/public' })).statusCode, 200, 'the app is up while the IdP fails')
  t.equal((await down.inject({ url: '/health', headers: bearer(BAD) })).statusCode, 200)

  issuer.fault = 'none'
  const fresh = await issuerFor(t)
  await appFor(t, fresh) // nothing is sent to it: the keys come by themselves
  for (let i = 0; i < 100 && fresh.requests.jwks === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok(fresh.requests.discovery >= 1, 'discovery fetched without any request')
  t.ok(fresh.requests.jwks >= 1, 'JWKS fetched without any request')
})

t.test('the plugin\'s exports and fastify-plugin metadata', async (t) => {
  const meta = (zitadelAuth as unknown as Record<symbol, unknown>)[Symbol.for('plugin-meta')]
  t.match(meta, { name: 'fastify-zitadel-auth', fastify: '5.x' })
  t.equal((zitadelAuth as unknown as Record<symbol, unknown>)[Symbol.for('skip-override')], true, 'not encapsulated: the decorator and hook are app-wide')
  t.equal(fastifyZitadelAuth, zitadelAuth, 'the named export is the default export')
  t.equal(pluginDefault, zitadelAuth, 'lib/index re-exports lib/plugin')
  t.equal(zitadelAuth.name, 'fastifyZitadelAuth', 'a named function')
})

t.test('the hook and the guards also work awaited by hand, as the async functions they once were', async (t) => {
  const issuer = await issuerFor(t)
  const app = await bareApp(t, issuer)
  // A route that opts out of the automatic hook and runs it, and a guard, itself.
  app.get('/by-hand', {
    config: { zitadel: false },
    onRequest: async (req, reply) => {
      await (app.zitadel.authenticate as unknown as (req: unknown, reply: unknown) => Promise<void>)(req, reply)
      await (app.zitadel.requireRoles(['admin']) as unknown as (req: unknown, reply: unknown) => Promise<void>)(req, reply)
    }
  }, async (req) => ({ sub: req.user?.sub }))
  await app.ready()

  const admin = await app.inject({ url: '/by-hand', headers: bearer(await issuer.token({ roles: ['admin'] })) })
  t.equal(admin.statusCode, 200)
  t.same(admin.json(), { sub: SUB }, 'the awaited hook set request.user')
  const user = await app.inject({ url: '/by-hand', headers: bearer(await issuer.token({ roles: ['user'] })) })
  t.equal(user.statusCode, 403, 'the awaited guard refused')
  t.equal(user.json().code, 'ZITADEL_AUTH_ROLE_REQUIRED')
  const bad = await app.inject({ url: '/by-hand', headers: bearer(BAD) })
  t.equal(bad.statusCode, 401, 'the awaited hook refused')
  t.match(bad.headers['www-authenticate'], /error="invalid_token"/, 'with its challenge')
  t.equal((await app.inject({ url: '/by-hand' })).statusCode, 401, 'no token: the awaited guard refused')
})
