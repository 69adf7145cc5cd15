import { Injectable } from '@nestjs/common';
import { AccessService, forbidden } from '../auth/access.service';
import type { Actor } from '../auth/actor';
import { notFound } from '../common/errors';
import { AnalyticsPool, AnalyticsRepository } from './analytics.repository';
import { intlKnowsZone } from './time-zone';

export interface OrgRef {
  id: string;
  slug: string;
  name: string;
}

/**
 * Whose usage a page shows, decided once per request from the actor and the `org` parameter:
 * global admins see all organizations or one; org admins their organization; members only their
 * own usage (tokens they own and requests whose end-user id is their email) in their organization.
 */
export interface AnalyticsScope {
  /** null: every organization. */
  orgIds: string[] | null;
  person: { userId: string | null; email: string } | null;
  /** The selected organization; null when showing all. */
  org: OrgRef | null;
  /** Organizations the picker offers. */
  orgs: OrgRef[];
  canAll: boolean;
  /** Admin of what is shown (sees everyone's usage in it). */
  isAdmin: boolean;
  /** The `org` value that reproduces this scope in a URL. */
  orgParam: string;
}

@Injectable()
export class AnalyticsScopes {
  private zones?: Promise<Set<string>>;

  constructor(
    private readonly access: AccessService,
    private readonly repo: AnalyticsRepository,
    private readonly pool: AnalyticsPool,
  ) {}

  /**
   * The scope for `orgParam` ('all', a slug or an id). `need: 'admin'` is for admin-only pages
   * (adoption): members get 403. Null when a member belongs to no organization yet.
   */
  async resolve(actor: Actor, orgParam: string | undefined, need: 'member' | 'admin' = 'member'): Promise<AnalyticsScope | null> {
    const global = actor.globalAdmin && !actor.confinedToOrgId;
    if (global) {
      const orgs = await this.repo.orgs(null);
      if (!orgParam || orgParam === 'all') return { orgIds: null, person: null, org: null, orgs, canAll: true, isAdmin: true, orgParam: 'all' };
      const s = await this.access.org(actor, orgParam, need);
      const org = { id: s.org.id, slug: s.org.slug, name: s.org.name };
      return { orgIds: [org.id], person: null, org, orgs, canAll: true, isAdmin: true, orgParam: org.slug };
    }
    const visible = actor.orgs.filter((o) => !actor.confinedToOrgId || o.orgId === actor.confinedToOrgId);
    const choices = need === 'admin' ? visible.filter((o) => o.role === 'admin') : visible;
    if (!choices.length) {
      if (need === 'admin') throw forbidden('only organization admins can see this page');
      return null;
    }
    const orgs = choices.map((o) => ({ id: o.orgId, slug: o.slug, name: o.name })).sort((a, b) => a.slug.localeCompare(b.slug));
    let role: 'admin' | 'member';
    let org: OrgRef;
    if (!orgParam || orgParam === 'all') {
      const pick = choices.find((o) => o.role === 'admin') ?? choices[0];
      org = { id: pick.orgId, slug: pick.slug, name: pick.name };
      role = pick.role;
    } else {
      const s = await this.access.org(actor, orgParam, need);
      org = { id: s.org.id, slug: s.org.slug, name: s.org.name };
      role = s.role;
    }
    const person = role === 'admin' ? null : { userId: actor.userId, email: actor.email ?? '' };
    if (person && !person.email && !person.userId) throw forbidden('this page needs a signed-in person');
    return { orgIds: [org.id], person, org, orgs, canAll: false, isAdmin: role === 'admin', orgParam: org.slug };
  }

  /**
   * Whose dashboard `email` opens for this actor: global admins anyone's (all organizations); org
   * admins people of their organizations (only those organizations' usage); others their own.
   */
  async subject(actor: Actor, email: string | undefined): Promise<{ email: string; userId: string | null; displayName: string | null; orgIds: string[] | null; self: boolean }> {
    const global = actor.globalAdmin && !actor.confinedToOrgId;
    const own = actor.email?.toLowerCase();
    if (!email || email.toLowerCase() === own) {
      if (!own) throw forbidden('this page needs a signed-in person');
      return { email: actor.email!, userId: actor.userId, displayName: actor.displayName, orgIds: global ? null : actor.orgs.map((o) => o.orgId), self: true };
    }
    const user = await this.repo.userByEmail(email);
    if (global) return { email: user?.email ?? email.toLowerCase(), userId: user?.id ?? null, displayName: user?.displayName ?? null, orgIds: null, self: false };
    const adminOf = actor.orgs.filter((o) => o.role === 'admin' && (!actor.confinedToOrgId || o.orgId === actor.confinedToOrgId)).map((o) => o.orgId);
    if (!adminOf.length) throw forbidden("only admins can open other people's dashboards");
    const shared = user ? user.orgIds.filter((id) => adminOf.includes(id)) : [];
    if (!user || !shared.length) throw notFound('person');
    return { email: user.email, userId: user.id, displayName: user.displayName, orgIds: shared, self: false };
  }

  /** The viewer's time zone: `tz` from the URL, else the cookie the browser set, else UTC; only names both Intl and PostgreSQL know. */
  async timeZone(fromQuery: string | undefined, fromCookie: string | undefined): Promise<{ tz: string; source: 'url' | 'cookie' | 'default' }> {
    for (const [v, source] of [[fromQuery, 'url'], [fromCookie, 'cookie']] as const) {
      if (v && intlKnowsZone(v) && (await this.pgZones()).has(v)) return { tz: v, source };
    }
    return { tz: 'UTC', source: 'default' };
  }

  private pgZones(): Promise<Set<string>> {
    this.zones ??= this.pool.query<{ name: string }>('select name from pg_timezone_names').then(
      (r) => new Set(r.rows.map((x) => x.name)),
      (e) => {
        this.zones = undefined;
        throw e;
      },
    );
    return this.zones;
  }
}
