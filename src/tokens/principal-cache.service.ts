import { BeforeApplicationShutdown, Inject, Injectable, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { LOGGER } from '../config/runtime';
import { NotifyService } from '../db/notify.service';
import { PgPool } from '../db/pg-pool';
import { Principal } from './principal';
import { hashToken, isWellFormedToken } from './token-format';

export const TOKEN_CHANNEL = 'sluice_token';
const POSITIVE_TTL_MS = 5 * 60_000;
const NEGATIVE_TTL_MS = 2_000;
const MAX_NEGATIVE = 10_000;
const LAST_USED_FLUSH_MS = 30_000;

export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: 'malformed' | 'unknown' | 'revoked' | 'expired' | 'disabled' };

interface Row {
  id: string;
  name: string;
  org_id: string;
  org_slug: string;
  team_id: string | null;
  owner_user_id: string | null;
  created_by_id: string | null;
  email: string | null;
  service_account_id: string | null;
  sa_name: string | null;
  sa_team_id: string | null;
  sa_disabled: boolean;
  scopes: string[];
  model_patterns: string[] | null;
  rpm: number | null;
  tpm: number | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  teams: { id: string; slug: string }[];
}

/**
 * Token → principal, in memory. A hit costs a SHA-256 and a Map lookup; a miss is one query, and
 * concurrent misses for the same token share it. Revocation reaches every instance through
 * LISTEN/NOTIFY (payload: token id, or `*` for "drop everything"); entries also expire after
 * five minutes in case a notification was lost while the connection was down.
 */
