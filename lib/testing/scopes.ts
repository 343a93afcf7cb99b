/** Zitadel's reserved scopes (docs: apis/openidoauth/scopes). */
export const SCOPES = {
  openid: 'openid',
  profile: 'profile',
  email: 'email',
  projectsRoles: 'urn:zitadel:iam:org:projects:roles',
  resourceOwner: 'urn:zitadel:iam:user:resourceowner',
  metadata: 'urn:zitadel:iam:user:metadata',
  /** `urn:zitadel:iam:org:project:id:{projectId}:aud` */
  audPrefix: 'urn:zitadel:iam:org:project:id:',
  audSuffix: ':aud',
  /** `urn:zitadel:iam:org:project:role:{role}` */
  rolePrefix: 'urn:zitadel:iam:org:project:role:',
  /** `urn:zitadel:iam:org:id:{orgId}` */
  orgIdPrefix: 'urn:zitadel:iam:org:id:',
  /** `urn:zitadel:iam:org:domain:primary:{domain}` */
  orgDomainPrefix: 'urn:zitadel:iam:org:domain:primary:'
} as const

export function parseScope (value: string | undefined): string[] {
  return [...new Set((value ?? '').split(' ').filter((s) => s !== ''))]
}

export function audScope (projectId: string): string {
  return `${SCOPES.audPrefix}${projectId}${SCOPES.audSuffix}`
}

/**
 * `zitadel` stands for Zitadel's own API project (domain.AddAudScopeToAudience).
 * Added without any check: audience is not authorization.
 */
export function audienceFromScopes (scopes: readonly string[], zitadelProjectId: string, audience: string[] = []): string[] {
  for (const scope of scopes) {
    if (!scope.startsWith(SCOPES.audPrefix) || !scope.endsWith(SCOPES.audSuffix)) continue
    const id = scope.slice(SCOPES.audPrefix.length, -SCOPES.audSuffix.length)
    if (id === '') continue
    addOnce(audience, id === 'zitadel' ? zitadelProjectId : id)
  }
  return audience
}

export function requestedRoles (scopes: readonly string[]): string[] {
  return scopes.filter((s) => s.startsWith(SCOPES.rolePrefix) && s.length > SCOPES.rolePrefix.length).map((s) => s.slice(SCOPES.rolePrefix.length))
}

export function addOnce (list: string[], value: string): string[] {
  if (!list.includes(value)) list.push(value)
  return list
}
