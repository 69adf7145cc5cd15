import { Injectable, Optional } from '@nestjs/common';
import { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { AuditService } from '../common/audit.service';
import { parseExpiry } from '../common/duration';
import { conflict, invalid, notFound } from '../common/errors';
import { AppUser } from '../orgs/app-user.entity';
import { OrgsService } from '../orgs/orgs.service';
import { Organization } from '../orgs/organization.entity';
import { ServiceAccount } from '../orgs/service-account.entity';
import { ApiToken, TOKEN_SCOPES, TokenScope } from './api-token.entity';
import { generateToken } from './token-format';

import { PrincipalCacheService, TOKEN_CHANNEL } from './principal-cache.service';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface CreateTokenInput {
  orgSlug: string;
  name: string;
  userEmail?: string;
  serviceAccountName?: string;
  expires?: string;
  scopes?: string[];
  modelPatterns?: string[];
  rpm?: number;
  tpm?: number;
  /** The signed-in user who issued it (null from the CLI). */
  createdById?: string | null;
}

export interface TokenView {
  id: string;
  name: string;
  prefix: string;
  org: string;
  owner: { type: 'user'; email: string } | { type: 'service_account'; name: string };
  scopes: string[];
  modelPatterns: string[] | null;
  rpm: number | null;
  tpm: number | null;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  createdAt: string;
  rotatedFromId: string | null;
}

/** Issue, list and revoke API tokens. The plaintext secret exists only in create's return value. */
@Injectable()
export class TokensService {
  constructor(
    private readonly orm: MikroORM,
    private readonly orgs: OrgsService,
    private readonly audit: AuditService,
    @Optional() private readonly principals?: PrincipalCacheService,
  ) {}

  async create(actor: string, input: CreateTokenInput): Promise<{ token: TokenView; secret: string; notes: string[] }> {
    const name = input.name?.trim();
    if (!name || name.length > 100) throw invalid('token name is required (at most 100 characters)');
    if (!!input.userEmail === !!input.serviceAccountName) throw invalid('a token is owned by exactly one of a user (--user) or a service account (--service-account)');
    const scopes = input.scopes?.length ? input.scopes : ['proxy'];
    for (const s of scopes) if (!TOKEN_SCOPES.includes(s as TokenScope)) throw invalid(`unknown scope "${s}"; scopes are ${TOKEN_SCOPES.join(', ')}`);
    for (const [k, v] of [['rpm', input.rpm], ['tpm', input.tpm]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v <= 0)) throw invalid(`${k} must be a positive integer`);
    }
    const expiresAt = input.expires ? parseExpiry(input.expires) : null;
    const notes: string[] = [];

    let ownerUserId: string | null = null;
    let serviceAccountId: string | null = null;
    let teamId: string | null = null;
    if (input.userEmail) {
      // The operator names a person; creating them as a member keeps `token create` one step.
      const res = await this.orgs.createUser(actor, { email: input.userEmail, orgSlug: input.orgSlug });
      if (res.created) notes.push(`created user ${res.user.email}`);
      ownerUserId = res.user.id;
    }
    const em = this.orm.em.fork();
    const org = await this.orgs.getOrgBySlug(input.orgSlug, em);
    if (input.serviceAccountName) {
      let sa = await this.orgs.findServiceAccount(org.id, input.serviceAccountName, em);
      if (!sa) {
        sa = await this.orgs.createServiceAccount(actor, org.slug, input.serviceAccountName);
        notes.push(`created service account ${org.slug}/${sa.name}`);
      }
      if (sa.disabledAt) throw invalid(`service account "${sa.name}" is disabled`);
      serviceAccountId = sa.id;
      teamId = sa.teamId ?? null;
    }

    const g = generateToken();
    const token = em.create(ApiToken, {
      orgId: org.id,
      name,
      tokenHash: g.hash,
      displayPrefix: g.displayPrefix,
      ownerUserId,
      serviceAccountId,
      teamId,
      createdById: input.createdById ?? null,
      rotatedFromId: null,
      scopes,
      modelPatterns: input.modelPatterns?.length ? input.modelPatterns : null,
      rpm: input.rpm ?? null,
      tpm: input.tpm ?? null,
      expiresAt,
      revokedAt: null,
      lastUsedAt: null,
    });
    this.audit.record(em, {
      actor,
      orgId: org.id,
      action: 'token.create',
      targetType: 'token',
      targetId: token.id,
      after: { name, prefix: g.displayPrefix, scopes, expiresAt: expiresAt?.toISOString() ?? null },
    });
    await em.flush();
    return { token: await this.view(em, token), secret: g.secret, notes };
  }

  async revoke(actor: string, id: string): Promise<TokenView> {
    if (!UUID_RE.test(id)) throw invalid('token id must be a UUID (see `sluice token list`)');
    const em = this.orm.em.fork();
    const token = await em.findOne(ApiToken, { id });
    if (!token) throw notFound('token');
    if (!token.revokedAt) {
      token.revokedAt = new Date();
      this.audit.record(em, { actor, orgId: token.orgId, action: 'token.revoke', targetType: 'token', targetId: token.id, after: { revokedAt: token.revokedAt.toISOString() } });
      await em.transactional(async (tx) => {
        await tx.flush();
        // Every instance's principal cache drops the token when this commits.
        await this.notifyInTx(tx, [token.id]);
      });
    }
    return this.view(em, token);
  }

  /**
   * Issues a new secret for the token's settings and retires the old one: revoked at once, or with
   * `graceMs` left to live so running clients can switch over. Either way every instance's
   * principal cache drops the old token when this commits.
   */
  async rotate(actor: string, id: string, opts: { graceMs?: number; createdById?: string | null } = {}): Promise<{ token: TokenView; secret: string; previous: TokenView }> {
    if (!UUID_RE.test(id)) throw invalid('token id must be a UUID');
    const em = this.orm.em.fork();
    const old = await em.findOne(ApiToken, { id });
    if (!old) throw notFound('token');
    const now = new Date();
    if (old.revokedAt) throw conflict('this token is revoked; issue a new one instead');
    if (old.expiresAt && old.expiresAt <= now) throw conflict('this token has expired; issue a new one instead');
    if (old.serviceAccountId) {
      const sa = await em.findOne(ServiceAccount, { id: old.serviceAccountId });
      if (sa?.disabledAt) throw invalid(`service account "${sa.name}" is disabled`);
    }
    if (opts.graceMs !== undefined && (!Number.isInteger(opts.graceMs) || opts.graceMs < 0 || opts.graceMs > 7 * 86_400_000)) {
      throw invalid('the grace period must be between 0 and 7 days', 'grace');
    }
    const g = generateToken();
    // The new token lives as long as the old one was meant to, counted from now.
    const lifetime = old.expiresAt ? old.expiresAt.getTime() - old.createdAt.getTime() : null;
    const token = em.create(ApiToken, {
      orgId: old.orgId,
      name: old.name,
      tokenHash: g.hash,
      displayPrefix: g.displayPrefix,
      ownerUserId: old.ownerUserId ?? null,
      serviceAccountId: old.serviceAccountId ?? null,
      teamId: old.teamId ?? null,
      createdById: opts.createdById ?? null,
      rotatedFromId: old.id,
      scopes: [...(old.scopes as string[])],
      modelPatterns: (old.modelPatterns as string[] | null) ?? null,
      rpm: old.rpm ?? null,
      tpm: old.tpm ?? null,
      expiresAt: lifetime !== null ? new Date(now.getTime() + lifetime) : null,
      revokedAt: null,
      lastUsedAt: null,
    });
    const before = { revokedAt: null, expiresAt: old.expiresAt?.toISOString() ?? null };
    if (opts.graceMs) {
      const until = new Date(now.getTime() + opts.graceMs);
      if (!old.expiresAt || old.expiresAt > until) old.expiresAt = until;
    } else old.revokedAt = now;
    this.audit.record(em, {
      actor,
      orgId: old.orgId,
      action: 'token.rotate',
      targetType: 'token',
      targetId: old.id,
      before,
      after: { revokedAt: old.revokedAt?.toISOString() ?? null, expiresAt: old.expiresAt?.toISOString() ?? null, replacedBy: token.id, prefix: g.displayPrefix },
    });
    await em.transactional(async (tx) => {
      await tx.flush();
      await this.notifyInTx(tx, [old.id]);
    });
    return { token: await this.view(em, token), secret: g.secret, previous: await this.view(em, old) };
  }

  /**
   * Revokes tokens inside the caller's transaction (member removed, account disabled) and tells
   * every instance when it commits. Call flush on `tx` afterwards.
   */
  async revokeInTx(tx: EntityManager, actor: string, tokens: ApiToken[], reason: string): Promise<void> {
    const now = new Date();
    const live = tokens.filter((t) => !t.revokedAt);
    for (const t of live) {
      t.revokedAt = now;
      this.audit.record(tx, { actor, orgId: t.orgId, action: 'token.revoke', targetType: 'token', targetId: t.id, after: { revokedAt: now.toISOString(), reason } });
    }
    await this.notifyInTx(tx, live.map((t) => t.id));
  }

  /** Queues cache invalidations for these token ids; Postgres delivers them at commit. */
  async notifyInTx(tx: EntityManager, ids: string[] | '*'): Promise<void> {
    this.principals?.evictSoon(ids);
    if (ids === '*') {
      await tx.getConnection().execute(`select pg_notify('${TOKEN_CHANNEL}', '*')`, [], 'all', tx.getTransactionContext());
      return;
    }
    for (const id of ids) {
      await tx.getConnection().execute(`select pg_notify('${TOKEN_CHANNEL}', ?)`, [id], 'all', tx.getTransactionContext());
    }
  }

  async view(em: EntityManager, t: ApiToken, org?: Organization): Promise<TokenView> {
    return this.toView(em, t, org);
  }

  async list(orgSlug: string): Promise<TokenView[]> {
    const em = this.orm.em.fork();
    const org = await this.orgs.getOrgBySlug(orgSlug, em);
    const tokens = await em.find(ApiToken, { orgId: org.id }, { orderBy: { createdAt: 'desc' } });
    return Promise.all(tokens.map((t) => this.toView(em, t, org)));
  }

  private async toView(em: EntityManager, t: ApiToken, org?: Organization): Promise<TokenView> {
    org ??= (await em.findOne(Organization, { id: t.orgId }))!;
    let owner: TokenView['owner'];
    if (t.ownerUserId) owner = { type: 'user', email: (await em.findOne(AppUser, { id: t.ownerUserId }))?.email ?? '(deleted)' };
    else owner = { type: 'service_account', name: (await em.findOne(ServiceAccount, { id: t.serviceAccountId! }))?.name ?? '(deleted)' };
    return {
      id: t.id,
      name: t.name,
      prefix: t.displayPrefix,
      org: org.slug,
      owner,
      scopes: t.scopes as string[],
      modelPatterns: (t.modelPatterns as string[] | null) ?? null,
      rpm: t.rpm ?? null,
      tpm: t.tpm ?? null,
      expiresAt: t.expiresAt?.toISOString() ?? null,
      revokedAt: t.revokedAt?.toISOString() ?? null,
      lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
      createdAt: t.createdAt.toISOString(),
      rotatedFromId: t.rotatedFromId ?? null,
    };
  }
}
