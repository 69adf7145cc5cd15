import { Injectable } from '@nestjs/common';
import { AccessService, isUuid, OrgScope } from '../auth/access.service';
import type { Actor } from '../auth/actor';
import { AuditService } from '../common/audit.service';
import { conflict, invalid, notFound } from '../common/errors';
import { limitOffset, Page, pageOf, PageQuery } from '../common/paging';
import { PgPool } from '../db/pg-pool';
import { ApiToken } from '../tokens/api-token.entity';
import { TokensService } from '../tokens/tokens.service';
import { AppUser } from './app-user.entity';
import { Membership } from './membership.entity';
import { likeOf } from './org-admin.service';
import { OrgsService } from './orgs.service';
import { Team, TeamMember } from './team.entity';

export interface TeamRow {
  id: string;
  slug: string;
  name: string;
  members: number;
  serviceAccounts: number;
  createdAt: string;
}

export interface TeamDetail extends TeamRow {
  org: string;
  people: { userId: string; email: string; name: string | null; source: string }[];
}

export const TEAM_SORTS = ['slug', 'name', 'members', 'created'] as const;
const ORDER: Record<string, string> = { slug: 't.slug', name: 'lower(t.name)', members: 'members', created: 't.created_at' };

/**
 * Teams and their members. Team membership decides grant subjects (`team:<org>/<team>`), which the
 * principal cache holds per token, so every change here evicts the affected tokens everywhere.
 */
@Injectable()
export class TeamsService {
  constructor(
    private readonly access: AccessService,
    private readonly orgs: OrgsService,
    private readonly tokens: TokensService,
    private readonly audit: AuditService,
    private readonly pool: PgPool,
  ) {}

  async list(actor: Actor, orgRef: string, f: { q?: string }, p: PageQuery): Promise<{ scope: OrgScope; page: Page<TeamRow> }> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const args: unknown[] = [scope.org.id];
    let w = 't.org_id = $1';
    if (f.q) {
      args.push(likeOf(f.q));
      w += ` and (t.slug ilike $2 or t.name ilike $2)`;
    }
    const total = Number((await this.pool.query(`select count(*) as n from team t where ${w}`, args)).rows[0].n);
    const r = await this.pool.query(
      `select t.id, t.slug, t.name, t.created_at,
              (select count(*) from team_member tm where tm.team_id = t.id)::int as members,
              (select count(*) from service_account sa where sa.team_id = t.id)::int as service_accounts
         from team t where ${w}
        order by ${ORDER[p.sort]} ${p.dir}, t.slug ${limitOffset(p)}`,
      args,
    );
    return { scope, page: pageOf(r.rows.map((x) => ({ id: x.id, slug: x.slug, name: x.name, members: x.members, serviceAccounts: x.service_accounts, createdAt: x.created_at.toISOString() })), total, p) };
  }

  async get(actor: Actor, orgRef: string, teamRef: string): Promise<TeamDetail> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const team = await this.access.team(scope, teamRef);
    const people = await this.pool.query(
      `select u.id, u.email, u.display_name, tm.source from team_member tm join app_user u on u.id = tm.user_id where tm.team_id = $1 order by lower(u.email)`,
      [team.id],
    );
    const sas = await this.pool.query(`select count(*)::int as n from service_account where team_id = $1`, [team.id]);
    return {
      id: team.id,
      slug: team.slug,
      name: team.name,
      org: scope.org.slug,
      createdAt: team.createdAt.toISOString(),
      members: people.rowCount ?? 0,
      serviceAccounts: sas.rows[0].n,
      people: people.rows.map((x) => ({ userId: x.id, email: x.email, name: x.display_name, source: x.source })),
    };
  }

  async create(actor: Actor, orgRef: string, input: { slug: string; name?: string }): Promise<TeamDetail> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const team = await this.orgs.createTeam(actor.label, scope.org.slug, input.slug, input.name);
    return this.get(actor, scope.org.id, team.id);
  }

  async rename(actor: Actor, orgRef: string, teamRef: string, name: string): Promise<TeamDetail> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const team = await this.access.team(scope, teamRef);
    if (team.name !== name) {
      this.audit.record(scope.em, { actor: actor.label, orgId: scope.org.id, action: 'team.update', targetType: 'team', targetId: team.id, before: { name: team.name }, after: { name } });
      team.name = name;
      await scope.em.flush();
    }
    return this.get(actor, scope.org.id, team.id);
  }

  async delete(actor: Actor, orgRef: string, teamRef: string): Promise<void> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const team = await this.access.team(scope, teamRef);
    await scope.em.transactional(async (tx) => {
      const t = await tx.findOneOrFail(Team, { id: team.id });
      this.audit.record(tx, { actor: actor.label, orgId: scope.org.id, action: 'team.delete', targetType: 'team', targetId: t.id, before: { slug: t.slug, name: t.name } });
      tx.remove(t);
      await tx.flush();
      // Tokens, service accounts and members lose the team (on delete set null / cascade); every
      // cached principal may carry it in its grant subjects, so all caches start over.
      await this.tokens.notifyInTx(tx, '*');
    });
  }

  async addMember(actor: Actor, orgRef: string, teamRef: string, input: { email?: string; userId?: string }): Promise<TeamDetail> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const team = await this.access.team(scope, teamRef);
    const user = input.userId
      ? isUuid(input.userId) ? await scope.em.findOne(AppUser, { id: input.userId }) : null
      : input.email ? await this.orgs.findUserByEmail(input.email, scope.em) : null;
    if (!input.userId && !input.email) throw invalid('name the person by email or user id', 'email');
    // Only people of this organization can join its teams; anyone else is "not found" here.
    if (!user || !(await scope.em.findOne(Membership, { userId: user.id, orgId: scope.org.id }))) {
      throw notFound(`member of ${scope.org.slug}`);
    }
    if (await scope.em.findOne(TeamMember, { teamId: team.id, userId: user.id })) throw conflict(`${user.email} is already in ${team.slug}`);
    await scope.em.transactional(async (tx) => {
      tx.create(TeamMember, { teamId: team.id, userId: user.id, source: 'manual' });
      this.audit.record(tx, { actor: actor.label, orgId: scope.org.id, action: 'team.member.add', targetType: 'team', targetId: team.id, after: { email: user.email } });
      await tx.flush();
      await this.evictUserTokens(tx, user.id, scope.org.id);
    });
    return this.get(actor, scope.org.id, team.id);
  }

  async removeMember(actor: Actor, orgRef: string, teamRef: string, userId: string): Promise<TeamDetail> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const team = await this.access.team(scope, teamRef);
    const row = isUuid(userId) ? await scope.em.findOne(TeamMember, { teamId: team.id, userId }) : null;
    if (!row) throw notFound('team member');
    const user = await scope.em.findOneOrFail(AppUser, { id: row.userId });
    await scope.em.transactional(async (tx) => {
      this.audit.record(tx, { actor: actor.label, orgId: scope.org.id, action: 'team.member.remove', targetType: 'team', targetId: team.id, before: { email: user.email } });
      await tx.nativeDelete(TeamMember, { id: row.id });
      await this.evictUserTokens(tx, user.id, scope.org.id);
    });
    return this.get(actor, scope.org.id, team.id);
  }

  private async evictUserTokens(tx: Parameters<TokensService['notifyInTx']>[0], userId: string, orgId: string) {
    const ids = (await tx.find(ApiToken, { ownerUserId: userId, orgId, revokedAt: null })).map((t) => t.id);
    await this.tokens.notifyInTx(tx, ids);
  }
}
