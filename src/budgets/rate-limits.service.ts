import { Injectable } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import { AuditService } from '../common/audit.service';
import { invalid, notFound } from '../common/errors';
import { uuidv7 } from '../common/uuid';
import { PgPool } from '../db/pg-pool';
import { OrgsService } from '../orgs/orgs.service';
import { BUDGET_CHANNEL } from './budget-enforcer.service';
import { LIMIT_KINDS, LimitKind } from './budget.types';

export type RateLimitValues = Partial<Record<LimitKind, number | null>>;

export interface RateLimitView {
  scope: string;
  scopeType: string;
  scopeId: string;
  values: Partial<Record<LimitKind, number>>;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Rate limits (requests, tokens, input and output tokens per minute, concurrent requests) on a
 * token, user, service account, team or org. Unset kinds fall back to the next outer scope; each
 * token is counted on its own (see BudgetEnforcer.effectiveLimits).
 */
@Injectable()
export class RateLimitsService {
  constructor(
    private readonly pool: PgPool,
    private readonly orm: MikroORM,
    private readonly orgs: OrgsService,
    private readonly audit: AuditService,
  ) {}

  /** Sets the given kinds (null clears one); kinds not mentioned keep their value. */
  async set(actor: string, orgSlug: string, scope: string, values: RateLimitValues): Promise<RateLimitView> {
    for (const [k, v] of Object.entries(values)) {
      if (!LIMIT_KINDS.includes(k as LimitKind)) throw invalid(`unknown limit "${k}"; limits are ${LIMIT_KINDS.join(', ')}`);
      if (v !== null && v !== undefined && (!Number.isSafeInteger(v) || v <= 0)) throw invalid(`${k} must be a positive whole number`);
    }
    const em = this.orm.em.fork();
    const org = await this.orgs.getOrgBySlug(orgSlug, em);
    const { scopeType, scopeId } = await this.resolve(org.id, scope);
    const cols = LIMIT_KINDS.filter((k) => k in values);
    if (!cols.length) throw invalid('give at least one of --rpm, --tpm, --input-tpm, --output-tpm, --concurrent');
    await this.pool.query(
      `insert into rate_limit (id, org_id, scope_type, scope_id, ${cols.join(', ')})
       values ($1, $2, $3, $4, ${cols.map((_, i) => `$${i + 5}`).join(', ')})
       on conflict (scope_type, scope_id) do update set ${cols.map((c) => `${c} = excluded.${c}`).join(', ')}, updated_at = now()`,
      [uuidv7(), org.id, scopeType, scopeId, ...cols.map((c) => values[c] ?? null)],
    );
    this.audit.record(em, { actor, orgId: org.id, action: 'rate_limit.set', targetType: scopeType, targetId: scopeId, after: values as Record<string, unknown> });
    await em.flush();
    await this.pool.query('select pg_notify($1, $2)', [BUDGET_CHANNEL, org.id]);
    return (await this.list(orgSlug)).find((v) => v.scopeType === scopeType && v.scopeId === scopeId)!;
  }

  async list(orgSlug: string): Promise<RateLimitView[]> {
    const org = await this.orgs.getOrgBySlug(orgSlug);
    const r = await this.pool.query(
      `select l.*, coalesce(t.slug, u.email, sa.name, tok.name, o.slug) as label
         from rate_limit l
         left join team t on l.scope_type = 'team' and t.id = l.scope_id
         left join app_user u on l.scope_type = 'user' and u.id = l.scope_id
         left join service_account sa on l.scope_type = 'service_account' and sa.id = l.scope_id
         left join api_token tok on l.scope_type = 'token' and tok.id = l.scope_id
         left join organization o on l.scope_type = 'org' and o.id = l.scope_id
        where l.org_id = $1 order by l.scope_type, label`,
      [org.id],
    );
    return r.rows.map((x) => ({
      scope: x.scope_type === 'org' ? 'org' : `${x.scope_type.replace('_', '-')}:${x.label}`,
      scopeType: x.scope_type,
      scopeId: x.scope_id,
      values: Object.fromEntries(LIMIT_KINDS.filter((k) => x[k] !== null).map((k) => [k, x[k]])),
    }));
  }

  private async resolve(orgId: string, scope: string): Promise<{ scopeType: string; scopeId: string }> {
    const [kind, ...rest] = scope.split(':');
    const value = rest.join(':');
    const one = async (sql: string, params: unknown[], what: string) => {
      const r = await this.pool.query<{ id: string }>(sql, params);
      if (!r.rows.length) throw notFound(what);
      return r.rows[0].id;
    };
    switch (kind) {
      case 'org':
        return { scopeType: 'org', scopeId: orgId };
      case 'team':
        return { scopeType: 'team', scopeId: await one('select id from team where org_id = $1 and slug = $2', [orgId, value], `team "${value}"`) };
      case 'user':
        return { scopeType: 'user', scopeId: await one('select u.id from app_user u join membership m on m.user_id = u.id and m.org_id = $1 where lower(u.email) = lower($2)', [orgId, value], `member "${value}"`) };
      case 'service-account':
        return { scopeType: 'service_account', scopeId: await one('select id from service_account where org_id = $1 and name = $2', [orgId, value], `service account "${value}"`) };
      case 'token':
        if (!UUID_RE.test(value)) throw invalid('token scope needs the token id: token:<uuid>');
        return { scopeType: 'token', scopeId: await one('select id from api_token where org_id = $1 and id = $2', [orgId, value], 'token') };
      default:
        throw invalid('scope is org, team:<slug>, user:<email>, service-account:<name> or token:<id>');
    }
  }
}
