import type { Directory, Organization, User } from './directory.js'
import { SCOPES, addOnce, audienceFromScopes, requestedRoles } from './scopes.js'

/** `{ role: { orgId: orgPrimaryDomain } }` */
export type RoleClaim = Record<string, Record<string, string>>

export const PROJECT_ROLES_CLAIM = 'urn:zitadel:iam:org:project:roles'
/** `{ key: base64url(value) }`, without padding (zitadel internal/api/oidc/userinfo.go setUserInfoMetadata: base64.RawURLEncoding). */
export const METADATA_CLAIM = 'urn:zitadel:iam:user:metadata'
export const projectRolesClaim = (projectId: string): string => `urn:zitadel:iam:org:project:${projectId}:roles`

interface UserInfoRequest {
  scopes: readonly string[]
  /** None for service users' tokens. */
  projectId: string | undefined
  /** The project's "Assert Roles on Authentication". */
  projectRoleAssertion: boolean
  /** The app's "roles in access token / ID token". */
  roleAssertion: boolean
  /** Profile and e-mail claims (userinfo, introspection, "User Info inside ID Token"). */
  userInfoAssertion: boolean
  /** Roles of the asking project only, ignoring scopes (introspection). */
  currentProjectOnly?: boolean
}

interface UserInfo {
  standard: Record<string, unknown>
  /** Access tokens carry only these. */
  reserved: Record<string, unknown>
}

/**
 * The claims Zitadel derives from the user and the scope, after
 * zitadel/zitadel internal/api/oidc/userinfo.go (userInfo, prepareRoles,
 * assertRoles): the same function feeds access tokens, ID tokens, userinfo
 * and introspection with different switches.
 */
export function userInfo (directory: Directory, user: User, req: UserInfoRequest): UserInfo {
  const standard: Record<string, unknown> = {}
  const reserved: Record<string, unknown> = {}
  const org = directory.org(user.orgId) as Organization
  for (const scope of req.scopes) {
    if (scope === SCOPES.profile && req.userInfoAssertion) {
      Object.assign(standard, user.kind === 'human'
        ? { name: user.displayName, given_name: user.givenName, family_name: user.familyName, preferred_username: user.username, updated_at: user.updatedAt }
        : { name: user.displayName, preferred_username: user.username, updated_at: user.updatedAt })
    } else if (scope === SCOPES.email && req.userInfoAssertion && user.kind === 'human') {
      Object.assign(standard, { email: user.email, email_verified: user.emailVerified })
    } else if (scope === SCOPES.metadata && user.metadata.size > 0) {
      reserved[METADATA_CLAIM] = Object.fromEntries([...user.metadata].map(([key, value]) => [key, value.toString('base64url')]))
    } else if (scope === SCOPES.resourceOwner) {
      Object.assign(reserved, resourceOwner(org))
    } else if (scope.startsWith(SCOPES.orgIdPrefix)) {
      Object.assign(reserved, { 'urn:zitadel:iam:org:id': scope.slice(SCOPES.orgIdPrefix.length) }, resourceOwner(org))
    } else if (scope.startsWith(SCOPES.orgDomainPrefix)) {
      reserved['urn:zitadel:iam:org:domain:primary'] = scope.slice(SCOPES.orgDomainPrefix.length)
    }
  }
  if (req.roleAssertion) Object.assign(reserved, roleClaims(directory, user, req))
  return { standard, reserved }
}

function resourceOwner (org: Organization): Record<string, string> {
  return {
    'urn:zitadel:iam:user:resourceowner:id': org.id,
    'urn:zitadel:iam:user:resourceowner:name': org.name,
    'urn:zitadel:iam:user:resourceowner:primary_domain': org.domain
  }
}

/**
 * prepareRoles: the role audience is the projects of the audience scopes when
 * roles are asked for by scope, plus the asking project when its roles are
 * asserted or any roles are asked for. assertRoles: one claim per project in
 * that audience where the user holds roles, and the generic claim for the
 * asking project.
 */
function roleClaims (directory: Directory, user: User, req: UserInfoRequest): Record<string, RoleClaim> {
  const requested = requestedRoles(req.scopes)
  let roleAudience: string[] = []
  if (req.currentProjectOnly !== true && (requested.length > 0 || req.scopes.includes(SCOPES.projectsRoles))) {
    roleAudience = audienceFromScopes(req.scopes, directory.zitadelProjectId)
  }
  const { projectId } = req
  if (projectId !== undefined && (req.projectRoleAssertion || req.currentProjectOnly === true || roleAudience.length > 0 || requested.length > 0)) {
    addOnce(roleAudience, projectId)
  }
  const claims: Record<string, RoleClaim> = {}
  for (const id of roleAudience) {
    const roles = projectRoles(directory, user, id, requested)
    if (roles === undefined) continue
    if (id === projectId) claims[PROJECT_ROLES_CLAIM] = roles
    claims[projectRolesClaim(id)] = roles
  }
  return claims
}

function projectRoles (directory: Directory, user: User, projectId: string, requested: string[]): RoleClaim | undefined {
  const byOrg = user.grants.get(projectId)
  if (byOrg === undefined) return undefined
  const claim: RoleClaim = {}
  for (const [orgId, { roles }] of byOrg) {
    const domain = directory.org(orgId)?.domain as string
    for (const role of roles) {
      if (requested.length > 0 && !requested.includes(role)) continue
      claim[role] ??= {}
      claim[role][orgId] = domain
    }
  }
  return Object.keys(claim).length > 0 ? claim : undefined
}
