import { Inject, Injectable } from '@nestjs/common';
import { createGzip } from 'node:zlib';
import type { Logger } from 'pino';
import { notFound } from '../common/errors';
import { ExportKind, exportDurationMs, resolveExportSecret, S3DestinationConfig } from '../config/export-config';
import type { GatewayConfig } from '../config/gateway-config.schema';
import { LOGGER, RUNTIME, type Runtime } from '../config/runtime';
import { S3Client, S3Target } from './s3-client';
import { EXPORT_SOURCES, ExportSession, Marker, S3ExportRepository } from './s3-export.repository';

export interface ExportedObject {
  kind: ExportKind;
  key: string;
  rows: number;
  bytes: number;
}

export interface DestinationRun {
  destination: string;
  objects: ExportedObject[];
  rows: Partial<Record<ExportKind, number>>;
  error: string | null;
}

export interface ExportRunReport {
  /** false: nothing ran, see `reason`. */
  ran: boolean;
  reason?: 'no destinations' | 'locked';
  destinations: DestinationRun[];
}

export interface DestinationStatus {
  destination: string;
  configured: boolean;
  enabled: boolean;
  bucket: string | null;
  kind: ExportKind;
  exportedUpTo: string | null;
  rowsExported: number;
  objectsExported: number;
  lastObjectKey: string | null;
  holdsPurge: boolean;
  lastRunAt: string | null;
  lastSuccessAt: string | null;
  lastError: string | null;
}

interface Destination {
  name: string;
  cfg: S3DestinationConfig;
  intervalMs: number;
  delayMs: number;
}

/** `2026-12-09T13:05:12.123456Z` -> `20261209T130512.123456Z`, for object keys that sort in export order. */
const compact = (ts: string) => ts.replace(/[-:]/g, '');

/**
 * Exports usage rows and captures to S3-compatible buckets as gzipped JSON Lines.
 *
 * Exactly once, under crashes: each object holds the rows after the destination's marker
 * ((created_at, id) of the last exported row), in order, within one window of the schedule's
 * length (aligned to UTC) that is over and older than `delay`, so a retry selects the same rows.
 * The object's key is derived from its first row, so a retry after a crash between the upload and
 * the marker move overwrites the object instead of adding a second copy. The marker moves only
 * after the upload, with a compare-and-set. One process exports at a time (advisory lock).
 */
@Injectable()
export class S3ExportService {
  private syncedFor: GatewayConfig | null = null;
  private stopping = false;

