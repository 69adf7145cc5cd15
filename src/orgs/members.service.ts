import { Injectable } from '@nestjs/common';
import { EntityManager } from '@mikro-orm/postgresql';
import { AccessService, OrgScope } from '../auth/access.service';
import type { Actor } from '../auth/actor';
import { AuditService } from '../common/audit.service';
import { conflict } from '../common/errors';
import { limitOffset, Page, pageOf, PageQuery } from '../common/paging';
import { PgPool } from '../db/pg-pool';
import { ApiToken } from '../tokens/api-token.entity';
import { TokensService } from '../tokens/tokens.service';
import { Membership, OrgRole } from './membership.entity';
import { likeOf } from './org-admin.service';
import { OrgsService } from './orgs.service';
import { Team, TeamMember } from './team.entity';

export interface MemberRow {
  userId: string;
  email: string;
  name: string | null;
  role: OrgRole;
  source: 'manual' | 'oidc';
  teams: string[];
  activeTokens: number;
  lastLoginAt: string | null;
  addedAt: string;
}

export const MEMBER_SORTS = ['email', 'name', 'role', 'added', 'lastLogin'] as const;
const ORDER: Record<string, string> = { email: 'lower(u.email)', name: 'lower(coalesce(u.display_name, u.email))', role: 'm.role', added: 'm.created_at', lastLogin: 'u.last_login_at' };

/** An organization's people: add by email, change role, remove (which also ends their tokens there). */
@Injectable()
export class MembersService {
  constructor(
    private readonly access: AccessService,
    private readonly orgs: OrgsService,
    private readonly tokens: TokensService,
    private readonly audit: AuditService,
    private readonly pool: PgPool,
  ) {}

  async list(actor: Actor, orgRef: string, f: { q?: string; role?: string }, p: PageQuery): Promise<{ scope: OrgScope; page: Page<MemberRow> }> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const args: unknown[] = [scope.org.id];
    const where = ['m.org_id = $1'];
    if (f.q) {
      args.push(likeOf(f.q));
      where.push(`(u.email ilike $${args.length} or u.display_name ilike $${args.length})`);
    }
    if (f.role === 'admin' || f.role === 'member') {
      args.push(f.role);
      where.push(`m.role = $${args.length}`);
    }
    const w = where.join(' and ');
    const total = Number((await this.pool.query(`select count(*) as n from membership m join app_user u on u.id = m.user_id where ${w}`, args)).rows[0].n);
    const r = await this.pool.query(
      `select u.id, u.email, u.display_name, m.role, m.source, u.last_login_at, m.created_at,
              coalesce((select array_agg(t.slug order by t.slug) from team_member tm join team t on t.id = tm.team_id where tm.user_id = u.id and t.org_id = m.org_id), '{}') as teams,
              (select count(*) from api_token k where k.owner_user_id = u.id and k.org_id = m.org_id and k.revoked_at is null and (k.expires_at is null or k.expires_at > now()))::int as active_tokens
         from membership m join app_user u on u.id = m.user_id
        where ${w}
        order by ${ORDER[p.sort]} ${p.dir} nulls last, lower(u.email) ${limitOffset(p)}`,
      args,
    );
    const items = r.rows.map((x) => ({
      userId: x.id,
      email: x.email,
      name: x.display_name,
      role: x.role,
      source: x.source,
      teams: x.teams,
      activeTokens: x.active_tokens,
      lastLoginAt: x.last_login_at?.toISOString() ?? null,
      addedAt: x.created_at.toISOString(),
    }));
    return { scope, page: pageOf(items, total, p) };
  }

  async get(actor: Actor, orgRef: string, userId: string): Promise<MemberRow> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const { user } = await this.access.member(scope, userId);
    const page = await this.list(actor, scope.org.id, { q: user.email }, { page: 1, per: 100, sort: 'email', dir: 'asc' });
    return page.page.items.find((m) => m.userId === user.id)!;
  }

  /** Adds a person by email (creating the user if they have never signed in). */
  async add(actor: Actor, orgRef: string, input: { email: string; role: OrgRole }): Promise<MemberRow> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const existing = await this.orgs.findUserByEmail(input.email);
    if (existing && (await scope.em.findOne(Membership, { userId: existing.id, orgId: scope.org.id }))) {
      throw conflict(`${existing.email} is already a member of ${scope.org.slug}`);
    }
    const res = await this.orgs.createUser(actor.label, { email: input.email, orgSlug: scope.org.slug, role: input.role });
    return this.get(actor, scope.org.id, res.user.id);
  }

  async setRole(actor: Actor, orgRef: string, userId: string, role: OrgRole): Promise<MemberRow> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const { user, membership } = await this.access.member(scope, userId);
    if (membership.role !== role) {
      await scope.em.transactional(async (tx: EntityManager) => {
        const m = await tx.findOneOrFail(Membership, { id: membership.id });
        if (m.role === role) return;
        if (m.role === 'admin') await this.assertNotLastAdmin(tx, scope);
        this.audit.record(tx, { actor: actor.label, orgId: scope.org.id, action: 'membership.update', targetType: 'membership', targetId: m.id, before: { email: user.email, role: m.role }, after: { email: user.email, role } });
        m.role = role;
        // Set by hand now: the identity provider's group sync leaves it alone from here on.
        m.source = 'manual';
      });
    }
    return this.get(actor, scope.org.id, user.id);
  }

  /** Removes the person from the organization and its teams, and revokes their tokens there. */
  async remove(actor: Actor, orgRef: string, userId: string): Promise<void> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const { user, membership } = await this.access.member(scope, userId);
    await scope.em.transactional(async (tx: EntityManager) => {
      const m = await tx.findOneOrFail(Membership, { id: membership.id });
      if (m.role === 'admin') await this.assertNotLastAdmin(tx, scope);
      this.audit.record(tx, { actor: actor.label, orgId: scope.org.id, action: 'membership.delete', targetType: 'membership', targetId: m.id, before: { email: user.email, role: m.role } });
      tx.remove(m);
      const teamIds = (await tx.find(Team, { orgId: scope.org.id })).map((t) => t.id);
      if (teamIds.length) await tx.nativeDelete(TeamMember, { userId: user.id, teamId: { $in: teamIds } });
      await this.tokens.revokeInTx(tx, actor.label, await tx.find(ApiToken, { ownerUserId: user.id, orgId: scope.org.id, revokedAt: null }), 'owner removed from the organization');
    });
  }

  /**
   * An organization keeps at least one admin; a global admin can always step in, but should not
   * have to. Runs in the caller's transaction with the organization's row locked, so two admins
   * demoting each other at the same moment cannot both pass the count.
   */
  private async assertNotLastAdmin(tx: EntityManager, scope: OrgScope): Promise<void> {
    await tx.getConnection().execute('select 1 from organization where id = ? for update', [scope.org.id], 'all', tx.getTransactionContext());
    const admins = await tx.count(Membership, { orgId: scope.org.id, role: 'admin' });
    if (admins <= 1) throw conflict(`this is the last admin of ${scope.org.slug}; make someone else an admin first`);
  }
}
