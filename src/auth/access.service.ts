import { Injectable } from '@nestjs/common';
import { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { DomainError, ErrorCode, notFound } from '../common/errors';
import { AppUser } from '../orgs/app-user.entity';
import { Membership, OrgRole } from '../orgs/membership.entity';
import { Organization } from '../orgs/organization.entity';
import { ServiceAccount } from '../orgs/service-account.entity';
import { Team } from '../orgs/team.entity';
import { ApiToken } from '../tokens/api-token.entity';
import { Actor, roleIn } from './actor';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: unknown): boolean => typeof s === "string" && UUID_RE.test(s);

export const forbidden = (message: string) => new DomainError(ErrorCode.Forbidden, message);

export interface OrgScope {
  org: Organization;
  /** The actor's role here; global admins act as admins everywhere. */
  role: OrgRole;
  em: EntityManager;
}

/**
 * The one place that decides what an actor may see and touch. Every lookup by an id that came
 * from a URL or a form goes through here and is scoped to what the actor can reach: an object in
 * an organization the actor cannot see is "not found" (so ids and names do not leak), one the actor
 * can see but not change is "forbidden".
 */
@Injectable()
export class AccessService {
  constructor(private readonly orm: MikroORM) {}

  em(): EntityManager {
    return this.orm.em.fork();
  }

  requireGlobalAdmin(actor: Actor): void {
    if (!actor.globalAdmin) throw forbidden('only global admins can do this');
  }

  /** Org ids the actor can see, or null for all of them. */
  visibleOrgIds(actor: Actor): string[] | null {
    if (actor.globalAdmin && !actor.confinedToOrgId) return null;
    return actor.orgs.map((o) => o.orgId).filter((id) => !actor.confinedToOrgId || id === actor.confinedToOrgId);
  }

  /** Resolves an organization by id or slug and checks the actor's role in it. */
  async org(actor: Actor, ref: string, need: 'member' | 'admin', em = this.em()): Promise<OrgScope> {
    const org = typeof ref === 'string' && ref ? await em.findOne(Organization, isUuid(ref) ? { id: ref } : { slug: ref.toLowerCase() }) : null;
    if (!org || (actor.confinedToOrgId && actor.confinedToOrgId !== org.id)) throw notFound('organization');
    if (actor.globalAdmin) return { org, role: 'admin', em };
    const role = roleIn(actor, org.id);
    if (!role) throw notFound('organization');
    if (need === 'admin' && role !== 'admin') throw forbidden(`only admins of ${org.slug} can do this`);
    return { org, role, em };
  }

  async team(s: OrgScope, ref: string): Promise<Team> {
    const t = typeof ref === 'string' && ref ? await s.em.findOne(Team, isUuid(ref) ? { id: ref, orgId: s.org.id } : { slug: ref.toLowerCase(), orgId: s.org.id }) : null;
    if (!t) throw notFound('team');
    return t;
  }

  async serviceAccount(s: OrgScope, ref: string): Promise<ServiceAccount> {
    const sa = typeof ref === 'string' && ref ? await s.em.findOne(ServiceAccount, isUuid(ref) ? { id: ref, orgId: s.org.id } : { name: ref, orgId: s.org.id }) : null;
    if (!sa) throw notFound('service account');
    return sa;
  }

  /** A member of the organization by user id. */
  async member(s: OrgScope, userId: string): Promise<{ user: AppUser; membership: Membership }> {
    const membership = isUuid(userId) ? await s.em.findOne(Membership, { userId, orgId: s.org.id }) : null;
    const user = membership ? await s.em.findOne(AppUser, { id: membership.userId }) : null;
    if (!membership || !user) throw notFound('member');
    return { user, membership };
  }

  /** A token of the organization (admin pages). */
  async orgToken(s: OrgScope, id: string): Promise<ApiToken> {
    const t = isUuid(id) ? await s.em.findOne(ApiToken, { id, orgId: s.org.id }) : null;
    if (!t) throw notFound('token');
    return t;
  }

  /** A token the actor owns ("My tokens"), in an organization the actor still belongs to. */
  async ownToken(actor: Actor, id: string, em = this.em()): Promise<ApiToken> {
    const t = isUuid(id) && actor.userId ? await em.findOne(ApiToken, { id, ownerUserId: actor.userId }) : null;
    if (!t) throw notFound('token');
    const visible = this.visibleOrgIds(actor);
    if (visible && !visible.includes(t.orgId)) throw notFound('token');
    return t;
  }
}
