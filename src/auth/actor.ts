import type { Request } from 'express';
import type { OrgRole } from '../orgs/membership.entity';
import type { SessionRecord } from './session.service';

export interface OrgAccess {
  orgId: string;
  slug: string;
  name: string;
  role: OrgRole;
}

/**
 * Who is acting on the UI or the management API, with everything authorization needs. Roles are
 * read from the database on each request, so a demotion takes effect at once.
 */
export interface Actor {
  via: 'session' | 'token';
  userId: string | null;
  email: string | null;
  displayName: string | null;
  globalAdmin: boolean;
  /** Organizations the actor may act in, with the role there. */
  orgs: OrgAccess[];
  tokenId: string | null;
  /** A token acts inside its own organization only, unless its owner is a global admin. */
  confinedToOrgId: string | null;
  /** How audit rows name the actor: `user:<email>` or `token:<id>`. */
  label: string;
}

export interface AuthState {
  session: SessionRecord | null;
  actor: Actor | null;
}

const KEY = Symbol.for('sluice.auth');

export function authOf(req: Request): AuthState {
  const r = req as unknown as Record<symbol, AuthState | undefined>;
  return (r[KEY] ??= { session: null, actor: null });
}

export const isOrgAdmin = (a: Actor) => a.globalAdmin || a.orgs.some((o) => o.role === 'admin');
export const roleIn = (a: Actor, orgId: string): OrgRole | null => a.orgs.find((o) => o.orgId === orgId)?.role ?? null;
