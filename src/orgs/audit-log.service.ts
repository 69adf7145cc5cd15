import { Injectable } from '@nestjs/common';
import { AccessService, forbidden } from '../auth/access.service';
import type { Actor } from '../auth/actor';
import { limitOffset, Page, pageOf, PageQuery } from '../common/paging';
import { PgPool } from '../db/pg-pool';
import { likeOf } from './org-admin.service';

export interface AuditRow {
  id: string;
  at: string;
  actor: string;
  org: string | null;
  action: string;
  targetType: string;
  targetId: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

export interface AuditFilters {
  org?: string;
  actor?: string;
  action?: string;
  target?: string;
}

export const AUDIT_SORTS = ['time'] as const;

/** The audit log as global admins (everything) and organization admins (their organizations) see it. */
@Injectable()
export class AuditLogService {
  constructor(
    private readonly access: AccessService,
    private readonly pool: PgPool,
  ) {}

  async list(actor: Actor, f: AuditFilters, p: PageQuery): Promise<Page<AuditRow>> {
    const args: unknown[] = [];
    const where: string[] = [];
    if (f.org) {
      const s = await this.access.org(actor, f.org, 'admin');
      args.push(s.org.id);
      where.push(`e.org_id = $${args.length}`);
    } else if (!actor.globalAdmin || actor.confinedToOrgId) {
      const adminOf = actor.orgs.filter((o) => o.role === 'admin' && (!actor.confinedToOrgId || o.orgId === actor.confinedToOrgId)).map((o) => o.orgId);
      if (!adminOf.length) throw forbidden('the audit log is for organization and global admins');
      args.push(adminOf);
      where.push(`e.org_id = any($${args.length}::uuid[])`);
    }
    if (f.actor) {
      args.push(likeOf(f.actor));
      where.push(`e.actor ilike $${args.length}`);
    }
    if (f.action) {
      args.push(f.action.replace(/[\\%_]/g, (c) => '\\' + c) + '%');
      where.push(`e.action like $${args.length}`);
    }
    if (f.target) {
      args.push(f.target);
      where.push(`e.target_id = $${args.length}`);
    }
    const w = where.length ? `where ${where.join(' and ')}` : '';
    const total = Number((await this.pool.query(`select count(*) as n from audit_event e ${w}`, args)).rows[0].n);
    const r = await this.pool.query(
      `select e.id, e.created_at, e.actor, o.slug as org, e.action, e.target_type, e.target_id, e.before, e.after
         from audit_event e left join organization o on o.id = e.org_id ${w}
        order by e.created_at ${p.dir}, e.id ${p.dir} ${limitOffset(p)}`,
      args,
    );
    return pageOf(
      r.rows.map((x) => ({ id: x.id, at: x.created_at.toISOString(), actor: x.actor, org: x.org, action: x.action, targetType: x.target_type, targetId: x.target_id, before: x.before, after: x.after })),
      total,
      p,
    );
  }
}
