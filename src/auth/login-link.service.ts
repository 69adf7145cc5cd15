import { Inject, Injectable } from '@nestjs/common';
import { MikroORM } from '@mikro-orm/postgresql';
import { createHash, randomBytes } from 'node:crypto';
import { AuditService } from '../common/audit.service';
import { DomainError, ErrorCode } from '../common/errors';
import { RUNTIME, type Runtime } from '../config/runtime';
import { PgPool } from '../db/pg-pool';
import { AppUser } from '../orgs/app-user.entity';
import { OrgsService } from '../orgs/orgs.service';
import { LoginLink } from './login-link.entity';

export const LOGIN_LINK_TTL_MS = 15 * 60_000;
const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

export interface IssuedLink {
  url: string;
  email: string;
  expiresAt: Date;
  createdUser: boolean;
}

/**
 * One-time sign-in links: the way in without an identity provider (first run, or break-glass).
 * The secret is 256 random bits shown once; the table keeps its SHA-256. A link works once, for 15
 * minutes, and issuing a new one for the same person retires the older unused ones.
 */
@Injectable()
export class LoginLinkService {
  constructor(
    private readonly orm: MikroORM,
    private readonly orgs: OrgsService,
    private readonly audit: AuditService,
    private readonly pool: PgPool,
    @Inject(RUNTIME) private readonly rt: Runtime,
  ) {}

  /** Where links point: PUBLIC_URL, else the address the server listens on. */
  baseUrl(): string {
    if (this.rt.env.PUBLIC_URL) return this.rt.env.PUBLIC_URL.replace(/\/+$/, '');
    const h = this.rt.env.HOST;
    const host = h === '0.0.0.0' || h === '::' ? 'localhost' : h.includes(':') ? `[${h}]` : h;
    return `http://${host}:${this.rt.env.PORT}`;
  }

  async issue(actor: string, email: string, opts: { globalAdmin?: boolean; baseUrl?: string } = {}): Promise<IssuedLink> {
    const res = await this.orgs.createUser(actor, { email, globalAdmin: opts.globalAdmin });
    const em = this.orm.em.fork();
    const now = new Date();
    // Older unused links for this person stop working: only the newest one printed is valid.
    await em.nativeUpdate(LoginLink, { userId: res.user.id, usedAt: null, expiresAt: { $gt: now } }, { expiresAt: now });
    const secret = randomBytes(32).toString('base64url');
    const link = em.create(LoginLink, { tokenHash: hashOf(secret), userId: res.user.id, createdBy: actor, expiresAt: new Date(now.getTime() + LOGIN_LINK_TTL_MS), usedAt: null });
    this.audit.record(em, { actor, action: 'login_link.create', targetType: 'user', targetId: res.user.id, after: { email: res.user.email, expiresAt: link.expiresAt.toISOString() } });
    await em.flush();
    return { url: `${opts.baseUrl ?? this.baseUrl()}/auth/link?token=${secret}`, email: res.user.email, expiresAt: link.expiresAt, createdUser: res.created };
  }

  /** Whether a link would work, without using it (the confirmation page). */
  async check(secret: unknown): Promise<AppUser | null> {
    if (typeof secret !== 'string' || !SECRET_RE.test(secret)) return null;
    const em = this.orm.em.fork();
    const link = await em.findOne(LoginLink, { tokenHash: hashOf(secret), usedAt: null, expiresAt: { $gt: new Date() } });
    return link ? em.findOne(AppUser, { id: link.userId }) : null;
  }

  /** Uses the link: one atomic UPDATE, so two tabs racing cannot both sign in. */
  async consume(secret: unknown): Promise<AppUser> {
    const refused = new DomainError(ErrorCode.Unauthenticated, 'this sign-in link is invalid, already used or expired; ask for a new one (`sluice login-link --email you@example.com`)');
    if (typeof secret !== 'string' || !SECRET_RE.test(secret)) throw refused;
    const em = this.orm.em.fork();
    const rows = await em.getConnection().execute<{ user_id: string }[]>(
      'update login_link set used_at = now() where token_hash = ? and used_at is null and expires_at > now() returning user_id',
      [hashOf(secret)],
    );
    const user = rows.length ? await em.findOne(AppUser, { id: rows[0].user_id }) : null;
    if (!user) throw refused;
    return user;
  }

  /**
   * First run without an identity provider: until a global admin has signed in, every start
   * issues a fresh link for the bootstrap admin (the first SLUICE_ADMINS address, else
   * admin@localhost). Returns null when nothing needs printing.
   */
  async firstRunLink(baseUrl?: string): Promise<IssuedLink | null> {
    if (this.rt.env.OIDC_ISSUER) return null;
    const admins = await this.pool.query<{ n: string }>(
      'select count(*) as n from app_user where last_login_at is not null and (is_global_admin or lower(email) = any($1::text[]))',
      [this.rt.env.SLUICE_ADMINS ?? []],
    );
    if (Number(admins.rows[0].n) > 0) return null;
    const email = this.rt.env.SLUICE_ADMINS?.[0] ?? 'admin@localhost';
    return this.issue('bootstrap', email, { globalAdmin: true, baseUrl });
  }
}
