import { Injectable } from '@nestjs/common';
import { EntityManager, MikroORM, UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import { AuditService } from '../common/audit.service';
import { conflict, invalid, notFound } from '../common/errors';
import { AppUser } from './app-user.entity';
import { Membership, ORG_ROLES, OrgRole } from './membership.entity';
import { Organization } from './organization.entity';
import { ServiceAccount } from './service-account.entity';
import { Team, TeamMember } from './team.entity';

const SLUG_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SA_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const EMAIL_RE = /^[^\s@]+@[^\s@]+$/;

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

export function assertSlug(slug: string, what = 'slug'): string {
  if (!SLUG_RE.test(slug)) throw invalid(`${what} must be 1-63 lowercase letters, digits or dashes, starting with a letter or digit`);
  return slug;
}

export function assertEmail(email: string): string {
  const e = normalizeEmail(email);
  if (!EMAIL_RE.test(e) || e.length > 320) throw invalid('email must be an address such as ada@example.com');
  return e;
}

export interface CreateUserInput {
  email: string;
  displayName?: string;
  globalAdmin?: boolean;
  orgSlug?: string;
  role?: OrgRole;
}

/** Organizations, users, memberships, teams and service accounts. */
@Injectable()
export class OrgsService {
  constructor(
    private readonly orm: MikroORM,
    private readonly audit: AuditService,
  ) {}

  em(): EntityManager {
    return this.orm.em.fork();
  }

  async createOrg(actor: string, slug: string, name?: string): Promise<Organization> {
    assertSlug(slug, 'organization slug');
    const em = this.em();
    if (await em.findOne(Organization, { slug })) throw conflict(`organization "${slug}" already exists`);
    const org = em.create(Organization, { slug, name: name?.trim() || slug });
    this.audit.record(em, { actor, orgId: org.id, action: 'org.create', targetType: 'organization', targetId: org.id, after: { slug, name: org.name } });
    await this.flushUnique(em, `organization "${slug}" already exists`);
    return org;
  }

  async listOrgs(): Promise<Organization[]> {
    return this.em().find(Organization, {}, { orderBy: { slug: 'asc' } });
  }

  async getOrgBySlug(slug: string, em = this.em()): Promise<Organization> {
    const org = await em.findOne(Organization, { slug });
    if (!org) throw notFound(`organization "${slug}"`);
    return org;
  }

  async findUserByEmail(email: string, em = this.em()): Promise<AppUser | null> {
    const rows = await em.getConnection().execute<{ id: string }[]>('select id from app_user where lower(email) = ?', [normalizeEmail(email)]);
    return rows.length ? em.findOne(AppUser, { id: rows[0].id }) : null;
  }

  async getUserByEmail(email: string, em = this.em()): Promise<AppUser> {
    const user = await this.findUserByEmail(email, em);
    if (!user) throw notFound(`user "${normalizeEmail(email)}"`);
    return user;
  }

  /** Creates the user, or updates flags of an existing one; with an org, ensures the membership. */
  async createUser(actor: string, input: CreateUserInput): Promise<{ user: AppUser; created: boolean; membership?: Membership }> {
    const email = assertEmail(input.email);
    if (input.role && !ORG_ROLES.includes(input.role)) throw invalid(`role must be one of ${ORG_ROLES.join(', ')}`);
    if (input.role && !input.orgSlug) throw invalid('a role needs an organization (--org)');
    const em = this.em();
    const org = input.orgSlug ? await this.getOrgBySlug(input.orgSlug, em) : undefined;
    let user = await this.findUserByEmail(email, em);
    const created = !user;
    if (!user) {
      user = em.create(AppUser, { email, displayName: input.displayName ?? null, isGlobalAdmin: !!input.globalAdmin });
      this.audit.record(em, { actor, orgId: org?.id, action: 'user.create', targetType: 'user', targetId: user.id, after: { email, globalAdmin: !!input.globalAdmin } });
    } else if (input.globalAdmin && !user.isGlobalAdmin) {
      user.isGlobalAdmin = true;
      this.audit.record(em, { actor, action: 'user.update', targetType: 'user', targetId: user.id, before: { globalAdmin: false }, after: { globalAdmin: true } });
    }
    let membership: Membership | undefined;
    // Without an explicit role an existing membership is kept as it is (issuing a token for an
    // admin must not demote them); a new one starts as member.
    if (org) membership = await this.ensureMembership(em, actor, user, org, input.role);
    await this.flushUnique(em, `user "${email}" already exists`);
    return { user, created, membership };
  }

  /** Adds the user to the org with the role, or changes the role of an existing membership. */
  async ensureMembership(em: EntityManager, actor: string, user: AppUser, org: Organization, role?: OrgRole): Promise<Membership> {
    const existing = await em.findOne(Membership, { userId: user.id, orgId: org.id });
    if (existing) {
      if (role && existing.role !== role) {
        this.audit.record(em, { actor, orgId: org.id, action: 'membership.update', targetType: 'membership', targetId: existing.id, before: { role: existing.role }, after: { role } });
        existing.role = role;
      }
      return existing;
    }
    const m = em.create(Membership, { userId: user.id, orgId: org.id, role: role ?? 'member', source: 'manual' });
    this.audit.record(em, { actor, orgId: org.id, action: 'membership.create', targetType: 'membership', targetId: m.id, after: { email: user.email, role: m.role } });
    return m;
  }

  async createTeam(actor: string, orgSlug: string, slug: string, name?: string): Promise<Team> {
    assertSlug(slug, 'team slug');
    const em = this.em();
    const org = await this.getOrgBySlug(orgSlug, em);
    if (await em.findOne(Team, { orgId: org.id, slug })) throw conflict(`team "${orgSlug}/${slug}" already exists`);
    const team = em.create(Team, { orgId: org.id, slug, name: name?.trim() || slug });
    this.audit.record(em, { actor, orgId: org.id, action: 'team.create', targetType: 'team', targetId: team.id, after: { slug, name: team.name } });
    await this.flushUnique(em, `team "${orgSlug}/${slug}" already exists`);
    return team;
  }

  async getTeam(orgId: string, slug: string, em = this.em()): Promise<Team> {
    const team = await em.findOne(Team, { orgId, slug });
    if (!team) throw notFound(`team "${slug}"`);
    return team;
  }

  async addTeamMember(actor: string, orgSlug: string, teamSlug: string, email: string): Promise<TeamMember> {
    const em = this.em();
    const org = await this.getOrgBySlug(orgSlug, em);
    const team = await this.getTeam(org.id, teamSlug, em);
    const user = await this.getUserByEmail(email, em);
    if (!(await em.findOne(Membership, { userId: user.id, orgId: org.id }))) {
      throw invalid(`${user.email} is not a member of ${org.slug}; add them to the organization first`);
    }
    const existing = await em.findOne(TeamMember, { teamId: team.id, userId: user.id });
    if (existing) return existing;
    const tm = em.create(TeamMember, { teamId: team.id, userId: user.id, source: 'manual' });
    this.audit.record(em, { actor, orgId: org.id, action: 'team.member.add', targetType: 'team', targetId: team.id, after: { email: user.email } });
    await em.flush();
    return tm;
  }

  async createServiceAccount(actor: string, orgSlug: string, name: string, opts: { teamSlug?: string; description?: string } = {}): Promise<ServiceAccount> {
    if (!SA_NAME_RE.test(name)) throw invalid('service account names are 1-63 letters, digits, dot, dash or underscore');
    const em = this.em();
    const org = await this.getOrgBySlug(orgSlug, em);
    if (await em.findOne(ServiceAccount, { orgId: org.id, name })) throw conflict(`service account "${orgSlug}/${name}" already exists`);
    const team = opts.teamSlug ? await this.getTeam(org.id, opts.teamSlug, em) : undefined;
    const sa = em.create(ServiceAccount, { orgId: org.id, name, teamId: team?.id ?? null, description: opts.description ?? null, disabledAt: null });
    this.audit.record(em, { actor, orgId: org.id, action: 'service_account.create', targetType: 'service_account', targetId: sa.id, after: { name, team: opts.teamSlug ?? null } });
    await this.flushUnique(em, `service account "${orgSlug}/${name}" already exists`);
    return sa;
  }

  async findServiceAccount(orgId: string, name: string, em = this.em()): Promise<ServiceAccount | null> {
    return em.findOne(ServiceAccount, { orgId, name });
  }

  private async flushUnique(em: EntityManager, message: string): Promise<void> {
    try {
      await em.flush();
    } catch (e) {
      // Two callers racing past the existence check: the unique index decides, we report it cleanly.
      if (e instanceof UniqueConstraintViolationException) throw conflict(message);
      throw e;
    }
  }
}
