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

/** Grant subjects that match this principal (`*`, `org:…`, `team:…`, `user:…`, `token:…`, `service-account:…`). */
export function subjectsOf(p: Principal): Set<string> {
  const s = new Set<string>(['*', `org:${p.orgSlug}`, `token:${p.tokenId}`]);
  for (const t of p.teamPaths) s.add(`team:${t}`);
  if (p.ownerEmail) s.add(`user:${p.ownerEmail.toLowerCase()}`);
  if (p.serviceAccountName) s.add(`service-account:${p.orgSlug}/${p.serviceAccountName}`);
  return s;
}
