import { invalid, notFound } from '../common/errors';
import type { PgPool } from '../db/pg-pool';
import type { BudgetScope } from './budget.types';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type ScopeKind = 'org' | 'pool' | 'team' | 'user' | 'service-account' | 'token' | 'end-user';

/**
 * Resolves a scope written as `org`, `pool`, `team:<slug>`, `user:<email>`,
 * `service-account:<name>`, `token:<id>` or `end-user:<id>` to what it names inside one org.
 * Everything is looked up within `orgId`, so an id or name from another org is "not found".
 */
export async function resolveScope(
  pool: PgPool,
  orgId: string,
  scope: string,
  allowed: readonly ScopeKind[],
): Promise<{ scopeType: BudgetScope; scopeId: string | null }> {
  const [kind, ...rest] = scope.split(':');
  const value = rest.join(':');
  if (!allowed.includes(kind as ScopeKind)) throw invalid(`scope is ${allowed.map((k) => (k === 'org' || k === 'pool' ? k : `${k}:<${k === 'team' ? 'slug' : k === 'user' ? 'email' : k === 'service-account' ? 'name' : 'id'}>`)).join(', ')}`);
  const one = async (sql: string, params: unknown[], what: string) => {
    const r = await pool.query<{ id: string }>(sql, params);
    if (!r.rows.length) throw notFound(what);
    return r.rows[0].id;
  };
  switch (kind as ScopeKind) {
    case 'org':
      return { scopeType: 'org', scopeId: orgId };
    case 'pool':
      return { scopeType: 'pool', scopeId: null };
    case 'team':
      return { scopeType: 'team', scopeId: await one('select id from team where org_id = $1 and slug = $2', [orgId, value], `team "${value}"`) };
    case 'user':
      return {
        scopeType: 'user',
        scopeId: await one('select u.id from app_user u join membership m on m.user_id = u.id and m.org_id = $1 where lower(u.email) = lower($2)', [orgId, value], `member "${value}"`),
      };
    case 'service-account':
      return { scopeType: 'service_account', scopeId: await one('select id from service_account where org_id = $1 and name = $2', [orgId, value], `service account "${value}"`) };
    case 'token':
      if (!UUID_RE.test(value)) throw invalid('token scope needs the token id: token:<uuid>');
      return { scopeType: 'token', scopeId: await one('select id from api_token where org_id = $1 and id = $2', [orgId, value], 'token') };
    case 'end-user':
      if (!value) throw invalid('end-user scope needs the end-user id: end-user:<id>');
      return { scopeType: 'end_user', scopeId: value.slice(0, 256) };
  }
}
