import { Injectable } from '@nestjs/common';
import { Client } from 'pg';
import type { ExportKind } from '../config/export-config';
import { PgPool } from '../db/pg-pool';

/**
 * What an export reads per kind: the table, its id and time columns (the marker is (time, id)), and
 * columns left out. Sessions are read by updated_at: a session that changed is exported again.
 */
export const EXPORT_SOURCES: Record<ExportKind, { table: string; id: string; time: string; exclude: string[]; page: number }> = {
  usage: { table: 'request_log', id: 'id', time: 'created_at', exclude: [], page: 1000 },
  // Captured bodies can be large (the cap goes up to 16 MiB each): fetch few at a time. `search` is
  // a generated index column, not data.
  capture: { table: 'request_capture', id: 'request_row_id', time: 'created_at', exclude: ['search'], page: 20 },
  session: { table: 'session', id: 'id', time: 'updated_at', exclude: [], page: 1000 },
};

/** A position in (created_at, id) order; created_at as exact text (microseconds survive, unlike a JS Date). */
export interface Marker {
  createdAt: string;
  id: string;
}

export interface CursorRow {
  destination: string;
  kind: ExportKind;
  last: Marker;
  rowsExported: number;
  objectsExported: number;
  lastObjectKey: string | null;
  holdsPurge: boolean;
  lastRunAt: Date | null;
  lastSuccessAt: Date | null;
  lastError: string | null;
}

export const START: Marker = { createdAt: '-infinity', id: '00000000-0000-0000-0000-000000000000' };