  constructor(
    private readonly repo: S3ExportRepository,
    @Inject(RUNTIME) private readonly rt: Runtime,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  private destinations(): Destination[] {
    const s3 = this.rt.gatewayConfig.export?.s3 ?? {};
    return Object.entries(s3).map(([name, cfg]) => ({ name, cfg, intervalMs: exportDurationMs(cfg.interval), delayMs: exportDurationMs(cfg.delay) }));
  }

  /** Stops a run in progress after its current object (shutdown). */
  stop(): void {
    this.stopping = true;
  }

  /**
   * For purge jobs: rows created before the returned time are in every destination with
   * `purge_after_export` (null: no destination holds the purge of this kind, delete freely).
   * SQL can ask the same of `sluice_export_horizon(kind)`.
   */
  async exportedUpTo(kind: ExportKind): Promise<Date | null> {
    await this.syncPurgeHolds();
    return this.repo.horizon(kind);
  }

  /** Brings export_cursor.holds_purge in line with the active config (once per config version). */
  async syncPurgeHolds(): Promise<void> {
    const cfg = this.rt.gatewayConfig;
    if (this.syncedFor === cfg) return;
    const holds = this.destinations()
      .filter((d) => d.cfg.purge_after_export)
      // Sessions are not purged after export (they change; their retention is the capture's).
      .flatMap((d) => d.cfg.kinds.filter((kind) => kind !== 'session').map((kind) => ({ destination: d.name, kind })));
    await this.repo.syncPurgeHolds(holds);
    this.syncedFor = cfg;
  }

  /**
   * Exports what is due (`scheduled`) or everything that can be exported now, for every enabled
   * destination or only `only`. Returns without doing anything when another process is exporting.
   */
  async run(opts: { scheduled: boolean; only?: string }): Promise<ExportRunReport> {
    const all = this.destinations();
    if (opts.only && !all.some((d) => d.name === opts.only)) throw notFound(`export destination "${opts.only}"`);
    // A destination named explicitly runs even when disabled (a one-off export by hand).
    const dests = all.filter((d) => (opts.only ? d.name === opts.only : d.cfg.enabled));
    await this.syncPurgeHolds();
    if (!dests.length) return { ran: false, reason: 'no destinations', destinations: [] };
    const session = await this.repo.lock(this.rt.databaseUrl);
    if (!session) return { ran: false, reason: 'locked', destinations: [] };
    const report: ExportRunReport = { ran: true, destinations: [] };
    try {
      await session.setUtc();
      for (const d of dests) {
        if (this.stopping) break;
        for (const kind of d.cfg.kinds) await session.ensureCursor(d.name, kind);
        if (opts.scheduled && !this.due(d, await session.lastRunAges(d.name))) continue;
        const res: DestinationRun = { destination: d.name, objects: [], rows: { usage: 0, capture: 0, ...Object.fromEntries(d.cfg.kinds.map((k) => [k, 0])) }, error: null };
        report.destinations.push(res);
        try {
          const client = new S3Client(this.target(d));
          for (const kind of d.cfg.kinds) await this.exportKind(session, client, d, kind, res);
        } catch (e) {
          res.error = (e as Error).message;
          this.logger.warn({ destination: d.name, err: res.error }, 'export to S3 failed; the next run continues from the last exported row');
        }
        await session.finishRun(d.name, d.cfg.kinds, res.error);
      }
    } finally {
      await session.close();
    }
    return report;
  }

  private due(d: Destination, ages: (number | null)[]): boolean {
    if (ages.length < d.cfg.kinds.length || ages.some((x) => x === null)) return true;
    // A second of slack so a check firing on the dot is not a whole check late.
    return Math.max(...(ages as number[])) >= d.intervalMs - 1000;
  }

  private target(d: Destination): S3Target {
    const p = `export.s3.${d.name}`;
    return {
      endpoint: d.cfg.endpoint ?? `https://s3.${d.cfg.region}.amazonaws.com`,
      region: d.cfg.region,
      bucket: d.cfg.bucket,
      accessKeyId: resolveExportSecret(d.cfg.access_key_id, `${p}.access_key_id`, this.rt.keys),
      secretAccessKey: resolveExportSecret(d.cfg.secret_access_key, `${p}.secret_access_key`, this.rt.keys),
      pathStyle: d.cfg.path_style ?? d.cfg.endpoint !== undefined,
    };
  }

  private async exportKind(session: ExportSession, client: S3Client, d: Destination, kind: ExportKind, res: DestinationRun): Promise<void> {
    let marker = await session.ensureCursor(d.name, kind);
    const cutoff = new Date(Date.now() - d.delayMs);
    while (!this.stopping) {
      const first = await session.firstAfter(kind, marker, cutoff);
      // Nothing left before the cutoff: the purge horizon may move up to it.
      if (!first) return session.markComplete(d.name, kind, cutoff.toISOString());
      const windowStart = Math.floor(first.at.getTime() / d.intervalMs) * d.intervalMs;
      const windowEnd = new Date(windowStart + d.intervalMs);
      // Only whole windows: the same marker must always select the same rows.
      if (windowEnd > cutoff) return session.markComplete(d.name, kind, first.createdAt);
      const obj = await this.collect(session, kind, marker, windowEnd, d.cfg.max_rows_per_object, d.cfg.max_bytes_per_object);
      const key = `${d.cfg.prefix}${kind}/dt=${first.createdAt.slice(0, 10)}/${kind}-${compact(first.createdAt)}-${first.id}.jsonl.gz`;
      await client.putObject(key, obj.body, 'application/gzip', {
        'x-amz-meta-sluice-kind': kind,
        'x-amz-meta-sluice-rows': String(obj.rows),
        'x-amz-meta-sluice-after': `${marker.createdAt}/${marker.id}`,
        'x-amz-meta-sluice-last': `${obj.last.createdAt}/${obj.last.id}`,
      });
      if (!(await session.advance(d.name, kind, marker, obj.last, obj.rows, key))) {
        throw new Error(`the ${kind} export marker of ${d.name} moved while this run held the lock; stopping`);
      }
      marker = obj.last;
      res.objects.push({ kind, key, rows: obj.rows, bytes: obj.body.length });
      res.rows[kind] = (res.rows[kind] ?? 0) + obj.rows;
      this.logger.info({ destination: d.name, kind, key, rows: obj.rows, bytes: obj.body.length }, 'exported to S3');
    }
  }

  /** The rows of one object as gzipped JSON Lines, and the marker of its last row. */
  private async collect(session: ExportSession, kind: ExportKind, after: Marker, before: Date, maxRows: number, maxBytes: number) {
    const gz = createGzip();
    const chunks: Buffer[] = [];
    gz.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise<void>((resolve, reject) => {
      gz.on('end', resolve);
      gz.on('error', reject);
    });
    let rows = 0;
    let bytes = 0;
    let pos = after;
    const pageSize = EXPORT_SOURCES[kind].page;
    outer: while (rows < maxRows) {
      const want = Math.min(pageSize, maxRows - rows);
      const page = await session.page(kind, pos, before, want);
      for (const r of page) {
        const line = r.json + '\n';
        gz.write(line);
        rows++;
        bytes += Buffer.byteLength(line);
        pos = r.marker;
        if (bytes >= maxBytes) break outer;
      }
      if (page.length < want) break;
    }
    gz.end();
    await ended;
    return { body: Buffer.concat(chunks), rows, last: pos };
  }

  /** Every configured destination and kind with its marker, plus markers of destinations no longer configured. */
  async status(): Promise<DestinationStatus[]> {
    await this.syncPurgeHolds();
    const dests = this.destinations();
    const cursors = await this.repo.cursors();
    const out: DestinationStatus[] = [];
    const seen = new Set<string>();
    for (const d of dests) {
      for (const kind of d.cfg.kinds) {
        const c = cursors.find((x) => x.destination === d.name && x.kind === kind);
        seen.add(`${d.name}/${kind}`);
        out.push(this.view(d.name, kind, true, d.cfg.enabled, d.cfg.bucket, c));
      }
    }
    for (const c of cursors) if (!seen.has(`${c.destination}/${c.kind}`)) out.push(this.view(c.destination, c.kind, false, false, null, c));
    return out;
  }

  private view(destination: string, kind: ExportKind, configured: boolean, enabled: boolean, bucket: string | null, c?: Awaited<ReturnType<S3ExportRepository['cursors']>>[number]): DestinationStatus {
    return {
      destination,
      configured,
      enabled,
      bucket,
      kind,
      exportedUpTo: c && c.last.createdAt !== '-infinity' ? c.last.createdAt : null,
      rowsExported: c?.rowsExported ?? 0,
      objectsExported: c?.objectsExported ?? 0,
      lastObjectKey: c?.lastObjectKey ?? null,
      holdsPurge: c?.holdsPurge ?? false,
      lastRunAt: c?.lastRunAt?.toISOString() ?? null,
      lastSuccessAt: c?.lastSuccessAt?.toISOString() ?? null,
      lastError: c?.lastError ?? null,
    };
  }
}

