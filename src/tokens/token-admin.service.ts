import { Injectable } from '@nestjs/common';
import { AccessService, forbidden, isUuid, OrgScope } from '../auth/access.service';
import { Actor, roleIn } from '../auth/actor';
import { parseDuration } from '../common/duration';
import { invalid, notFound } from '../common/errors';
import { limitOffset, Page, pageOf, PageQuery } from '../common/paging';
import { PgPool } from '../db/pg-pool';
import { AppUser } from '../orgs/app-user.entity';
import { Membership } from '../orgs/membership.entity';
import { likeOf } from '../orgs/org-admin.service';
import { TOKEN_SCOPES, TokenScope } from './api-token.entity';
import { TokensService, TokenView } from './tokens.service';

export type TokenStatus = 'active' | 'revoked' | 'expired';

export interface TokenRow {
  id: string;
  name: string;
  prefix: string;
  org: string;
  owner: { type: 'user' | 'service_account'; id: string; label: string };
  team: string | null;
  scopes: string[];
  modelPatterns: string[] | null;
  rpm: number | null;
  tpm: number | null;
  status: TokenStatus;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  createdAt: string;
  createdBy: string | null;
  rotatedFromId: string | null;
}

export interface TokenFilters {
  q?: string;
  status?: string;
  owner?: string;
}

export interface IssuedToken {
  token: TokenView;
  secret: string;
}

export interface NewTokenInput {
  name: string;
  owner?: string;
  userId?: string;
  email?: string;
  serviceAccount?: string;
  scopes?: string[];
  models?: string[];
  expires?: string;
  rpm?: number;
  tpm?: number;
}

export const TOKEN_SORTS = ['created', 'name', 'lastUsed', 'expires', 'owner'] as const;
const ORDER: Record<string, string> = { created: 'k.created_at', name: 'lower(k.name)', lastUsed: 'k.last_used_at', expires: 'k.expires_at', owner: 'owner_label' };
const STATUS_SQL: Record<string, string> = {
  active: 'k.revoked_at is null and (k.expires_at is null or k.expires_at > now())',
  revoked: 'k.revoked_at is not null',
  expired: 'k.revoked_at is null and k.expires_at <= now()',
};

/**
 * Tokens as people manage them: an organization's tokens for its admins, "my tokens" for
 * everyone. Issuing, revoking and rotating go through TokensService, which notifies every
 * instance's principal cache.
 */
@Injectable()
export class TokenAdminService {
  constructor(
    private readonly access: AccessService,
    private readonly tokens: TokensService,
    private readonly pool: PgPool,
  ) {}

