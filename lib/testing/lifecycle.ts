import type { Directory, User, UserGrant, UserState } from './directory.js'
import type { EmulatorEvent, EventDelivery, EventDispatcher } from './events.js'
import type { LoginStore } from './login-store.js'
import { fail } from './setup-error.js'
import type { TokenService } from './tokens.js'

interface LifecycleContext {
  readonly directory: Directory
  readonly tokens: TokenService
  readonly logins: LoginStore
  readonly events: EventDispatcher
  /** Sessions belong to the instance: their events' resource owner. */
  readonly instanceId: string
}

/** What a test control returns: this change's deliveries, once all are attempted. */
export type Deliveries = Promise<readonly EventDelivery[]>

interface StateChange {
  readonly event: string
  readonly from: readonly UserState[]
  readonly to: UserState
  /** Whether the user's tokens end for good. */
  readonly endsTokens: boolean
}

/** Zitadel's preconditions (internal/command/user_v2.go LockUserV2, UnlockUserV2, DeactivateUserV2, ReactivateUserV2). */
const STATE_CHANGES = {
  deactivateUser: { event: 'user.deactivated', from: ['active', 'locked'], to: 'inactive', endsTokens: true },
  reactivateUser: { event: 'user.reactivated', from: ['inactive'], to: 'active', endsTokens: false },
  lockUser: { event: 'user.locked', from: ['active'], to: 'locked', endsTokens: true },
  unlockUser: { event: 'user.unlocked', from: ['locked'], to: 'active', endsTokens: false }
} as const satisfies Record<string, StateChange>

export type StateChangeName = keyof typeof STATE_CHANGES

/**
 * Changes to users, grants, sessions and credentials as Zitadel's APIs make
 * them: the effect at once, then the events that Actions v2 targets get.
 * Mistakes throw the emulator's setup error before anything changes.
 */
export class Lifecycle {
  readonly #ctx: LifecycleContext

  constructor (ctx: LifecycleContext) {
    this.#ctx = ctx
  }

  /**
   * Deactivating or locking ends the user's tokens, also after a later
   * reactivation or unlock (see TokenService.revokeUser); every state but
   * active keeps the user from logging in and from getting tokens.
   */
  changeState (name: StateChangeName, userId: string): Deliveries {
    const change: StateChange = STATE_CHANGES[name]
    const user = this.#ctx.directory.setState(name, userId, change.from, change.to)
    if (change.endsTokens) this.#ctx.tokens.revokeUser(user.id)
    return this.#ctx.events.push([userEvent(user, change.event)])
  }

  /**
   * `user.removed`, then `user.grant.cascade.removed` for each of its grants,
   * as RemoveUserV2 pushes them (internal/command/user_v2.go). The user, its
   * grants, keys and tokens are gone.
   */
  removeUser (userId: string): Deliveries {
    const { directory, tokens, events } = this.#ctx
    const user = directory.removeUser(userId)
    tokens.revokeUser(user.id)
    return events.push([userEvent(user, 'user.removed'), ...directory.grantsOf(user).map((grant) => grantEvent(grant, 'user.grant.cascade.removed'))])
  }

  /** `user.grant.added` for grants just made, `user.grant.changed` for grants that got more roles. */
  grantRoles (userId: string, projectId: string, roles: string[], orgId: string | undefined): Deliveries {
    const { grant, added } = this.#ctx.directory.grant(userId, projectId, roles, orgId)
    return this.#ctx.events.push([added ? grantAdded(grant) : grantChanged(grant)])
  }

  /** `user.grant.added` for each grant of a user just created. */
  userAdded (user: User): Deliveries {
    return this.#ctx.events.push(this.#ctx.directory.grantsOf(user).map(grantAdded))
  }

  /** The roles are replaced: new tokens, introspection and userinfo show the new ones. */
  changeGrant (userId: string, projectId: string, roles: string[], orgId: string | undefined): Deliveries {
    return this.#ctx.events.push([grantChanged(this.#ctx.directory.changeGrant(userId, projectId, roles, orgId))])
  }

