import { Injectable } from '@nestjs/common';
import { AccessService } from '../auth/access.service';
import type { Actor } from '../auth/actor';
import { AuditService } from '../common/audit.service';
import { limitOffset, Page, pageOf, PageQuery } from '../common/paging';
import { PgPool } from '../db/pg-pool';
import { OrgsService } from './orgs.service';
import type { OrgRole } from './membership.entity';
import type { Organization } from './organization.entity';

export interface OrgRow {
  id: string;
  slug: string;
  name: string;
  createdAt: string;
  members: number;
  teams: number;
  activeTokens: number;
  /** The actor's role, or null for a global admin who is not a member. */
  role: OrgRole | null;
}

export interface OrgView {
  id: string;
  slug: string;
  name: string;
  createdAt: string;
}

export const ORG_SORTS = ['slug', 'name', 'created', 'members'] as const;
const ORG_ORDER: Record<string, string> = { slug: 'o.slug', name: 'lower(o.name)', created: 'o.created_at', members: 'members' };

export const orgView = (o: Organization): OrgView => ({ id: o.id, slug: o.slug, name: o.name, createdAt: o.createdAt.toISOString() });

/** Escapes LIKE wildcards in a user's search text. */
export const likeOf = (q: string) => `%${q.replace(/[\\%_]/g, (c) => '\\' + c)}%`;

/** Organizations as the actor sees them: list, create (global admins), rename (org admins). */
@Injectable()
export class OrgAdminService {
  constructor(
    private readonly access: AccessService,
    private readonly orgs: OrgsService,
    private readonly audit: AuditService,
    private readonly pool: PgPool,
  ) {}

  async list(actor: Actor, f: { q?: string }, p: PageQuery): Promise<Page<OrgRow>> {
    const visible = this.access.visibleOrgIds(actor);
    // $1 is the actor (for their role column); the count query mentions it so the types resolve.
    const where: string[] = ['($1::uuid is null or true)'];
    const args: unknown[] = [actor.userId];
    if (visible) {
      args.push(visible);
      where.push(`o.id = any($${args.length}::uuid[])`);
    }
    if (f.q) {
      args.push(likeOf(f.q));
      where.push(`(o.slug ilike $${args.length} or o.name ilike $${args.length})`);
    }
    const w = `where ${where.join(' and ')}`;
    const total = Number((await this.pool.query<{ n: string }>(`select count(*) as n from organization o ${w}`, args)).rows[0].n);
    const rows = await this.pool.query(
      `select o.id, o.slug, o.name, o.created_at,
              (select count(*) from membership m where m.org_id = o.id)::int as members,
              (select count(*) from team t where t.org_id = o.id)::int as teams,
              (select count(*) from api_token k where k.org_id = o.id and k.revoked_at is null and (k.expires_at is null or k.expires_at > now()))::int as active_tokens,
              (select m.role from membership m where m.org_id = o.id and m.user_id = $1) as role
         from organization o ${w}
        order by ${ORG_ORDER[p.sort]} ${p.dir}, o.slug ${limitOffset(p)}`,
      args,
    );
    return pageOf(
      rows.rows.map((r) => ({ id: r.id, slug: r.slug, name: r.name, createdAt: r.created_at.toISOString(), members: r.members, teams: r.teams, activeTokens: r.active_tokens, role: r.role })),
      total,
      p,
    );
  }

  async create(actor: Actor, input: { slug: string; name?: string }): Promise<OrgView> {
    this.access.requireGlobalAdmin(actor);
    return orgView(await this.orgs.createOrg(actor.label, input.slug, input.name));
  }

  async get(actor: Actor, ref: string): Promise<{ org: OrgView; role: OrgRole; counts: { members: number; teams: number; serviceAccounts: number; activeTokens: number; myTokens: number } }> {
    const s = await this.access.org(actor, ref, 'member');
    const r = await this.pool.query(
      `select (select count(*) from membership where org_id = $1)::int as members,
              (select count(*) from team where org_id = $1)::int as teams,
              (select count(*) from service_account where org_id = $1)::int as service_accounts,
              (select count(*) from api_token where org_id = $1 and revoked_at is null and (expires_at is null or expires_at > now()))::int as active_tokens,
              (select count(*) from api_token where org_id = $1 and owner_user_id = $2 and revoked_at is null)::int as my_tokens`,
      [s.org.id, actor.userId],
    );
    const c = r.rows[0];
    return { org: orgView(s.org), role: s.role, counts: { members: c.members, teams: c.teams, serviceAccounts: c.service_accounts, activeTokens: c.active_tokens, myTokens: c.my_tokens } };
  }

  async rename(actor: Actor, ref: string, name: string): Promise<OrgView> {
    const s = await this.access.org(actor, ref, 'admin');
    if (s.org.name !== name) {
      this.audit.record(s.em, { actor: actor.label, orgId: s.org.id, action: 'org.update', targetType: 'organization', targetId: s.org.id, before: { name: s.org.name }, after: { name } });
      s.org.name = name;
      await s.em.flush();
    }
    return orgView(s.org);
  }
}
