import { Injectable } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import { AuditService } from '../common/audit.service';
import { invalid } from '../common/errors';
import { uuidv7 } from '../common/uuid';
import { PgPool } from '../db/pg-pool';
import { OrgsService } from '../orgs/orgs.service';
import { BUDGET_CHANNEL } from './budget-enforcer.service';
import { LIMIT_KINDS, LimitKind } from './budget.types';
import { resolveScope } from './scope-resolver';

export type RateLimitValues = Partial<Record<LimitKind, number | null>>;

export interface RateLimitView {
  scope: string;
  scopeType: string;
  scopeId: string;
  values: Partial<Record<LimitKind, number>>;
}


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
    const { scopeType, scopeId } = await resolveScope(this.pool, org.id, scope, ['org', 'team', 'user', 'service-account', 'token']);
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
}
