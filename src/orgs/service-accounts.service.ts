import { Injectable } from '@nestjs/common';
import { AccessService, OrgScope } from '../auth/access.service';
import type { Actor } from '../auth/actor';
import { AuditService } from '../common/audit.service';
import { limitOffset, Page, pageOf, PageQuery } from '../common/paging';
import { PgPool } from '../db/pg-pool';
import { ApiToken } from '../tokens/api-token.entity';
import { TokensService } from '../tokens/tokens.service';
import { likeOf } from './org-admin.service';
import { OrgsService } from './orgs.service';
import { ServiceAccount } from './service-account.entity';
import { Team } from './team.entity';

export interface ServiceAccountRow {
  id: string;
  name: string;
  description: string | null;
  team: string | null;
  disabled: boolean;
  activeTokens: number;
  lastUsedAt: string | null;
  createdAt: string;
}

export const SA_SORTS = ['name', 'team', 'created', 'lastUsed'] as const;
const ORDER: Record<string, string> = { name: 'lower(sa.name)', team: 't.slug', created: 'sa.created_at', lastUsed: 'last_used' };

/** Non-human owners of tokens (CI, services). Disabling one stops its tokens on every instance at once. */
@Injectable()
export class ServiceAccountsService {
  constructor(
    private readonly access: AccessService,
    private readonly orgs: OrgsService,
    private readonly tokens: TokensService,
    private readonly audit: AuditService,
    private readonly pool: PgPool,
  ) {}

  async list(actor: Actor, orgRef: string, f: { q?: string; status?: string }, p: PageQuery): Promise<{ scope: OrgScope; page: Page<ServiceAccountRow> }> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    return { scope, page: await this.query(scope, f, p) };
  }

  private async query(scope: OrgScope, f: { q?: string; status?: string; id?: string }, p: PageQuery): Promise<Page<ServiceAccountRow>> {
    const args: unknown[] = [scope.org.id];
    const where = ['sa.org_id = $1'];
    if (f.q) {
      args.push(likeOf(f.q));
      where.push(`(sa.name ilike $${args.length} or sa.description ilike $${args.length})`);
    }
    if (f.status === 'active') where.push('sa.disabled_at is null');
    if (f.status === 'disabled') where.push('sa.disabled_at is not null');
    if (f.id) {
      args.push(f.id);
      where.push(`sa.id = $${args.length}`);
    }
    const w = where.join(' and ');
    const total = Number((await this.pool.query(`select count(*) as n from service_account sa where ${w}`, args)).rows[0].n);
    const r = await this.pool.query(
      `select sa.id, sa.name, sa.description, t.slug as team, sa.disabled_at, sa.created_at,
              (select count(*) from api_token k where k.service_account_id = sa.id and k.revoked_at is null and (k.expires_at is null or k.expires_at > now()))::int as active_tokens,
              (select max(k.last_used_at) from api_token k where k.service_account_id = sa.id) as last_used
         from service_account sa left join team t on t.id = sa.team_id
        where ${w}
        order by ${ORDER[p.sort]} ${p.dir} nulls last, lower(sa.name) ${limitOffset(p)}`,
      args,
    );
    return pageOf(
      r.rows.map((x) => ({ id: x.id, name: x.name, description: x.description, team: x.team, disabled: !!x.disabled_at, activeTokens: x.active_tokens, lastUsedAt: x.last_used?.toISOString() ?? null, createdAt: x.created_at.toISOString() })),
      total,
      p,
    );
  }

  async get(actor: Actor, orgRef: string, saRef: string): Promise<ServiceAccountRow> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const sa = await this.access.serviceAccount(scope, saRef);
    return (await this.query(scope, { id: sa.id }, { page: 1, per: 10, sort: 'name', dir: 'asc' })).items[0];
  }

  async create(actor: Actor, orgRef: string, input: { name: string; team?: string; description?: string }): Promise<ServiceAccountRow> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const team = input.team ? await this.access.team(scope, input.team) : undefined;
    const sa = await this.orgs.createServiceAccount(actor.label, scope.org.slug, input.name, { teamSlug: team?.slug, description: input.description });
    return this.get(actor, scope.org.id, sa.id);
  }

  async update(actor: Actor, orgRef: string, saRef: string, input: { team?: string | null; description?: string | null }): Promise<ServiceAccountRow> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const sa = await this.access.serviceAccount(scope, saRef);
    const team = input.team ? await this.access.team(scope, input.team) : input.team === null ? null : undefined;
    const before = { teamId: sa.teamId ?? null, description: sa.description ?? null };
    await scope.em.transactional(async (tx) => {
      const row = await tx.findOneOrFail(ServiceAccount, { id: sa.id });
      if (team !== undefined) row.teamId = team?.id ?? null;
      if (input.description !== undefined) row.description = input.description;
      const after = { teamId: row.teamId ?? null, description: row.description ?? null };
      if (JSON.stringify(before) === JSON.stringify(after)) return;
      this.audit.record(tx, { actor: actor.label, orgId: scope.org.id, action: 'service_account.update', targetType: 'service_account', targetId: row.id, before, after });
      await tx.flush();
      // The account's team is part of its tokens' cached principal.
      await this.tokens.notifyInTx(tx, (await tx.find(ApiToken, { serviceAccountId: row.id })).map((t) => t.id));
    });
    return this.get(actor, scope.org.id, sa.id);
  }

  async setDisabled(actor: Actor, orgRef: string, saRef: string, disabled: boolean): Promise<ServiceAccountRow> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const sa = await this.access.serviceAccount(scope, saRef);
    if (!!sa.disabledAt !== disabled) {
      await scope.em.transactional(async (tx) => {
        const row = await tx.findOneOrFail(ServiceAccount, { id: sa.id });
        row.disabledAt = disabled ? new Date() : null;
        this.audit.record(tx, { actor: actor.label, orgId: scope.org.id, action: disabled ? 'service_account.disable' : 'service_account.enable', targetType: 'service_account', targetId: row.id, before: { disabled: !disabled }, after: { disabled } });
        await tx.flush();
        await this.tokens.notifyInTx(tx, (await tx.find(ApiToken, { serviceAccountId: row.id })).map((t) => t.id));
      });
    }
    return this.get(actor, scope.org.id, sa.id);
  }

  /** Deletes the account and (by cascade) its tokens, evicting them from every cache. */
  async delete(actor: Actor, orgRef: string, saRef: string): Promise<void> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const sa = await this.access.serviceAccount(scope, saRef);
    await scope.em.transactional(async (tx) => {
      const row = await tx.findOneOrFail(ServiceAccount, { id: sa.id });
      const ids = (await tx.find(ApiToken, { serviceAccountId: row.id })).map((t) => t.id);
      this.audit.record(tx, { actor: actor.label, orgId: scope.org.id, action: 'service_account.delete', targetType: 'service_account', targetId: row.id, before: { name: row.name, tokens: ids.length } });
      tx.remove(row);
      await tx.flush();
      await this.tokens.notifyInTx(tx, ids);
    });
  }

  async teamChoicesFor(actor: Actor, orgRef: string): Promise<{ slug: string; name: string }[]> {
    return this.teamChoices(await this.access.org(actor, orgRef, 'admin'));
  }

  /** Teams of the organization, for the form's team picker. */
  async teamChoices(scope: OrgScope): Promise<{ slug: string; name: string }[]> {
    return (await scope.em.find(Team, { orgId: scope.org.id }, { orderBy: { slug: 'asc' } })).map((t) => ({ slug: t.slug, name: t.name }));
  }
}
