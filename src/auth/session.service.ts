import { Inject, Injectable, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { createHash, createHmac, createSecretKey, KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { PgPool } from '../db/pg-pool';
import type { OrgAccess } from './actor';
import { readCookie, serializeCookie } from './cookies';

/** What a session carries besides its user: OIDC round-trip state and facts learned at sign-in. */
export interface SessionData {
  oidc?: { handle: string; nonce?: string; codeVerifier: string; maxAge?: number; issued?: string; next?: string };
  /** Global admin through the identity provider's groups claim, as of sign-in. */
  groupAdmin?: boolean;
}

export interface SessionRecord {
  idHash: string;
  userId: string | null;
  csrfToken: string;
  data: SessionData;
  via: 'oidc' | 'link' | null;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  /**
   * The signed-in user and their memberships as of this request, read in the same statement as
   * the session (one round trip per page instead of three); null when the user is gone. Absent
   * on records that did not come from `load`.
   */
  user?: SessionUser | null;
}

export interface SessionUser {
  id: string;
  email: string;
  displayName: string | null;
  isGlobalAdmin: boolean;
  orgs: OrgAccess[];
}

/** Sessions that never completed sign-in live this long. */
const PRE_SIGN_IN_MS = 15 * 60_000;
/** last_seen_at is written at most this often per session, not on every request. */
const TOUCH_EVERY_MS = 60_000;
const SWEEP_EVERY_MS = 10 * 60_000;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Server-side sessions in PostgreSQL. The cookie holds a random id and its HMAC (so forged cookies
 * are refused without a query); the table holds only the id's SHA-256, so a database dump does not
 * yield live sessions. Expiry is both idle (SESSION_IDLE_TIMEOUT) and absolute (SESSION_MAX_AGE).
 */
@Injectable()
export class SessionService implements OnModuleInit, OnApplicationShutdown {
  readonly cookieName: string;
  readonly secure: boolean;
  private sweeper?: NodeJS.Timeout;
  /** The signing key as a KeyObject: an HMAC from a Buffer imports the key each time (13 → 2 µs a cookie). */
  private readonly signingKey: KeyObject;

  constructor(
    private readonly pool: PgPool,
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.secure = rt.env.PUBLIC_URL?.startsWith('https:') ?? false;
    // The __Host- prefix makes browsers refuse the cookie unless it is Secure, host-only and Path=/.
    this.cookieName = this.secure ? '__Host-sluice_session' : 'sluice_session';
    this.signingKey = createSecretKey(rt.keys.signing);
  }

  onModuleInit() {
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  onApplicationShutdown() {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  private sign(id: string): string {
    return createHmac('sha256', this.signingKey).update(`session:${id}`).digest('base64url');
  }

  /** The session id from a signed cookie value, or null when absent or forged. */
  private idFromCookie(value: string | undefined): string | null {
    if (!value) return null;
    const dot = value.indexOf('.');
    if (dot <= 0) return null;
    const id = value.slice(0, dot);
    const got = Buffer.from(value.slice(dot + 1));
    const want = Buffer.from(this.sign(id));
    return got.length === want.length && timingSafeEqual(got, want) ? id : null;
  }

  /** Creates a session row and sets its cookie. Sign-in always creates a new one (fixation). */
  async create(req: Request, res: Response, opts: { userId: string | null; via: 'oidc' | 'link' | null; data?: SessionData }): Promise<SessionRecord> {
    const id = randomBytes(32).toString('base64url');
    const idHash = sha256(id);
    const csrfToken = randomBytes(32).toString('base64url');
    const now = new Date();
    const ttl = opts.userId ? this.rt.env.SESSION_MAX_AGE : PRE_SIGN_IN_MS;
    const expiresAt = new Date(now.getTime() + ttl);
    const ua = req.headers['user-agent'];
    await this.pool.query(
      `insert into auth_session (id_hash, user_id, csrf_token, data, via, ip, user_agent, created_at, last_seen_at, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)`,
      [idHash, opts.userId, csrfToken, JSON.stringify(opts.data ?? {}), opts.via, req.ip ?? null, typeof ua === 'string' ? ua.slice(0, 300) : null, now, expiresAt],
    );
    this.setCookie(res, `${id}.${this.sign(id)}`, opts.userId ? ttl : PRE_SIGN_IN_MS);
    return { idHash, userId: opts.userId, csrfToken, data: opts.data ?? {}, via: opts.via, createdAt: now, lastSeenAt: now, expiresAt };
  }

  /** The request's live session, or null. Touches last_seen_at at most once a minute. */
  async load(req: Request, now = new Date()): Promise<SessionRecord | null> {
    const id = this.idFromCookie(readCookie(req, this.cookieName));
    if (!id) return null;
    const idHash = sha256(id);
    const r = await this.pool.query<{
      user_id: string | null;
      csrf_token: string;
      data: SessionData;
      via: SessionRecord['via'];
      created_at: Date;
      last_seen_at: Date;
      expires_at: Date;
      u_id: string | null;
      u_email: string | null;
      u_display_name: string | null;
      u_admin: boolean | null;
      u_orgs: OrgAccess[] | null;
    }>({
      // Roles are read on every request (a demotion takes effect at once), in this one statement;
      // prepared once per connection (its planning was half of its 0.65 ms here).
      name: 'session-load',
      text: `select s.user_id, s.csrf_token, s.data, s.via, s.created_at, s.last_seen_at, s.expires_at,
              u.id as u_id, u.email as u_email, u.display_name as u_display_name, u.is_global_admin as u_admin,
              case when u.id is not null then
                (select coalesce(json_agg(json_build_object('orgId', m.org_id, 'slug', o.slug, 'name', o.name, 'role', m.role) order by o.slug), '[]'::json)
                   from membership m join organization o on o.id = m.org_id where m.user_id = u.id)
              end as u_orgs
         from auth_session s left join app_user u on u.id = s.user_id
        where s.id_hash = $1`,
      values: [idHash],
    });
    const row = r.rows[0];
    if (!row) return null;
    const idleExpired = row.user_id !== null && now.getTime() - row.last_seen_at.getTime() > this.rt.env.SESSION_IDLE_TIMEOUT;
    if (row.expires_at <= now || idleExpired) {
      await this.pool.query('delete from auth_session where id_hash = $1', [idHash]);
      return null;
    }
    if (now.getTime() - row.last_seen_at.getTime() > TOUCH_EVERY_MS) {
      await this.pool.query('update auth_session set last_seen_at = $2 where id_hash = $1', [idHash, now]);
      row.last_seen_at = now;
    }
    const user: SessionUser | null =
      row.u_id && row.u_email !== null
        ? { id: row.u_id, email: row.u_email, displayName: row.u_display_name, isGlobalAdmin: row.u_admin === true, orgs: row.u_orgs ?? [] }
        : null;
    return { idHash, userId: row.user_id, csrfToken: row.csrf_token, data: row.data ?? {}, via: row.via, createdAt: row.created_at, lastSeenAt: row.last_seen_at, expiresAt: row.expires_at, user };
  }

  async saveData(s: SessionRecord): Promise<void> {
    await this.pool.query('update auth_session set data = $2 where id_hash = $1', [s.idHash, JSON.stringify(s.data)]);
  }

  async destroy(s: SessionRecord | null, res?: Response): Promise<void> {
    if (s) await this.pool.query('delete from auth_session where id_hash = $1', [s.idHash]);
    if (res) this.setCookie(res, '', 0);
  }

  /** Ends every session of a user (removed from Sluice, or signing out everywhere). */
  async destroyForUser(userId: string): Promise<number> {
    const r = await this.pool.query('delete from auth_session where user_id = $1', [userId]);
    return r.rowCount ?? 0;
  }

  async sweep(): Promise<void> {
    try {
      const idleCutoff = new Date(Date.now() - this.rt.env.SESSION_IDLE_TIMEOUT);
      await this.pool.query('delete from auth_session where expires_at <= now() or (user_id is not null and last_seen_at < $1)', [idleCutoff]);
    } catch (e) {
      this.logger.warn({ err: String(e) }, 'could not sweep expired sessions');
    }
  }

  private setCookie(res: Response, value: string, maxAgeMs: number) {
    const cookie = serializeCookie(this.cookieName, value, { secure: this.secure, maxAgeSeconds: maxAgeMs / 1000 });
    const prev = res.getHeader('set-cookie');
    const list = Array.isArray(prev) ? prev : prev ? [String(prev)] : [];
    res.setHeader('set-cookie', [...list.filter((c) => !c.startsWith(this.cookieName + '=')), cookie]);
  }
}