// UTC ISO with microseconds, so the marker round-trips exactly through timestamptz.
const TS = (col: string) => `to_char(${col} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const MARKER_TS = (col: string) => `case when ${col} = '-infinity' then '-infinity' else ${TS(col)} end`;

const EXPORT_LOCK = 727010;

/**
 * SQL of the S3 export. Reads and the marker move run on one dedicated connection that also holds
 * the session-level advisory lock, so a lost connection loses the lock and can no longer move a
 * marker.
 */
@Injectable()
export class S3ExportRepository {
  constructor(private readonly pool: PgPool) {}

  async cursors(): Promise<CursorRow[]> {
    const r = await this.pool.query(
      `select destination, kind, ${MARKER_TS('last_created_at')} as last_ts, last_id, rows_exported, objects_exported, last_object_key, holds_purge,
              last_run_at, last_success_at, last_error
         from export_cursor order by destination, kind`,
    );
    return r.rows.map((x) => ({
      destination: x.destination,
      kind: x.kind,
      last: { createdAt: x.last_ts, id: x.last_id },
      rowsExported: Number(x.rows_exported),
      objectsExported: Number(x.objects_exported),
      lastObjectKey: x.last_object_key,
      holdsPurge: x.holds_purge,
      lastRunAt: x.last_run_at,
      lastSuccessAt: x.last_success_at,
      lastError: x.last_error,
    }));
  }

  /** Rows created before the result are in every destination that holds the purge; null when none holds it. */
  async horizon(kind: ExportKind): Promise<Date | null> {
    const r = await this.pool.query<{ h: Date | null }>(
      `select case when h = 'infinity' then null when h = '-infinity' then 'epoch'::timestamptz else h end as h
         from (select sluice_export_horizon($1) as h) x`,
      [kind],
    );
    return r.rows[0].h;
  }

  /** Makes the purge hold match the config: on for exactly the (destination, kind) pairs given. */
  async syncPurgeHolds(holds: { destination: string; kind: ExportKind }[]): Promise<void> {
    await this.pool.query(
      `with wanted as (select * from unnest($1::text[], $2::text[]) as w(destination, kind)),
            ins as (insert into export_cursor (destination, kind, holds_purge) select destination, kind, true from wanted
                    on conflict (destination, kind) do update set holds_purge = true, updated_at = now() where not export_cursor.holds_purge)
       update export_cursor c set holds_purge = false, updated_at = now()
        where c.holds_purge and not exists (select 1 from wanted w where w.destination = c.destination and w.kind = c.kind)`,
      [holds.map((h) => h.destination), holds.map((h) => h.kind)],
    );
  }

  /** A dedicated connection holding the export lock, or null when another process holds it. */
  async lock(databaseUrl: string): Promise<ExportSession | null> {
    const c = new Client({ connectionString: databaseUrl, keepAlive: true });
    c.on('error', () => undefined);
    await c.connect();
    try {
      const r = await c.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [EXPORT_LOCK]);
      if (r.rows[0].ok) return new ExportSession(c);
    } catch (e) {
      await c.end().catch(() => undefined);
      throw e;
    }
    await c.end().catch(() => undefined);
    return null;
  }
}

export class ExportSession {
  private readonly columns = new Map<ExportKind, string[]>();

  constructor(private readonly c: Client) {}

  async close(): Promise<void> {
    // Ending the session releases the advisory lock.
    await this.c.end().catch(() => undefined);
  }

  async ensureCursor(destination: string, kind: ExportKind): Promise<Marker> {
    await this.c.query('insert into export_cursor (destination, kind) values ($1, $2) on conflict do nothing', [destination, kind]);
    const r = await this.c.query<{ ts: string; id: string }>(`select ${MARKER_TS('last_created_at')} as ts, last_id as id from export_cursor where destination = $1 and kind = $2`, [destination, kind]);
    return { createdAt: r.rows[0].ts, id: r.rows[0].id };
  }

  /** Milliseconds since each kind's last run (null: never), by the database's clock, which every instance shares. */
  async lastRunAges(destination: string): Promise<(number | null)[]> {
    const r = await this.c.query<{ age: number | null }>(
      'select (extract(epoch from now() - last_run_at) * 1000)::float8 as age from export_cursor where destination = $1',
      [destination],
    );
    return r.rows.map((x) => x.age);
  }

  private async columnList(kind: ExportKind): Promise<string[]> {
    let cols = this.columns.get(kind);
    if (!cols) {
      const src = EXPORT_SOURCES[kind];
      // Read from the catalogue so columns added by later migrations are exported too.
      const r = await this.c.query<{ column_name: string }>(
        `select column_name from information_schema.columns
          where table_schema = current_schema() and table_name = $1 and is_generated = 'NEVER'
          order by ordinal_position`,
        [src.table],
      );
      cols = r.rows.map((x) => x.column_name).filter((c) => !src.exclude.includes(c));
      if (!cols.length) throw new Error(`table ${src.table} not found`);
      this.columns.set(kind, cols);
    }
    return cols;
  }

  /** The first row after the marker created before `before`, or null. */
  async firstAfter(kind: ExportKind, after: Marker, before: Date): Promise<(Marker & { at: Date }) | null> {
    const { table, id, time } = EXPORT_SOURCES[kind];
    const r = await this.c.query<{ ts: string; id: string; at: Date }>(
      `select ${TS(time)} as ts, ${id}::text as id, ${time} as at from ${table}
        where ${time} >= $1::timestamptz and (${time}, ${id}) > ($1::timestamptz, $2::uuid) and ${time} < $3
        order by ${time}, ${id} limit 1`,
      [after.createdAt, after.id, before],
    );
    return r.rows.length ? { createdAt: r.rows[0].ts, id: r.rows[0].id, at: r.rows[0].at } : null;
  }

  /** Up to `limit` rows after the marker and before `before`, each as JSON text in (created_at, id) order. */
  async page(kind: ExportKind, after: Marker, before: Date, limit: number): Promise<{ marker: Marker; json: string }[]> {
    const { table, id, time } = EXPORT_SOURCES[kind];
    const cols = (await this.columnList(kind)).map((c) => `t."${c}"`).join(', ');
    // row_to_json formats timestamps in the session time zone, which setUtc() made UTC.
    const r = await this.c.query<{ ts: string; id: string; j: string }>(
      `select ${TS(`t.${time}`)} as ts, t.${id}::text as id, row_to_json(x)::text as j
         from ${table} t cross join lateral (select ${cols}) x
        where t.${time} >= $1::timestamptz and (t.${time}, t.${id}) > ($1::timestamptz, $2::uuid) and t.${time} < $3
        order by t.${time}, t.${id} limit $4`,
      [after.createdAt, after.id, before, limit],
    );
    return r.rows.map((x) => ({ marker: { createdAt: x.ts, id: x.id }, json: x.j }));
  }

  async setUtc(): Promise<void> {
    await this.c.query(`set time zone 'UTC'`);
  }

  /**
   * Moves the marker from `from` to `to` after an object is stored. Compare-and-set: if the marker
   * is no longer at `from` (it cannot be while this session holds the lock), nothing moves.
   */
  async advance(destination: string, kind: ExportKind, from: Marker, to: Marker, rows: number, key: string): Promise<boolean> {
    await this.c.query('begin');
    try {
      const r = await this.c.query(
        `update export_cursor set last_created_at = $5::timestamptz, last_id = $6::uuid, rows_exported = rows_exported + $7,
                objects_exported = objects_exported + 1, last_object_key = $8, updated_at = now()
          where destination = $1 and kind = $2 and last_created_at = $3::timestamptz and last_id = $4::uuid`,
        [destination, kind, from.createdAt, from.id, to.createdAt, to.id, rows, key],
      );
      await this.c.query('commit');
      return r.rowCount === 1;
    } catch (e) {
      await this.c.query('rollback').catch(() => undefined);
      throw e;
    }
  }

  /** Everything created before `ts` has been exported (the scan reached it with nothing left behind). */
  async markComplete(destination: string, kind: ExportKind, ts: string): Promise<void> {
    await this.c.query(
      `update export_cursor set complete_before = greatest(complete_before, $3::timestamptz), updated_at = now() where destination = $1 and kind = $2`,
      [destination, kind, ts],
    );
  }

  async finishRun(destination: string, kinds: ExportKind[], error: string | null): Promise<void> {
    await this.c.query(
      `update export_cursor set last_run_at = now(), last_error = $3, updated_at = now(),
              last_success_at = case when $3::text is null then now() else last_success_at end
        where destination = $1 and kind = any($2::text[])`,
      [destination, kinds, error],
    );
  }
}
