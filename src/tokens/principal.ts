/**
 * Who is calling: everything the hot path needs about a token, resolved once and cached in
 * memory (see PrincipalCacheService). Never holds the secret.
 */
export interface Principal {
  tokenId: string;
  tokenName: string;
  orgId: string;
  orgSlug: string;
  /** The team a request is attributed to: the token's, else its service account's, else the owner's first team in the org. */
  teamId: string | null;
  /** `<org>/<team>` for every team the caller belongs to, for grant subjects. */
  teamPaths: string[];
  ownerUserId: string | null;
  ownerEmail: string | null;
  /** Who issued the token: null for the operator's CLI. */
  createdById: string | null;
  serviceAccountId: string | null;
  serviceAccountName: string | null;
  scopes: string[];
  modelPatterns: string[] | null;
  rpm: number | null;
  tpm: number | null;
  /** Epoch ms, or null for tokens that never expire. */
  expiresAt: number | null;
  revoked: boolean;
  disabled: boolean;
}

/** What grant subjects are made of; the settings preview builds these for orgs, teams and people. */
export interface SubjectParts {
  orgSlug: string;
  /** `<org>/<team>` paths. */
  teamPaths?: readonly string[];
  email?: string | null;
  serviceAccountName?: string | null;
  tokenId?: string | null;
}

/** Grant subjects that match these parts (`*`, `org:…`, `team:…`, `user:…`, `token:…`, `service-account:…`). */
export function subjectsFor(x: SubjectParts): Set<string> {
  const s = new Set<string>(['*', `org:${x.orgSlug}`]);
  if (x.tokenId) s.add(`token:${x.tokenId}`);
  for (const t of x.teamPaths ?? []) s.add(`team:${t}`);
  if (x.email) s.add(`user:${x.email.toLowerCase()}`);
  if (x.serviceAccountName) s.add(`service-account:${x.orgSlug}/${x.serviceAccountName}`);
  return s;
}

/** Grant subjects that match this principal. */
export function subjectsOf(p: Principal): Set<string> {
  return subjectsFor({ orgSlug: p.orgSlug, teamPaths: p.teamPaths, email: p.ownerEmail, serviceAccountName: p.serviceAccountName, tokenId: p.tokenId });
}
