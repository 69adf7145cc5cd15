import { Inject, Injectable } from '@nestjs/common';
import { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import { AuditService } from '../common/audit.service';
import { DomainError, ErrorCode } from '../common/errors';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { AppUser } from '../orgs/app-user.entity';
import { Membership, OrgRole } from '../orgs/membership.entity';
import { Organization } from '../orgs/organization.entity';
import { assertEmail, OrgsService } from '../orgs/orgs.service';
import { Team, TeamMember } from '../orgs/team.entity';
import { ApiToken } from '../tokens/api-token.entity';
import { TokensService } from '../tokens/tokens.service';

export interface SignedIn {
  userId: string;
  email: string;
  /** Global admin through OIDC_ADMIN_GROUPS / OIDC_GROUP_MAP, as of this sign-in. */
  groupAdmin: boolean;
}

interface Desired {
  admin: boolean;
  orgs: Map<string, OrgRole>;
  teams: Set<string>;
}

/**
 * Turns verified ID-token claims into a Sluice user: found by (issuer, subject), else linked by
 * email to a user an admin added before their first sign-in, else created. With a groups claim,
 * memberships the provider grants are kept in step at every sign-in; memberships set by hand are
 * never touched.
 */
@Injectable()
export class OidcUsersService {
  constructor(
    private readonly orm: MikroORM,
    private readonly orgs: OrgsService,
    private readonly tokens: TokensService,
    private readonly audit: AuditService,
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async signIn(issuer: string, claims: Record<string, unknown>): Promise<SignedIn> {
    const sub = typeof claims.sub === 'string' ? claims.sub : '';
    if (!sub) throw new DomainError(ErrorCode.Forbidden, 'the identity provider sent no subject');
    if (typeof claims.email !== 'string' || !claims.email) {
      throw new DomainError(ErrorCode.Forbidden, 'the identity provider sent no email address; allow the "email" scope for this client');
    }
    const email = assertEmail(claims.email);
    const name = displayNameOf(claims);
    const groups = this.groupsOf(claims);
    const desired = this.desiredFrom(groups);
    const actor = `idp:${email}`;

    // One transaction: the user, the membership sync, revocations and their cache notifications
    // (delivered by Postgres at commit, so no instance can reload a token before it is revoked).
    // An address the provider has not verified may not link to an existing user, change a user's
    // address, or claim a SLUICE_ADMINS address: on providers where people edit their own email,
    // that would be an account takeover. OIDC_REQUIRE_VERIFIED_EMAIL=false trusts providers that
    // manage addresses themselves and send no email_verified claim (Entra ID).
    const verified = claims.email_verified === true || (!this.rt.env.OIDC_REQUIRE_VERIFIED_EMAIL && claims.email_verified !== false);
    const adminList = (this.rt.env.SLUICE_ADMINS ?? []).map((e) => e.toLowerCase());
    if (!verified && adminList.includes(email.toLowerCase())) {
      throw new DomainError(ErrorCode.Forbidden, `the identity provider has not verified ${email}; an admin address needs a verified email`);
    }
    return this.orm.em.fork().transactional(async (em) => {
      let user = await em.findOne(AppUser, { oidcIssuer: issuer, oidcSubject: sub });
      if (!user) {
        const byEmail = await this.orgs.findUserByEmail(email, em);
        if (byEmail) {
          if (byEmail.oidcSubject && byEmail.oidcIssuer === issuer) {
            // Same address, different person at the provider (re-created account): an admin decides.
            this.logger.warn({ email }, 'OIDC sign-in refused: the email belongs to a user linked to another subject');
            throw new DomainError(ErrorCode.Forbidden, `${email} is already linked to a different account at the identity provider; ask an admin`);
          }
          if (!verified) {
            throw new DomainError(ErrorCode.Forbidden, `the identity provider has not verified ${email}, so it cannot be linked to the existing Sluice user`);
          }
          user = byEmail;
          this.audit.record(em, { actor, action: 'user.link', targetType: 'user', targetId: user.id, before: { oidcIssuer: user.oidcIssuer ?? null }, after: { oidcIssuer: issuer } });
          user.oidcIssuer = issuer;
          user.oidcSubject = sub;
        } else {
          user = em.create(AppUser, { email, displayName: name, oidcIssuer: issuer, oidcSubject: sub, isGlobalAdmin: false, lastLoginAt: null });
          this.audit.record(em, { actor, action: 'user.create', targetType: 'user', targetId: user.id, after: { email, via: 'oidc' } });
        }
      } else if (user.email !== email) {
        if (!verified) throw new DomainError(ErrorCode.Forbidden, `the identity provider has not verified ${email}, so it cannot replace your address in Sluice`);
        const clash = await this.orgs.findUserByEmail(email, em);
        if (clash && clash.id !== user.id) throw new DomainError(ErrorCode.Forbidden, `${email} belongs to another Sluice user; ask an admin`);
        this.audit.record(em, { actor, action: 'user.update', targetType: 'user', targetId: user.id, before: { email: user.email }, after: { email } });
        user.email = email;
      }
      if (name && user.displayName !== name) user.displayName = name;
      user.lastLoginAt = new Date();
      if (this.rt.env.OIDC_GROUP_MAP) await this.syncMemberships(em, actor, user, desired);
      this.audit.record(em, { actor, action: 'user.sign_in', targetType: 'user', targetId: user.id, after: { via: 'oidc', groupAdmin: desired.admin } });
      return { userId: user.id, email, groupAdmin: desired.admin };
    });
  }

  private groupsOf(claims: Record<string, unknown>): string[] {
    const claim = this.rt.env.OIDC_GROUPS_CLAIM;
    if (!claim) return [];
    const v = claims[claim];
    if (Array.isArray(v)) return v.filter((g): g is string => typeof g === 'string');
    if (typeof v === 'string') return v.split(/[\s,]+/).filter(Boolean);
    return [];
  }

  private desiredFrom(groups: string[]): Desired {
    const d: Desired = { admin: false, orgs: new Map(), teams: new Set() };
    const adminGroups = new Set(this.rt.env.OIDC_ADMIN_GROUPS ?? []);
    const map = this.rt.env.OIDC_GROUP_MAP ?? {};
    const grant = (org: string, role: OrgRole) => {
      if (d.orgs.get(org) !== 'admin') d.orgs.set(org, role);
    };
    for (const g of groups) {
      if (adminGroups.has(g)) d.admin = true;
      const target = map[g];
      if (!target) continue;
      if (target === 'admin') d.admin = true;
      else if (target.startsWith('org:')) {
        const [, slug, role] = target.split(':');
        grant(slug, role === 'admin' ? 'admin' : 'member');
      } else if (target.startsWith('team:')) {
        const path = target.slice(5);
        grant(path.split('/')[0], 'member');
        d.teams.add(path);
      }
    }
    return d;
  }

  private async syncMemberships(em: EntityManager, actor: string, user: AppUser, d: Desired): Promise<void> {
    const slugs = [...d.orgs.keys()];
    const orgs = slugs.length ? await em.find(Organization, { slug: { $in: slugs } }) : [];
    for (const missing of slugs.filter((s) => !orgs.some((o) => o.slug === s))) {
      this.logger.warn({ org: missing }, 'OIDC_GROUP_MAP names an organization that does not exist; create it first');
    }
    const current = await em.find(Membership, { userId: user.id });
    for (const org of orgs) {
      const role = d.orgs.get(org.slug)!;
      const m = current.find((x) => x.orgId === org.id);
      if (!m) {
        const created = em.create(Membership, { userId: user.id, orgId: org.id, role, source: 'oidc' });
        this.audit.record(em, { actor, orgId: org.id, action: 'membership.create', targetType: 'membership', targetId: created.id, after: { email: user.email, role, source: 'oidc' } });
      } else if (m.source === 'oidc' && m.role !== role) {
        this.audit.record(em, { actor, orgId: org.id, action: 'membership.update', targetType: 'membership', targetId: m.id, before: { role: m.role }, after: { role, source: 'oidc' } });
        m.role = role;
      }
    }
    // Provider-granted memberships the provider no longer grants end, with their tokens.
    for (const m of current.filter((x) => x.source === 'oidc' && !orgs.some((o) => o.id === x.orgId))) {
      this.audit.record(em, { actor, orgId: m.orgId, action: 'membership.delete', targetType: 'membership', targetId: m.id, before: { email: user.email, role: m.role, source: 'oidc' } });
      em.remove(m);
      const teamIds = (await em.find(Team, { orgId: m.orgId })).map((t) => t.id);
      if (teamIds.length) await em.nativeDelete(TeamMember, { userId: user.id, teamId: { $in: teamIds } });
      await this.tokens.revokeInTx(em, actor, await em.find(ApiToken, { ownerUserId: user.id, orgId: m.orgId, revokedAt: null }), 'membership ended by the identity provider');
    }
    // Teams: provider-granted team memberships follow the groups too.
    const wanted = new Map<string, Team>();
    for (const path of d.teams) {
      const [orgSlug, teamSlug] = path.split('/');
      const org = orgs.find((o) => o.slug === orgSlug);
      const team = org ? await em.findOne(Team, { orgId: org.id, slug: teamSlug }) : null;
      if (team) wanted.set(team.id, team);
      else this.logger.warn({ team: path }, 'OIDC_GROUP_MAP names a team that does not exist; create it first');
    }
    const teamRows = await em.find(TeamMember, { userId: user.id });
    for (const [id, team] of wanted) {
      if (!teamRows.some((r) => r.teamId === id)) {
        em.create(TeamMember, { teamId: id, userId: user.id, source: 'oidc' });
        this.audit.record(em, { actor, orgId: team.orgId, action: 'team.member.add', targetType: 'team', targetId: id, after: { email: user.email, source: 'oidc' } });
      }
    }
    for (const r of teamRows.filter((x) => x.source === 'oidc' && !wanted.has(x.teamId))) {
      const team = await em.findOne(Team, { id: r.teamId });
      this.audit.record(em, { actor, orgId: team?.orgId ?? null, action: 'team.member.remove', targetType: 'team', targetId: r.teamId, before: { email: user.email, source: 'oidc' } });
      em.remove(r);
    }
  }
}

function displayNameOf(c: Record<string, unknown>): string | null {
  const s = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim().slice(0, 200) : null);
  const full = [s(c.given_name), s(c.family_name)].filter(Boolean).join(' ');
  return s(c.name) ?? (full || null) ?? s(c.preferred_username);
}
