import { Inject, Injectable } from '@nestjs/common';
import { RUNTIME, type Runtime } from '../config/runtime';
import { PgPool } from '../db/pg-pool';
import type { OrgRole } from '../orgs/membership.entity';
import type { Principal } from '../tokens/principal';
import type { Actor, OrgAccess } from './actor';
import type { SessionRecord, SessionUser } from './session.service';

interface UserRow {
  id: string;
  email: string;
  display_name: string | null;
  is_global_admin: boolean;
}

/** Builds an Actor from a session or an API token, reading the user's current roles. */
@Injectable()
export class ActorService {
  private readonly admins: Set<string>;

  constructor(
    private readonly pool: PgPool,
    @Inject(RUNTIME) rt: Runtime,
  ) {
    this.admins = new Set(rt.env.SLUICE_ADMINS ?? []);
  }

  /** SLUICE_ADMINS makes these addresses global admins whatever the database says. */
  isConfiguredAdmin(email: string | null | undefined): boolean {
    return !!email && this.admins.has(email.toLowerCase());
  }

  async fromSession(s: SessionRecord): Promise<Actor | null> {
    if (!s.userId) return null;
    // SessionService.load reads the user and memberships with the session; other records read them now.
    const user = s.user !== undefined ? s.user : await this.sessionUser(s.userId);
    if (!user) return null;
    return {
      via: 'session',
      userId: user.id,
      email: user.email,
      displayName: user.displayName,
      globalAdmin: user.isGlobalAdmin || this.isConfiguredAdmin(user.email) || !!s.data.groupAdmin,
      orgs: user.orgs,
      tokenId: null,
      confinedToOrgId: null,
      label: `user:${user.email}`,
    };
  }

  private async sessionUser(id: string): Promise<SessionUser | null> {
    const user = await this.user(id);
    return user ? { id: user.id, email: user.email, displayName: user.display_name, isGlobalAdmin: user.is_global_admin, orgs: await this.memberships(user.id) } : null;
  }

  async fromToken(p: Principal): Promise<Actor> {
    const base = { via: 'token' as const, tokenId: p.tokenId, label: `token:${p.tokenId}` };
    const org = { orgId: p.orgId, slug: p.orgSlug };
    if (p.serviceAccountId) {
      // A service account's admin token administers its own organization.
      const name = await this.orgName(p.orgId);
      return { ...base, userId: null, email: null, displayName: `service account ${p.serviceAccountName}`, globalAdmin: false, orgs: [{ ...org, name, role: 'admin' }], confinedToOrgId: p.orgId };
    }
    const user = p.ownerUserId ? await this.user(p.ownerUserId) : null;
    if (!user) return { ...base, userId: null, email: null, displayName: null, globalAdmin: false, orgs: [], confinedToOrgId: p.orgId };
    // A token carries its owner's global powers only when the owner issued it (or the operator,
    // through the CLI). A token an org admin issued or rotated for a global admin stays inside
    // that org: otherwise any org admin could mint themselves global access.
    const selfIssued = p.createdById === null || p.createdById === user.id;
    const globalAdmin = selfIssued && (user.is_global_admin || this.isConfiguredAdmin(user.email));
    const all = await this.memberships(user.id);
    return {
      ...base,
      userId: user.id,
      email: user.email,
      displayName: user.display_name,
      globalAdmin,
      orgs: globalAdmin ? all : all.filter((o) => o.orgId === p.orgId),
      confinedToOrgId: globalAdmin ? null : p.orgId,
    };
  }

  private async user(id: string): Promise<UserRow | null> {
    const r = await this.pool.query<UserRow>('select id, email, display_name, is_global_admin from app_user where id = $1', [id]);
    return r.rows[0] ?? null;
  }

  private async orgName(id: string): Promise<string> {
    const r = await this.pool.query<{ name: string }>('select name from organization where id = $1', [id]);
    return r.rows[0]?.name ?? '';
  }

  private async memberships(userId: string): Promise<OrgAccess[]> {
    const r = await this.pool.query<{ org_id: string; slug: string; name: string; role: OrgRole }>(
      'select m.org_id, o.slug, o.name, m.role from membership m join organization o on o.id = m.org_id where m.user_id = $1 order by o.slug',
      [userId],
    );
    return r.rows.map((x) => ({ orgId: x.org_id, slug: x.slug, name: x.name, role: x.role }));
  }
}
