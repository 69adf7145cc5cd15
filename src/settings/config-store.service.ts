import { Inject, Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import { encryptSecret } from '../common/crypto';
import { uuidv7 } from '../common/uuid';
import { conflict, DomainError, ErrorCode, invalid, notFound } from '../common/errors';
import { ConfigError } from '../config/env';
import { maskExportSecrets, protectExportSecrets } from '../config/export-config';
import { isSecretHeader, maskHeaderSecrets, protectHeaderSecrets } from '../config/header-secrets';
import { loadGatewayConfigFile } from '../config/gateway-config.loader';
import { ConfigIssue, GatewayConfig, validateGatewayConfig } from '../config/gateway-config.schema';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { NotifyService } from '../db/notify.service';
import { PgPool } from '../db/pg-pool';
import { ProviderRegistry } from '../providers/provider-registry.service';

export const CONFIG_CHANNEL = 'sluice_config';
/** What a client sends (or sees) in place of a stored key it does not want to change. */
export const MASK = '••••';

export interface ConfigVersionMeta {
  version: number;
  createdAt: string;
  createdBy: string;
  comment: string | null;
  active: boolean;
}

export class ConfigValidationError extends DomainError {
  constructor(readonly issues: ConfigIssue[]) {
    super(ErrorCode.Invalid, `invalid gateway config: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
}

type Doc = Record<string, any>;

export interface SaveOptions {
  /** New provider name -> the name it had, so a renamed provider keeps its stored key. */
  renames?: Record<string, string>;
  /** The version the editor started from: saving on top of a newer one is refused (someone else saved meanwhile). */
  baseVersion?: number | null;
}

/** One lock for every writer of config versions, so two saves cannot both become active. */
const SAVE_LOCK = 0x51c0_cf6;

/**
 * The gateway config as versions in PostgreSQL: each save validates, records who and why, and
 * becomes active on every instance through LISTEN/NOTIFY. Provider keys are write-only: stored
 * encrypted, shown as `••••last4`, kept as they are when a save sends the mask or nothing.
 * With SLUICE_CONFIG set the file is the source of truth (reloaded when it changes) and saving is
 * refused.
 */
@Injectable()
export class ConfigStore implements OnModuleInit, OnModuleDestroy {
  private watching = false;

  constructor(
    private readonly pool: PgPool,
    private readonly notify: NotifyService,
    private readonly registry: ProviderRegistry,
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  get source(): 'file' | 'database' {
    return this.rt.env.SLUICE_CONFIG ? 'file' : 'database';
  }

  async onModuleInit() {
    if (this.source === 'file') {
      const file = this.rt.env.SLUICE_CONFIG!;
      fs.watchFile(file, { interval: 500 }, () => this.reloadFile(file));
      this.watching = true;
      return;
    }
    this.notify.subscribe(CONFIG_CHANNEL, () => void this.activateCurrent(), () => void this.activateCurrent());
    await this.activateCurrent();
  }

  onModuleDestroy() {
    if (this.watching) fs.unwatchFile(this.rt.env.SLUICE_CONFIG!);
  }

  private reloadFile(file: string) {
    try {
      this.activate(loadGatewayConfigFile(file));
      this.logger.info('reloaded the gateway config file');
    } catch (e) {
      this.logger.error({ err: e instanceof ConfigError ? e.message : String(e) }, 'gateway config file not reloaded; keeping the previous one');
    }
  }

  private async activateCurrent(): Promise<void> {
    try {
      const r = await this.pool.query<{ document: Doc }>('select document from config_version where active');
      if (!r.rows.length) return;
      const res = validateGatewayConfig(r.rows[0].document);
      if (res.ok) this.activate(res.config);
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, 'could not load the active gateway config');
    }
  }

  private activate(config: GatewayConfig) {
    this.registry.apply(config);
    this.rt.gatewayConfig = config;
  }

  /** Validates and stores a new version, active at once on every instance. */
  async save(actor: string, input: unknown, comment?: string, opts: SaveOptions = {}): Promise<ConfigVersionMeta> {
    if (this.source === 'file') throw conflict('the gateway config is read from the file in SLUICE_CONFIG; edit that file instead');
    if (!input || typeof input !== 'object' || Array.isArray(input)) throw new ConfigValidationError([{ path: '(root)', message: 'must be a JSON object' }]);
    const doc = structuredClone(input) as Doc;
    const current = await this.pool.query<{ id: string; document: Doc; key_hints: Record<string, string> }>('select id, document, key_hints from config_version where active');
    const prev = current.rows[0];
    const hints: Record<string, string> = {};
    const issues: ConfigIssue[] = [];
    const providers = doc.providers && typeof doc.providers === 'object' && !Array.isArray(doc.providers) ? doc.providers : {};
    for (const [name, p] of Object.entries<Doc>(providers)) {
      if (!p || typeof p !== 'object') continue;
      const key = p.apikey;
      const was = opts.renames?.[name] ?? name;
      if (key === undefined || key === '' || (typeof key === 'string' && key.startsWith(MASK))) {
        // Write-only: "unchanged" keeps what is stored, if anything.
        const old = prev?.document?.providers?.[was]?.apikey;
        if (old !== undefined) p.apikey = old;
        else if (typeof key === 'string' && key.length > MASK.length) {
          // A mask that stands for a key (••••WXYZ) with nothing stored under this name: the key
          // would silently vanish (a renamed provider in the JSON editor, a pasted document).
          issues.push({ path: `providers.${name}.apikey`, message: 'no stored key to keep for this provider; enter the key again' });
        } else delete p.apikey;
        if (old !== undefined && prev?.key_hints?.[was]) hints[name] = prev.key_hints[was];
      } else if (typeof key === 'string' && key.startsWith('enc:')) {
        issues.push({ path: `providers.${name}.apikey`, message: 'send the key itself, an env: reference, or the mask to keep the stored one' });
      } else if (typeof key === 'string' && !key.startsWith('env:')) {
        p.apikey = 'enc:' + encryptSecret(this.rt.keys, key);
        hints[name] = key.slice(-4);
      }
    }
    // Export destinations' secret access keys are write-only like provider keys.
    issues.push(...protectExportSecrets(doc, prev?.document, prev?.key_hints, hints, this.rt.keys, MASK));
    // So are extra headers that carry credentials (Authorization, *-key, *token*, …).
    issues.push(...protectHeaderSecrets(doc, prev?.document, prev?.key_hints, hints, this.rt.keys, MASK, opts.renames));
    const res = validateGatewayConfig(doc);
    if (!res.ok || issues.length) throw new ConfigValidationError([...issues, ...(res.ok ? [] : res.issues)]);
    // env: references must resolve here too, or the new version would fail on every instance.
    for (const [name, p] of Object.entries(res.config.providers)) {
      if (typeof p.apikey === 'string' && p.apikey.startsWith('env:')) {
        try {
          this.registry.checkKeyRef(p.apikey, `providers.${name}.apikey`);
        } catch (e) {
          throw new ConfigValidationError([{ path: `providers.${name}.apikey`, message: (e as Error).message.replace(/^providers\.[^:]+: /, '') }]);
        }
      }
    }
    return this.insertActive(actor, doc, hints, comment ?? null, { action: 'config.save', baseVersion: opts.baseVersion });
  }

  /**
   * The stored key reference of a provider in the active config (`enc:…`, `env:…` or, in file
   * mode, as the file has it), its extra headers as stored, and the base URL they are meant for, for "test connection" with a kept
   * key. Never leaves the process.
   */
  async storedKey(name: string): Promise<{ ref: string | undefined; baseurl: string | undefined; headers: Record<string, string> }> {
    if (this.source === 'file') {
      const p = this.rt.gatewayConfig.providers[name];
      return { ref: p?.apikey, baseurl: p?.baseurl, headers: p?.headers ?? {} };
    }
    const r = await this.pool.query<{ k: string | null; u: string | null; h: Record<string, string> | null }>(
      "select document->'providers'->$1->>'apikey' as k, document->'providers'->$1->>'baseurl' as u, document->'providers'->$1->'headers' as h from config_version where active",
      [name],
    );
    return { ref: r.rows[0]?.k ?? undefined, baseurl: r.rows[0]?.u ?? undefined, headers: r.rows[0]?.h ?? {} };
  }

  /** A new version whose document is exactly version `n`'s. */
  async restore(actor: string, n: number, why?: string): Promise<ConfigVersionMeta> {
    if (this.source === 'file') throw conflict('the gateway config is read from the file in SLUICE_CONFIG; edit that file instead');
    if (!Number.isSafeInteger(n) || n <= 0) throw invalid('version must be a positive whole number');
    const r = await this.pool.query<{ document: Doc; key_hints: Record<string, string> }>('select document, key_hints from config_version where id = $1', [n]);
    if (!r.rows.length) throw notFound(`config version ${n}`);
    return this.insertActive(actor, r.rows[0].document, r.rows[0].key_hints, `restore of version ${n}${why ? `: ${why}` : ''}`, { action: 'config.restore', restoredFrom: n });
  }

  private async insertActive(
    actor: string,
    doc: Doc,
    hints: Record<string, string>,
    comment: string | null,
    how: { action: string; baseVersion?: number | null; restoredFrom?: number },
  ): Promise<ConfigVersionMeta> {
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      await client.query('select pg_advisory_xact_lock($1)', [SAVE_LOCK]);
      if (how.baseVersion !== undefined) {
        const cur = await client.query<{ id: string }>('select id from config_version where active');
        const active = cur.rows.length ? Number(cur.rows[0].id) : null;
        if (active !== how.baseVersion) {
          throw conflict(`version ${active} was saved after you opened the editor (you started from ${how.baseVersion ?? 'no version'}); reload to see it, then make your change again`);
        }
      }
      await client.query('update config_version set active = false where active');
      const r = await client.query<{ id: string; created_at: Date }>(
        'insert into config_version (created_by, comment, document, key_hints, active) values ($1, $2, $3, $4, true) returning id, created_at',
        [actor, comment, doc, hints],
      );
      // The audit row names the version and why, never the document (it holds encrypted keys).
      await client.query('insert into audit_event (id, actor, action, target_type, target_id, after) values ($1, $2, $3, $4, $5, $6)', [
        uuidv7(),
        actor,
        how.action,
        'config_version',
        r.rows[0].id,
        { version: Number(r.rows[0].id), comment, ...(how.restoredFrom ? { restoredFrom: how.restoredFrom } : {}) },
      ]);
      await client.query('select pg_notify($1, $2)', [CONFIG_CHANNEL, r.rows[0].id]);
      await client.query('commit');
      const res = validateGatewayConfig(doc);
      if (res.ok) this.activate(res.config);
      return { version: Number(r.rows[0].id), createdAt: r.rows[0].created_at.toISOString(), createdBy: actor, comment, active: true };
    } catch (e) {
      await client.query('rollback').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async history(limit = 100): Promise<ConfigVersionMeta[]> {
    const r = await this.pool.query('select id, created_at, created_by, comment, active from config_version order by id desc limit $1', [limit]);
    return r.rows.map((x) => ({ version: Number(x.id), createdAt: x.created_at.toISOString(), createdBy: x.created_by, comment: x.comment, active: x.active }));
  }

  /** A version (default: the active one) as people may see it: keys masked to `••••last4`. */
  async view(n?: number): Promise<{ meta: ConfigVersionMeta | null; document: Doc }> {
    if (n !== undefined && (!Number.isSafeInteger(n) || n <= 0)) throw invalid('version must be a positive whole number');
    if (this.source === 'file' && n === undefined) return { meta: null, document: this.masked(this.rt.gatewayConfig as Doc, {}) };
    const r = await this.pool.query(
      `select id, created_at, created_by, comment, active, document, key_hints from config_version where ${n === undefined ? 'active' : 'id = $1'}`,
      n === undefined ? [] : [n],
    );
    if (!r.rows.length) {
      if (n !== undefined) throw notFound(`config version ${n}`);
      return { meta: null, document: this.masked(this.rt.gatewayConfig as Doc, {}) };
    }
    const x = r.rows[0];
    return {
      meta: { version: Number(x.id), createdAt: x.created_at.toISOString(), createdBy: x.created_by, comment: x.comment, active: x.active },
      document: this.masked(x.document, x.key_hints),
    };
  }

  /** What changed between two versions, path by path, keys masked. */
  async diff(a: number, b: number): Promise<{ path: string; before: unknown; after: unknown }[]> {
    const [va, vb] = [await this.view(a), await this.view(b)];
    const fa = flatten(va.document);
    const fb = flatten(vb.document);
    // A key (or credential header) replaced by one with the same last four characters masks the
    // same: compare the stored values (a new encryption each time one is typed) and say so.
    const raw = await this.pool.query<{ id: string; providers: Doc | null }>(`select id, document->'providers' as providers from config_version where id = any($1::bigint[])`, [[a, b]]);
    const storedOf = (n: number): Map<string, unknown> => {
      const out = new Map<string, unknown>();
      for (const [name, p] of Object.entries<Doc>(raw.rows.find((r) => Number(r.id) === n)?.providers ?? {})) {
        if (p?.apikey !== undefined) out.set(`providers.${name}.apikey`, p.apikey);
        for (const [h, v] of Object.entries<unknown>(p?.headers ?? {})) if (isSecretHeader(h)) out.set(`providers.${name}.headers.${h}`, v);
      }
      return out;
    };
    const [sa, sb] = [storedOf(a), storedOf(b)];
    for (const [path, stored] of sb) {
      const before = sa.get(path);
      if (before !== undefined && before !== stored && fa.get(path) === fb.get(path)) fb.set(path, `${String(fb.get(path))} (replaced)`);
    }
    const out: { path: string; before: unknown; after: unknown }[] = [];
    for (const path of [...new Set([...fa.keys(), ...fb.keys()])].sort()) {
      const before = fa.get(path);
      const after = fb.get(path);
      if (JSON.stringify(before) !== JSON.stringify(after)) out.push({ path, before, after });
    }
    return out;
  }

  private masked(doc: Doc, hints: Record<string, string>): Doc {
    const out = structuredClone(doc ?? {});
    for (const [name, p] of Object.entries<Doc>(out.providers ?? {})) {
      if (typeof p?.apikey !== 'string') continue;
      if (p.apikey.startsWith('env:')) continue;
      p.apikey = MASK + (hints[name] ?? '');
    }
    maskExportSecrets(out, hints, MASK);
    maskHeaderSecrets(out, hints, MASK);
    return out;
  }
}

function flatten(v: unknown, prefix = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out.set(prefix || '(root)', v);
  return out;
}