@Injectable()
export class PrincipalCacheService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly byHash = new Map<string, { p: Principal; at: number }>();
  private readonly hashById = new Map<string, string>();
  private readonly negative = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<Principal | null>>();
  private readonly lastUsed = new Set<string>();
  private generation = 0;
  private readonly suppressed = new Map<string, number>();
  private suppressAllUntil = 0;

  constructor(
    private readonly pool: PgPool,
    private readonly notify: NotifyService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onModuleInit() {
    this.notify.subscribe(TOKEN_CHANNEL, (payload) => (payload === '*' ? this.clear() : this.evict(payload)), () => this.clear());
    setInterval(() => void this.flushLastUsed(), LAST_USED_FLUSH_MS).unref();
  }

  async beforeApplicationShutdown() {
    await this.flushLastUsed();
  }

  async authenticate(secret: string, now = Date.now()): Promise<AuthResult> {
    if (!isWellFormedToken(secret)) return { ok: false, reason: 'malformed' };
    const hash = hashToken(secret);
    let p: Principal | null;
    const hit = this.byHash.get(hash);
    if (hit && now - hit.at < POSITIVE_TTL_MS) p = hit.p;
    else {
      const neg = this.negative.get(hash);
      if (neg && now - neg < NEGATIVE_TTL_MS) return { ok: false, reason: 'unknown' };
      p = await this.load(hash);
    }
    if (!p) return { ok: false, reason: 'unknown' };
    if (p.revoked) return { ok: false, reason: 'revoked' };
    if (p.disabled) return { ok: false, reason: 'disabled' };
    if (p.expiresAt !== null && p.expiresAt <= now) return { ok: false, reason: 'expired' };
    this.lastUsed.add(p.tokenId);
    return { ok: true, principal: p };
  }

  /**
   * For the instance making a change: drops these tokens now and keeps them out of the cache for a
   * few seconds, so a lookup racing the change's commit cannot cache the old state before the
   * change's NOTIFY arrives. Other instances are reached by that NOTIFY.
   */
  evictSoon(tokenIds: string[] | '*', ms = 5_000): void {
    const until = Date.now() + ms;
    if (tokenIds === '*') {
      this.suppressAllUntil = until;
      this.clear();
      return;
    }
    for (const id of tokenIds) {
      this.suppressed.set(id, until);
      this.evict(id);
    }
  }

  evict(tokenId: string): void {
    const hash = this.hashById.get(tokenId);
    if (hash) this.byHash.delete(hash);
    this.hashById.delete(tokenId);
    this.generation++;
  }

  clear(): void {
    this.byHash.clear();
    this.hashById.clear();
    this.negative.clear();
    this.generation++;
  }

  private load(hash: string): Promise<Principal | null> {
    let pending = this.inflight.get(hash);
    if (!pending) {
      const gen = this.generation;
      pending = this.query(hash)
        .then((p) => {
          // Don't cache a result that raced an eviction: it may predate the revocation.
          if (gen === this.generation) this.store(hash, p);
          return p;
        })
        .finally(() => this.inflight.delete(hash));
      this.inflight.set(hash, pending);
    }
    return pending;
  }

  private store(hash: string, p: Principal | null) {
    if (p && (Date.now() < this.suppressAllUntil || (this.suppressed.get(p.tokenId) ?? 0) > Date.now())) return;
    if (this.suppressed.size > 1000) for (const [id, until] of this.suppressed) if (until <= Date.now()) this.suppressed.delete(id);
    if (p) {
      this.byHash.set(hash, { p, at: Date.now() });
      this.hashById.set(p.tokenId, hash);
      this.negative.delete(hash);
    } else {
      if (this.negative.size >= MAX_NEGATIVE) this.negative.clear();
      this.negative.set(hash, Date.now());
    }
  }

  /** A token's principal by id, uncached and whatever its state (the settings preview of a token's grants). */
  byId(tokenId: string): Promise<Principal | null> {
    return this.query(tokenId, 't.id = $1');
  }

  private async query(key: string, where = 't.token_hash = $1'): Promise<Principal | null> {
    const r = await this.pool.query<Row>(
      `select t.id, t.name, t.org_id, o.slug as org_slug, t.team_id, t.owner_user_id, t.created_by_id, u.email,
              t.service_account_id, sa.name as sa_name, sa.team_id as sa_team_id, (sa.disabled_at is not null) as sa_disabled,
              t.scopes, t.model_patterns, t.rpm, t.tpm, t.expires_at, t.revoked_at,
              coalesce((select json_agg(json_build_object('id', tm.id, 'slug', tm.slug) order by tm.slug)
                          from team tm
                         where tm.org_id = t.org_id
                           and (tm.id = t.team_id or tm.id = sa.team_id
                                or exists (select 1 from team_member x where x.team_id = tm.id and x.user_id = t.owner_user_id))), '[]') as teams
         from api_token t
         join organization o on o.id = t.org_id
         left join app_user u on u.id = t.owner_user_id
         left join service_account sa on sa.id = t.service_account_id
        where ${where}`,
      [key],
    );
    const row = r.rows[0];
    if (!row) return null;
    const teamId = row.team_id ?? row.sa_team_id ?? row.teams[0]?.id ?? null;
    return {
      tokenId: row.id,
      tokenName: row.name,
      orgId: row.org_id,
      orgSlug: row.org_slug,
      teamId,
      teamPaths: row.teams.map((t) => `${row.org_slug}/${t.slug}`),
      ownerUserId: row.owner_user_id,
      ownerEmail: row.email,
      createdById: row.created_by_id,
      serviceAccountId: row.service_account_id,
      serviceAccountName: row.sa_name,
      scopes: row.scopes,
      modelPatterns: row.model_patterns,
      rpm: row.rpm,
      tpm: row.tpm,
      expiresAt: row.expires_at ? row.expires_at.getTime() : null,
      revoked: row.revoked_at !== null,
      disabled: row.sa_disabled,
    };
  }

  /** last_used_at is advisory; one batched UPDATE every 30 s keeps it off the request path. */
  async flushLastUsed(): Promise<void> {
    if (!this.lastUsed.size) return;
    const ids = [...this.lastUsed];
    this.lastUsed.clear();
    try {
      await this.pool.query('update api_token set last_used_at = now() where id = any($1::uuid[])', [ids]);
    } catch (e) {
      this.logger.warn({ err: String(e) }, 'could not update token last_used_at');
    }
  }
}