  /** The roles leave new tokens, introspection and userinfo; tokens already issued keep their claims until they expire. */
  removeGrant (userId: string, projectId: string, orgId: string | undefined): Deliveries {
    return this.#ctx.events.push([grantEvent(this.#ctx.directory.removeGrant(userId, projectId, orgId), 'user.grant.removed')])
  }

  /**
   * Ends a sign-in session: its tokens stop being active (zitadel
   * internal/query/access_token.go checkSessionNotTerminatedAfter). A
   * session already ended changes nothing and sends nothing, as Zitadel's
   * terminateSession (internal/command/session.go).
   */
  terminateSession (sessionId: string): Deliveries {
    const { logins, tokens, events, instanceId } = this.#ctx
    const active = typeof sessionId === 'string' ? logins.terminate(sessionId) : undefined
    if (active === undefined) fail(`terminateSession: no session with id "${String(sessionId)}"; a session is the sid of the ID tokens of a code-flow login`)
    if (!active) return events.push([])
    tokens.revokeSession(sessionId)
    // internal/repository/session/session.go TerminateEvent: no fields, so the payload is {}.
    return events.push([{ aggregateType: 'session', aggregateId: sessionId, resourceOwner: instanceId, eventType: 'session.terminated', payload: {} }])
  }

  /**
   * Removes a service user's PAT, given as the token or its id (the `jti`
   * introspection shows), or every PAT of the user: `user.pat.removed`
   * with `{ tokenId }` each (internal/repository/user/personal_access_token.go).
   */
  removePersonalAccessToken (userId: string, token: string | undefined): Deliveries {
    const fn = 'removePersonalAccessToken'
    const user = this.#machine(fn, userId)
    if (token !== undefined && (typeof token !== 'string' || token === '')) fail(`${fn}: "token" must be the token or its id`)
    const removed = this.#ctx.tokens.removePersonalAccessTokens(user.id, token)
    if (token !== undefined && removed.length === 0) fail(`${fn}: the service user "${userId}" has no personal access token "${token}"`)
    return this.#ctx.events.push(removed.map((tokenId) => userEvent(user, 'user.pat.removed', { tokenId })))
  }

  /**
   * Removes a service user's JWT-profile key: `user.machine.key.removed`
   * with `{ keyId }`. Assertions signed with it are refused from then on;
   * tokens already issued stay valid, as in Zitadel.
   */
  removeServiceUserKey (userId: string, keyId: string): Deliveries {
    const fn = 'removeServiceUserKey'
    const user = this.#machine(fn, userId)
    if (!user.keys.delete(keyId)) fail(`${fn}: the service user "${userId}" has no key "${String(keyId)}"`)
    return this.#ctx.events.push([userEvent(user, 'user.machine.key.removed', { keyId })])
  }

  #machine (fn: string, userId: string): User {
    const user = this.#ctx.directory.user(userId)
    if (user?.kind !== 'machine') fail(`${fn}: no service user with id "${String(userId)}"`)
    return user
  }
}

/** A user event: the aggregate is the user, owned by its organisation. */
function userEvent (user: User, eventType: string, payload?: Record<string, unknown>): EmulatorEvent {
  return { aggregateType: 'user', aggregateId: user.id, resourceOwner: user.orgId, eventType, payload }
}

/** A user-grant event: the aggregate is the grant (not the user), owned by the organisation the roles are held in. */
function grantEvent (grant: UserGrant, eventType: string, payload?: Record<string, unknown>): EmulatorEvent {
  return { aggregateType: 'usergrant', aggregateId: grant.id, resourceOwner: grant.orgId, eventType, payload, creates: eventType === 'user.grant.added' }
}

/**
 * The only grant event that names the user (internal/repository/usergrant/user_grant.go
 * UserGrantAddedEvent, fields in that order): receivers keep grant id → user id from it.
 */
function grantAdded (grant: UserGrant): EmulatorEvent {
  return grantEvent(grant, 'user.grant.added', { userId: grant.userId, projectId: grant.projectId, grantId: grant.projectGrantId, roleKeys: [...grant.roles] })
}

/** UserGrantChangedEvent: the whole new list of role keys, nothing else. */
function grantChanged (grant: UserGrant): EmulatorEvent {
  return grantEvent(grant, 'user.grant.changed', { roleKeys: [...grant.roles] })
}