  async listOrg(actor: Actor, orgRef: string, f: TokenFilters, p: PageQuery): Promise<{ scope: OrgScope; page: Page<TokenRow> }> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    return { scope, page: await this.query({ orgIds: [scope.org.id] }, f, p) };
  }

  async listMine(actor: Actor, f: TokenFilters & { org?: string }, p: PageQuery): Promise<Page<TokenRow>> {
    if (!actor.userId) return pageOf([], 0, p);
    let orgIds = actor.orgs.map((o) => o.orgId);
    if (actor.confinedToOrgId) orgIds = orgIds.filter((id) => id === actor.confinedToOrgId);
    if (f.org) orgIds = actor.orgs.filter((o) => o.slug === f.org || o.orgId === f.org).map((o) => o.orgId).filter((id) => orgIds.includes(id));
    return this.query({ orgIds, ownerUserId: actor.userId }, f, p);
  }

  async getOrg(actor: Actor, orgRef: string, id: string): Promise<TokenRow> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const t = await this.access.orgToken(scope, id);
    return (await this.query({ orgIds: [scope.org.id], id: t.id }, { status: 'all' }, { page: 1, per: 10, sort: 'created', dir: 'desc' })).items[0];
  }

  async getMine(actor: Actor, id: string): Promise<TokenRow> {
    const t = await this.access.ownToken(actor, id);
    return (await this.query({ orgIds: [t.orgId], id: t.id }, { status: 'all' }, { page: 1, per: 10, sort: 'created', dir: 'desc' })).items[0];
  }

  private async query(scope: { orgIds: string[]; ownerUserId?: string; id?: string }, f: TokenFilters, p: PageQuery): Promise<Page<TokenRow>> {
    const args: unknown[] = [scope.orgIds];
    const where = ['k.org_id = any($1::uuid[])'];
    if (scope.ownerUserId) {
      args.push(scope.ownerUserId);
      where.push(`k.owner_user_id = $${args.length}`);
    }
    if (scope.id) {
      args.push(scope.id);
      where.push(`k.id = $${args.length}`);
    }
    const status = f.status ?? 'active';
    if (STATUS_SQL[status]) where.push(STATUS_SQL[status]);
    if (f.q) {
      args.push(likeOf(f.q));
      where.push(`(k.name ilike $${args.length} or k.display_prefix ilike $${args.length})`);
    }
    if (f.owner) {
      args.push(likeOf(f.owner));
      where.push(`(u.email ilike $${args.length} or sa.name ilike $${args.length})`);
    }
    const from = `from api_token k join organization o on o.id = k.org_id
                  left join app_user u on u.id = k.owner_user_id
                  left join service_account sa on sa.id = k.service_account_id
                  left join team t on t.id = coalesce(k.team_id, sa.team_id)
                  left join app_user c on c.id = k.created_by_id`;
    const w = where.join(' and ');
    const total = Number((await this.pool.query(`select count(*) as n ${from} where ${w}`, args)).rows[0].n);
    const r = await this.pool.query(
      `select k.id, k.name, k.display_prefix, o.slug as org, k.owner_user_id, u.email, k.service_account_id, sa.name as sa_name, t.slug as team,
              k.scopes, k.model_patterns, k.rpm, k.tpm, k.expires_at, k.revoked_at, k.last_used_at, k.created_at, c.email as created_by, k.rotated_from_id,
              coalesce(u.email, sa.name) as owner_label
         ${from} where ${w}
        order by ${ORDER[p.sort]} ${p.dir} nulls last, k.created_at desc ${limitOffset(p)}`,
      args,
    );
    const now = Date.now();
    return pageOf(
      r.rows.map((x) => ({
        id: x.id,
        name: x.name,
        prefix: x.display_prefix,
        org: x.org,
        owner: x.owner_user_id ? { type: 'user' as const, id: x.owner_user_id, label: x.email } : { type: 'service_account' as const, id: x.service_account_id, label: x.sa_name },
        team: x.team,
        scopes: x.scopes,
        modelPatterns: x.model_patterns,
        rpm: x.rpm,
        tpm: x.tpm,
        status: x.revoked_at ? 'revoked' : x.expires_at && x.expires_at.getTime() <= now ? 'expired' : 'active',
        expiresAt: x.expires_at?.toISOString() ?? null,
        revokedAt: x.revoked_at?.toISOString() ?? null,
        lastUsedAt: x.last_used_at?.toISOString() ?? null,
        createdAt: x.created_at.toISOString(),
        createdBy: x.created_by,
        rotatedFromId: x.rotated_from_id,
      })),
      total,
      p,
    );
  }

  /** An admin issues a token for a member or a service account of the organization. */
  async createForOrg(actor: Actor, orgRef: string, input: NewTokenInput): Promise<IssuedToken> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    let userEmail: string | undefined;
    let serviceAccountName: string | undefined;
    const [kind, ref] = input.owner?.includes(':') ? [input.owner.slice(0, input.owner.indexOf(':')), input.owner.slice(input.owner.indexOf(':') + 1)] : [null, null];
    const userRef = kind === 'user' ? ref : input.userId;
    const saRef = kind === 'sa' ? ref : input.serviceAccount;
    const emailRef = input.email;
    if ([userRef, saRef, emailRef].filter(Boolean).length !== 1) throw invalid('choose exactly one owner: a member (userId or email) or a service account', 'owner');
    if (saRef) serviceAccountName = (await this.access.serviceAccount(scope, saRef)).name;
    else userEmail = (await this.memberOf(scope, userRef ?? undefined, emailRef)).email;
    assertScopesAllowed(actor, input.scopes ?? ['proxy'], !!saRef || (!!userEmail && userEmail === actor.email));
    const res = await this.tokens.create(actor.label, {
      orgSlug: scope.org.slug,
      name: input.name,
      userEmail,
      serviceAccountName,
      scopes: input.scopes,
      modelPatterns: input.models,
      expires: input.expires,
      rpm: input.rpm,
      tpm: input.tpm,
      createdById: actor.userId,
    });
    return { token: res.token, secret: res.secret };
  }

  /** Anyone issues a token for themselves in an organization they belong to. */
  async createMine(actor: Actor, input: NewTokenInput & { org: string }): Promise<IssuedToken> {
    if (!actor.userId || !actor.email) throw forbidden('only people have tokens of their own; use an organization token page for service accounts');
    const scope = await this.access.org(actor, input.org, 'member');
    const isMember = !!(await scope.em.findOne(Membership, { userId: actor.userId, orgId: scope.org.id }));
    if (!isMember) throw forbidden(`you are not a member of ${scope.org.slug}; tokens are issued to members`);
    const scopes = input.scopes?.length ? input.scopes : ['proxy'];
    for (const s of scopes) if (!TOKEN_SCOPES.includes(s as TokenScope)) throw invalid(`unknown scope "${s}"; scopes are ${TOKEN_SCOPES.join(', ')}`, 'scopes');
    if (scopes.some((s) => s !== 'proxy') && !(actor.globalAdmin || roleIn(actor, scope.org.id) === 'admin')) {
      throw forbidden('only organization admins can issue tokens with the admin or metrics scope');
    }
    assertScopesAllowed(actor, scopes, true);
    const res = await this.tokens.create(actor.label, {
      orgSlug: scope.org.slug,
      name: input.name,
      userEmail: actor.email,
      scopes,
      modelPatterns: input.models,
      expires: input.expires,
      rpm: input.rpm,
      tpm: input.tpm,
      createdById: actor.userId,
    });
    return { token: res.token, secret: res.secret };
  }

  async revokeOrg(actor: Actor, orgRef: string, id: string): Promise<TokenView> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const t = await this.access.orgToken(scope, id);
    return this.tokens.revoke(actor.label, t.id);
  }

  async revokeMine(actor: Actor, id: string): Promise<TokenView> {
    const t = await this.access.ownToken(actor, id);
    return this.tokens.revoke(actor.label, t.id);
  }

  async rotateOrg(actor: Actor, orgRef: string, id: string, grace?: string): Promise<IssuedToken> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    const t = await this.access.orgToken(scope, id);
    // Rotating hands the new secret to the caller: for someone else's admin or metrics token that
    // would be the same escalation as issuing one.
    if (!actor.globalAdmin && t.ownerUserId && t.ownerUserId !== actor.userId && (t.scopes as string[]).some((s) => s !== 'proxy')) {
      throw forbidden("only global admins can rotate another person's admin or metrics token; revoke it and let them issue a new one");
    }
    const res = await this.tokens.rotate(actor.label, t.id, { graceMs: graceOf(grace), createdById: actor.userId });
    return { token: res.token, secret: res.secret };
  }

  async rotateMine(actor: Actor, id: string, grace?: string): Promise<IssuedToken> {
    const t = await this.access.ownToken(actor, id);
    const res = await this.tokens.rotate(actor.label, t.id, { graceMs: graceOf(grace), createdById: actor.userId });
    return { token: res.token, secret: res.secret };
  }

  async newTokenForm(actor: Actor, orgRef: string): Promise<{ org: { id: string; slug: string; name: string }; owners: { value: string; label: string }[] }> {
    const scope = await this.access.org(actor, orgRef, 'admin');
    return { org: { id: scope.org.id, slug: scope.org.slug, name: scope.org.name }, owners: await this.ownerChoices(scope) };
  }

  /** Owners an admin can pick in the token form: the org's members and active service accounts. */
  private async ownerChoices(scope: OrgScope): Promise<{ value: string; label: string }[]> {
    const r = await this.pool.query(
      `select 'user:' || u.id as value, u.email as label, 0 as k from membership m join app_user u on u.id = m.user_id where m.org_id = $1
       union all
       select 'sa:' || sa.id, 'service account ' || sa.name, 1 from service_account sa where sa.org_id = $1 and sa.disabled_at is null
       order by k, label`,
      [scope.org.id],
    );
    return r.rows.map((x) => ({ value: x.value, label: x.label }));
  }

  private async memberOf(scope: OrgScope, userId?: string, email?: string): Promise<AppUser> {
    const user = userId ? (isUuid(userId) ? await scope.em.findOne(AppUser, { id: userId }) : null) : email ? await scope.em.findOne(AppUser, { email: email.trim().toLowerCase() }) : null;
    // Someone outside the organization is "not found" here, whether or not they exist elsewhere.
    if (!user || !(await scope.em.findOne(Membership, { userId: user.id, orgId: scope.org.id }))) throw notFound(`member of ${scope.org.slug}`);
    return user;
  }
}

function graceOf(grace?: string): number | undefined {
  if (!grace || grace === '0') return undefined;
  return parseDuration(grace, 'grace period');
}

/**
 * Scopes beyond `proxy` are power: `admin` only on tokens for yourself or a service account (an
 * admin token for another person would act with that person's rights), `metrics` (gateway-wide
 * numbers, every tenant's) only from global admins.
 */
function assertScopesAllowed(actor: Actor, scopes: string[], ownOrServiceAccount: boolean): void {
  if (scopes.includes('metrics') && !actor.globalAdmin) throw forbidden('only global admins can issue tokens with the metrics scope');
  if (scopes.includes('admin') && !ownOrServiceAccount && !actor.globalAdmin) {
    throw forbidden('admin-scoped tokens can only be issued for yourself or a service account');
  }
}
