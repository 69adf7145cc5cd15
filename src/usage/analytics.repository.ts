import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { Pool, PoolConfig } from 'pg';
import { ACTIVE_ALL_ORGS, DAY_MS, EU, HOUR_MS, NONE_UUID, PERSON, personOf, QUARTER_MS, QUARTERS_PER_HALF, ROLLUP_TABLES, RollupTable, sumOf } from './rollups';
import type { AnalyticsRange, Unit } from './analytics-range';
import { hourStart, localDate, midnight } from './time-zone';
import type { Grain, Granularity } from './rollups';

/**
 * Its own small pool: analytics pages run several aggregates in parallel and must never make the
 * usage writer (PgPool) wait for a connection. A statement timeout bounds a runaway custom range.
 */
export class AnalyticsPool extends Pool {
  /** SQL text → its statement name, for the texts prepared so far (at most MAX_PREPARED). */
  private readonly names = new Map<string, string>();

  constructor(config?: PoolConfig) {
    super(config);
    const plain = Pool.prototype.query as (...a: unknown[]) => unknown;
    // Every read is a prepared statement, named after a hash of its text, so that each connection
    // parses and analyses a text once: the reads are long (unions of rollup branches), and parsing
    // was 0.65 of the models read's 1.6 ms on one connection (0.1-0.2 ms a read in the pages). Values are always
    // parameters, so texts come from the code's shapes, not from input; past MAX_PREPARED texts
    // (a shape that inlines a value would be a bug) new ones run unnamed. Each plan is still made
    // for its values (plan_cache_mode below), so a generic plan never serves a month like a day.
    this.query = ((...args: unknown[]) => {
      const [text, values] = args;
      if (typeof text === 'string' && args.length <= 2 && (values === undefined || Array.isArray(values))) {
        const name = this.nameOf(text);
        if (name) return plain.call(this, { name, text, values });
      }
      return plain.apply(this, args);
    }) as Pool['query'];
  }

  /** How many distinct statements this pool has named so far. */
  get prepared(): number {
    return this.names.size;
  }

  private nameOf(text: string): string | null {
    let name = this.names.get(text);
    if (name === undefined && this.names.size < MAX_PREPARED) {
      name = `analytics_${createHash('sha1').update(text).digest('base64url')}`;
      this.names.set(text, name);
    }
    return name ?? null;
  }
}

/** Distinct statements an analytics pool prepares; the code has a few hundred shapes at most. */
const MAX_PREPARED = 2000;

export function createAnalyticsPool(url: string, max = 4): AnalyticsPool {
  // work_mem: a person-level aggregate over a month of an organization hashes a few hundred
  // thousand rows; in memory that is tens of milliseconds, spilled to disk ten times more.
  // No parallel workers: a page runs its reads side by side already, and for the tens of
  // thousands of rollup rows a read sees, starting workers cost more than they bring (all
  // organizations' people over 30 days: 134 → 92 ms on the 2-core bench machine).
  const pool = new AnalyticsPool({
    connectionString: url,
    max,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    // Prepared statements live as long as their connection: renewing connections every ten
    // minutes keeps only the shapes in use. random_page_cost 1.1: the rollups a page reads are
    // in memory or on SSD, and with the default 4 a range of a fifth of a table was scanned whole
    // (all organizations' people over 30 New York days 61 -> 41 ms, their active-users chart
    // 50 -> 23 ms; the sum of every read of the usage pages over four ranges 683 -> 601 ms). No
    // JIT: a read that the planner overestimates (thirty Indian days of a team chart, estimated at
    // three million rows, 100 thousand read) spent 356 of its 516 ms compiling; no page read is
    // long enough to win it back.
    maxLifetimeSeconds: 600,
    options: '-c statement_timeout=30000 -c work_mem=64MB -c max_parallel_workers_per_gather=0 -c plan_cache_mode=force_custom_plan -c random_page_cost=1.1 -c jit=off',
  });
  pool.on('error', () => undefined);
  return pool;
}

/** Whose usage a query reads. Every field narrows; nothing widens. */
export interface RollupFilter {
  from: Date;
  to: Date;
  source: Granularity;
  /** null: every organization (global admins). */
  orgIds: string[] | null;
  /** Only this person's usage: tokens they own, or requests whose end-user id is their email. */
  person?: { userId: string | null; email: string } | null;
  tokenIds?: string[];
  teamIds?: string[];
  /** Requests carrying any of these tags. */
  tags?: string[];
  /** The range ends now (or later): the last day's rollup holds nothing past `to`. */
  openEnded?: boolean;
  /**
   * The reads run on raw request rows standing in for every rollup (the analytics bench's
   * baseline): partial days are read from their own rows (never a day minus its other hours, or
   * local days from day rows) and people are counted from person rollups, not usage_active_day.
   */
  rawRows?: boolean;
}

export interface Measures {
  requests: number;
  failures: number;
  inputTokens: number;
  outputTokens: number;
  costMicros: number;
}

export interface Totals extends Measures {
  completionLatencyMs: number | null;
  embeddingLatencyMs: number | null;
  completionRequests: number;
  embeddingRequests: number;
}

export interface TopRow extends Measures {
  rank: number;
  key: string;
  name: string;
  slug: string | null;
  ownerEmail: string | null;
  serviceAccount: string | null;
}

export interface PersonRow extends Measures {
  rank: number;
  key: string;
  displayName: string | null;
  email: string | null;
  serviceAccount: string | null;
  teamId: string | null;
  teamName: string | null;
  teamSlug: string | null;
  /** The team's organization (slug): views over several organizations name it next to the team. */
  teamOrg: string | null;
  activeUsers: number;
  activeDays: number;
}

export interface ModelUsage extends Measures {
  provider: string;
  model: string;
}

export interface Paged<T> {
  rows: T[];
  total: number;
}

export type TopLevel = 'org' | 'token' | 'end_user';
export type PeopleView = 'user' | 'team';
export type PeopleSort = 'name' | 'requests' | 'input' | 'output' | 'total' | 'cost';
export type TopSort = 'name' | 'requests' | 'input' | 'output' | 'total' | 'cost';

/** Builds a parameter list while SQL text is assembled. */
class Sql {
  readonly params: unknown[] = [];
  p(v: unknown): string {
    this.params.push(v);
    return `$${this.params.length}`;
  }

  /** A parameter added only if the SQL uses it (PostgreSQL rejects parameters it cannot type). */
  lazy(v: unknown, cast: string): () => string {
    let ref: string | undefined;
    return () => (ref ??= `${this.p(v)}::${cast}`);
  }
}

const N = (v: unknown) => (v === null || v === undefined ? 0 : Number(v));

/** PERSON computed straight off a rollup row `r` (owner joined as `o`). */
const PERSON_R = personOf('r');

/**
 * Rollup rows grouped by their raw person dimensions first (cheap hashing of ids), then mapped to
 * people: `x` has owner_user_id, service_account_id, eu, the `extra` columns and the sums; `p` adds
 * `person`. Byte-order ("C") text keeps the grouping and sorting of people cheap.
 */
function peopleCte(src: string, extra: { expr: string; as: string }[], sums: string): string {
  const cols = extra.map((e) => `${e.expr} as ${e.as}`);
  return `x as (select r.owner_user_id, r.service_account_id, ${EU('r.end_user')} collate "C" as eu${cols.length ? ', ' + cols.join(', ') : ''}, ${sums}
                  from ${src} r group by ${[1, 2, 3, ...extra.map((_, i) => i + 4)].join(', ')} having isum(r.requests) > 0),
          p as (select (${PERSON}) collate "C" as person, x.* from x left join app_user o on o.id = x.owner_user_id)`;
}

/** Where the adoption histogram's log-scale bins of tokens per person start (the first at 0): < 1k, 1k–10k, …, ≥ 10M. */
const TOKEN_BIN_EDGES = [1000, 10_000, 100_000, 1_000_000, 10_000_000];
/** The bin of a token total. */
const TOKEN_BIN = (tokens: string) => `case ${TOKEN_BIN_EDGES.map((e, i) => `when ${tokens} < ${e} then ${i}`).join(' ')} else ${TOKEN_BIN_EDGES.length} end`;

/** Sums of the counters every page shows, as bigints (`sumOf`). */
const MEASURE_SUMS = (a = 'r') => (['requests', 'failures', 'input_tokens', 'output_tokens', 'cost_micros'] as const).map((m) => `${sumOf(m, a)} as ${m}`).join(', ');

const measures = (x: Record<string, unknown>): Measures => ({
  requests: N(x.requests),
  failures: N(x.failures),
  inputTokens: N(x.input_tokens),
  outputTokens: N(x.output_tokens),
  costMicros: N(x.cost_micros),
});

const topRow = (x: Record<string, unknown>): TopRow => ({
  rank: x.rank as number,
  key: x.k as string,
  name: x.name as string,
  slug: x.slug as string | null,
  ownerEmail: x.owner_email as string | null,
  serviceAccount: x.service_account as string | null,
  ...measures(x),
});

const ORDER_TOP: Record<TopSort, string> = {
  name: 'lower(name)',
  requests: 'requests',
  input: 'input_tokens',
  output: 'output_tokens',
  total: '(input_tokens + output_tokens)',
  cost: 'cost_micros',
};

function where(f: RollupFilter, s: Sql, a = 'r'): string {
  return [`${a}.bucket >= ${s.p(f.from)}::timestamptz`, `${a}.bucket < ${s.p(f.to)}::timestamptz`, ...narrowing(f, s, a)].join(' and ');
}

/** The ways a row of `a` is the person's: tokens they own, and requests whose end-user id is their email (either one is enough). */
function personWays(person: NonNullable<RollupFilter['person']>, s: Sql, a = 'r'): string[] {
  const email = `lower(${a}.end_user) = ${s.p(person.email.toLowerCase())}`;
  return person.userId ? [`${a}.owner_user_id = ${s.p(person.userId)}::uuid`, email] : [email];
}

/** The filter's conditions other than time. */
function narrowing(f: RollupFilter, s: Sql, a = 'r'): string[] {
  const parts: string[] = [];
  if (f.orgIds) parts.push(`${a}.org_id = any(${s.p(f.orgIds)}::uuid[])`);
  if (f.person) parts.push(`(${personWays(f.person, s, a).join(' or ')})`);
  if (f.tokenIds?.length) parts.push(`${a}.token_id = any(${s.p(f.tokenIds)}::uuid[])`);
  if (f.teamIds?.length) parts.push(`${a}.team_id = any(${s.p(f.teamIds)}::uuid[])`);
  if (f.tags?.length) parts.push(`${a}.tags && ${s.p(f.tags)}::text[]`);
  return parts;
}

/**
 * The viewer's bucket holding instant `col` (which must be minute-aligned): minutes as they are;
 * the local hour (minus the local minute-of-hour, right for :30 and :45 zones); the local day.
 */
function bucketExpr(unit: Unit, col: string, tz: () => string, identity: boolean): string {
  if (identity || unit === 'minute') return col;
  if (unit === 'hour') return `(${col} - make_interval(mins => extract(minute from ${col} at time zone ${tz()})::int))`;
  return `(date_trunc('day', ${col} at time zone ${tz()}) at time zone ${tz()})`;
}

/** Every bucket of the range (so empty ones show as zero), computed with the same expression as the data. */
function axisCte(r: AnalyticsRange, s: Sql, tz: () => string): string {
  const step = r.unit === 'minute' ? '1 minute' : r.unit === 'hour' ? '15 minutes' : '1 hour';
  return `axis as (select distinct ${bucketExpr(r.unit, 'g', tz, false)} as b
                      from generate_series(${s.p(r.from)}::timestamptz, ${s.p(r.to)}::timestamptz - interval '1 microsecond', interval '${step}') g)`;
}

/** What a query groups or filters by, beyond organization and time. */
type Need = 'team' | 'token' | 'person' | 'model' | 'endpoint' | 'status' | 'tags' | 'latency' | 'sums';

/** A series split: what it needs of a rollup, the columns it groups by and its key (rows aliased `r`). */
interface Split {
  needs: Need[];
  cols: string[];
  key: string;
}
const SPLITS: Record<'team' | 'model' | 'status', Split> = {
  team: { needs: ['team'], cols: ['team_id'], key: 'r.team_id::text' },
  model: { needs: ['model'], cols: ['provider', 'model'], key: `r.provider || '/' || r.model` },
  status: { needs: ['status'], cols: ['status_class'], key: 'r.status_class' },
};
const NO_SPLIT: Split = { needs: [], cols: [], key: `''` };

/** The rollup tables (see rollups.ts) and what each can answer. */
const TABLES: { name: string; grains: readonly Grain[]; has: readonly Need[] }[] = [
  { name: 'usage_summary', grains: ['hour', 'day'], has: ['model', 'endpoint', 'status', 'latency', 'sums'] },
  { name: 'usage_team', grains: ['hour', 'day', 'month'], has: ['team', 'sums'] },
  { name: 'usage_token', grains: ['hour', 'day'], has: ['team', 'token', 'sums'] },
  { name: 'usage_person', grains: ['hour', 'day', 'month'], has: ['team', 'token', 'person', 'sums'] },
  // Requests only (no failures, tokens or cost).
  { name: 'usage_team_model', grains: ['day', 'month'], has: ['team', 'model'] },
  { name: 'usage_person_model', grains: ['day', 'month'], has: ['team', 'token', 'person', 'model'] },
  { name: 'usage_rollup', grains: ['minute', 'hour', 'day'], has: ['team', 'token', 'person', 'model', 'endpoint', 'status', 'tags', 'latency', 'sums'] },
];

/**
 * The smallest rollup that answers a query exactly: it must have every dimension the query groups
 * by and every one its filter narrows by (a member's own usage needs the person dimensions, a tag
 * filter the full rollup), at the range's granularity.
 */
function table(f: RollupFilter, needs: Need[] = [], requestsOnly = false): string {
  return `${family(f, needs, requestsOnly, f.source).name}_${f.source}`;
}

function family(f: RollupFilter, needs: Need[], requestsOnly: boolean, grain: Granularity | null): RollupTable {
  const all = new Set<Need>(needs);
  if (!requestsOnly) all.add('sums');
  if (f.person) all.add('person');
  if (f.tokenIds?.length) all.add('token');
  if (f.teamIds?.length) all.add('team');
  if (f.tags?.length) all.add('tags');
  const t = TABLES.find((x) => (!grain || x.grains.includes(grain)) && [...all].every((n) => x.has.includes(n)))!;
  return ROLLUP_TABLES.find((x) => x.name === t.name)!;
}

export interface Span {
  from: Date;
  to: Date;
  g: Grain;
  /** -1: rows subtracted (the rest of a day or month whose day or month row is read whole). */
  sign?: -1;
}


/**
 * A range total read as whole UTC days from day rollups plus its partial first and last days. A
 * partial day of more than twelve hours is its day row minus the hour rows of the hours outside
 * the range; a shorter one is its hour rows. A New York month is thirty day buckets and a few
 * hours, and "the last 24 hours" is a day and an hour or two, instead of 720 or 24 hour buckets;
 * the sums are the same. Readers of signed spans count a group only when its requests add up to
 * more than zero (a person whose requests all fell in the subtracted hours was not active).
 */
export function spans(f: RollupFilter, months: boolean): Span[] {
  let days: Span[];
  if (f.source === 'day') days = [{ from: f.from, to: f.to, g: 'day' }];
  else {
    const from = f.from.getTime();
    const to = f.to.getTime();
    const start = Math.ceil(from / DAY_MS) * DAY_MS;
    // Open-ended: nothing is stored past `to`, so the day holding it reads as whole.
    const end = f.openEnded ? Math.max(to, start) : Math.floor(to / DAY_MS) * DAY_MS;
    const part = (a: number, b: number): Span[] => {
      if (f.rawRows) return [{ from: new Date(a), to: new Date(b), g: f.source }];
      // Minutes (a :30 or :45 zone's local midnight) only up to the first and from the last whole hour.
      const ha = Math.ceil(a / HOUR_MS) * HOUR_MS;
      const hb = Math.floor(b / HOUR_MS) * HOUR_MS;
      if (f.source !== 'minute' || ha >= hb) return partialDay(a, b, f.source, f.openEnded === true && b >= to);
      const minutes = (x: number, y: number): Span[] => (x < y ? [{ from: new Date(x), to: new Date(y), g: 'minute' }] : []);
      return [...minutes(a, ha), ...partialDay(ha, hb, 'hour', f.openEnded === true && hb >= to), ...minutes(hb, b)];
    };
    if (end <= start) {
      // Within one UTC day, or across one midnight without a whole day between.
      if (f.openEnded || to <= start) return part(from, f.openEnded ? start : to);
      return [...part(from, start), ...part(start, to)];
    }
    days = [];
    if (from < start) days.push(...part(from, start));
    days.push({ from: new Date(start), to: new Date(end), g: 'day' });
    if (!f.openEnded && end < to) days.push(...part(end, to));
  }
  // Raw rows standing in for rollups read only the range's own rows (a month minus days would read more).
  return months ? merged(days).flatMap(carveMonths(f.openEnded === true ? f.to.getTime() : null, !f.rawRows)) : days;
}

/** [a, b) inside one UTC day, from `g` rows, or (whole hours, over twelve of them) its day row minus the other hours. */
function partialDay(a: number, b: number, g: Granularity, nothingAfter: boolean): Span[] {
  const d = Math.floor(a / DAY_MS) * DAY_MS;
  const e = nothingAfter ? d + DAY_MS : b;
  if (g !== 'hour' || e - a <= 12 * HOUR_MS || a % HOUR_MS || e % HOUR_MS) return [{ from: new Date(a), to: new Date(b), g }];
  const out: Span[] = [{ from: new Date(d), to: new Date(d + DAY_MS), g: 'day' }];
  if (a > d) out.push({ from: new Date(d), to: new Date(a), g: 'hour', sign: -1 });
  if (e < d + DAY_MS) out.push({ from: new Date(e), to: new Date(d + DAY_MS), g: 'hour', sign: -1 });
  return out;
}

/** Unsigned spans of one grain that meet, as one span (fewer UNION ALL parts, and whole months found across them). */
function merged(xs: Span[]): Span[] {
  const out: Span[] = [];
  for (const x of xs) {
    const i = x.sign ? -1 : out.findIndex((y) => !y.sign && y.g === x.g && y.to.getTime() === x.from.getTime());
    if (i >= 0) out[i] = { ...out[i], to: x.to };
    else out.push(x);
  }
  return out;
}

const nextMonth = (t: number) => {
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
};

/**
 * A day span as month rows where it can: whole UTC months (the last one may run to now) from
 * their month row; with `minus`, a month the span covers for more than a day longer than it
 * leaves out as its month row minus the day rows of the days outside the span (thirty days to
 * yesterday read at most half a month of day rows, not up to thirty); other days from day rows.
 */
const carveMonths = (openEndAt: number | null, minus: boolean) => (sp: Span): Span[] => {
  if (sp.g !== 'day' || sp.sign) return [sp];
  const from = sp.from.getTime();
  const to = sp.to.getTime();
  // Only the span that runs to the open end: a head day's month goes on after it.
  const openEnded = openEndAt !== null && to >= openEndAt;
  const out: Span[] = [];
  const first = new Date(from);
  for (let ms = Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), 1); ms < to; ms = nextMonth(ms)) {
    const me = nextMonth(ms);
    const a = Math.max(from, ms);
    const b = Math.min(to, me);
    // Open-ended: nothing is stored past `to`, so the month holding it ends there.
    const end = openEnded && to < me ? to : me;
    const month: Span = { from: new Date(ms), to: new Date(end), g: 'month' };
    if (a === ms && b === end) out.push(month);
    else if (minus && a - ms + (end - b) + DAY_MS < b - a) {
      out.push(month);
      if (a > ms) out.push({ from: new Date(ms), to: new Date(a), g: 'day', sign: -1 });
      if (b < end) out.push({ from: new Date(b), to: new Date(end), g: 'day', sign: -1 });
    } else out.push({ from: new Date(a), to: new Date(b), g: 'day' });
  }
  return merged(out);
};

/**
 * The rows a range total reads, as a subquery to alias `r`: the smallest rollup family that
 * answers it (see `table`), its day rollup for whole days when `mix` (a family without a grain
 * lends it from the full rollup, same columns), and each of `branches` (disjoint conditions, for
 * index use) as its own UNION ALL part.
 */
function rows(f: RollupFilter, s: Sql, needs: Need[], o: { requestsOnly?: boolean; mix?: boolean; branches?: string[] } = {}): string {
  const fam = family(f, needs, !!o.requestsOnly, null);
  const cols = ['bucket', ...fam.dims, ...fam.measures].map((c) => `r.${c}`).join(', ');
  const minus = ['bucket', ...fam.dims].map((c) => `r.${c}`).concat(fam.measures.map((m) => `-r.${m} as ${m}`)).join(', ');
  const narrow = narrowing(f, s);
  const parts: string[] = [];
  for (const sp of o.mix ? spans(f, fam.grains.includes('month')) : ([{ from: f.from, to: f.to, g: f.source }] as Span[])) {
    const tbl = `${fam.grains.includes(sp.g) ? fam.name : 'usage_rollup'}_${sp.g}`;
    const conds = [`r.bucket >= ${s.p(sp.from)}::timestamptz`, `r.bucket < ${s.p(sp.to)}::timestamptz`, ...narrow];
    for (const b of o.branches ?? [null]) parts.push(`select ${sp.sign ? minus : cols} from ${tbl} r where ${[...conds, ...(b ? [b] : [])].join(' and ')}`);
  }
  return parts.length === 1 ? `(${parts[0]})` : `(${parts.join(' union all ')})`;
}

/**
 * SQL of the analytics pages. Everything reads the rollups (and the session table for "active
 * sessions"), never request_log. Names are joined only for organizations the filter covers, so a
 * top table cannot show another organization's names.
 */
@Injectable()
export class AnalyticsRepository {
  constructor(private readonly pool: AnalyticsPool) {}

  /** Sums over the filter; with `latency`, also the mean response time of completions and embeddings. */
  async totals(f: RollupFilter, latency = true): Promise<Totals> {
    const s = new Sql();
    const lat = latency
      ? `sum(r.latency_ms_sum) filter (where r.endpoint_class = 'completion') as lat_c, isum(r.requests) filter (where r.endpoint_class = 'completion') as n_c,
         sum(r.latency_ms_sum) filter (where r.endpoint_class = 'embedding') as lat_e, isum(r.requests) filter (where r.endpoint_class = 'embedding') as n_e`
      : 'null as lat_c, null as n_c, null as lat_e, null as n_e';
    const r = await this.pool.query(
      `select ${MEASURE_SUMS()}, ${lat}
         from ${rows(f, s, latency ? ['latency', 'endpoint'] : [], { mix: true })} r`,
      s.params,
    );
    const x = r.rows[0];
    const nc = N(x.n_c);
    const ne = N(x.n_e);
    return { ...measures(x), completionRequests: nc, embeddingRequests: ne, completionLatencyMs: nc ? N(x.lat_c) / nc : null, embeddingLatencyMs: ne ? N(x.lat_e) / ne : null };
  }

  /** Requests, failures, tokens and cost per bucket; with `split`, one row per bucket and key. */
  async series(f: RollupFilter, range: AnalyticsRange, split?: 'team' | 'model' | 'status'): Promise<{ t: Date; key: string; m: Measures }[]> {
    const s = new Sql();
    const tz = s.lazy(range.tz, 'text');
    const axis = axisCte(range, s, tz);
    const { needs, cols, key: dim } = split ? SPLITS[split] : NO_SPLIT;
    // Per local day: group by the split's own columns and make the key of the groups (not of every
    // row). An hour moved to its own local day leaves a group summing to nothing in the noon's: dropped.
    const local = localBucketRows(f, range, s, needs, [], cols);
    const d = local
      ? `select r.b, ${dim} as k, r.requests, r.failures, r.input_tokens, r.output_tokens, r.cost_micros
           from (select r.b, ${[...cols.map((c) => `r.${c}`), MEASURE_SUMS()].join(', ')} from ${local} r group by r.b${cols.map((c) => `, r.${c}`).join('')}
                 having isum(r.requests) <> 0) r`
      : `select ${bucketExpr(range.unit, 'x.bucket', tz, range.identity)} as b, x.k, isum(x.requests) as requests, isum(x.failures) as failures,
                isum(x.input_tokens) as input_tokens, isum(x.output_tokens) as output_tokens, isum(x.cost_micros) as cost_micros
           from (select r.bucket, ${dim} as k, ${MEASURE_SUMS()} from ${table(f, needs)} r where ${where(f, s)} group by 1, 2) x
          group by 1, 2`;
    const r = await this.pool.query(
      `with ${axis}, d as (${d})
       select axis.b, d.k, d.requests, d.failures, d.input_tokens, d.output_tokens, d.cost_micros
         from axis left join d on d.b = axis.b order by 1, 2`,
      s.params,
    );
    return r.rows.map((x) => ({ t: new Date(x.b), key: x.k ?? '', m: measures(x) }));
  }

  /** Distinct people per bucket (exact: counted over the rollups' owner and end-user dimensions). */
  async activeUsersSeries(f: RollupFilter, range: AnalyticsRange): Promise<{ t: Date; users: number }[]> {
    const everyone = !f.person && !f.tokenIds?.length && !f.teamIds?.length && !f.tags?.length && !f.rawRows;
    if (range.unit === 'day' && range.identity && f.source === 'day' && everyone) return this.activeUsersByDay(f, range);
    if (range.unit === 'hour' && range.identity && f.source === 'hour' && everyone) return this.activeUsersByHour(f, range);
    if (range.unit === 'day' && f.source === 'hour' && family(f, ['person'], false, 'day').name === 'usage_person') return this.activeUsersByLocalDay(f, range, everyone);
    // Days and hours that start inside an hour: whole organizations from usage_active_day's quarter hours.
    if (range.unit === 'day' && f.source === 'minute' && everyone) return this.activeUsersByLocalDay(f, range, true);
    if (range.unit === 'hour' && f.source === 'minute' && everyone && f.to.getTime() - f.from.getTime() <= 62 * HOUR_MS) return this.activeUsersByLocalHour(f);
    const s = new Sql();
    const tz = s.lazy(range.tz, 'text');
    const axis = axisCte(range, s, tz);
    // A member's (or a filter's) people per local day or hour there: requests per bucket and sender,
    // from day (hour) rows plus what belongs to another bucket; active where they add up to more than none.
    const local = f.source === 'minute' ? localBucketRows(f, range, s, ['person']) : null;
    if (local) {
      const r = await this.pool.query(
        `with ${axis},
              x as (select r.b, r.owner_user_id, r.service_account_id, ${EU('r.end_user')} as eu from ${local} r group by 1, 2, 3, 4 having isum(r.requests) > 0),
              p as (select distinct x.b, ${PERSON} as person from x left join app_user o on o.id = x.owner_user_id)
         select axis.b, count(p.person)::int as users from axis left join p on p.b = axis.b group by 1 order by 1`,
        s.params,
      );
      return r.rows.map((x) => ({ t: new Date(x.b), users: N(x.users) }));
    }
    const w = where(f, s);
    const r = await this.pool.query(
      // One row per person and bucket: join the owner once per row and hash (bucket, person) in one pass.
      `with ${axis},
            p as (select ${bucketExpr(range.unit, 'r.bucket', tz, range.identity)} as b, (${PERSON_R}) collate "C" as person
                    from ${table(f, ['person'])} r left join app_user o on o.id = r.owner_user_id where ${w} group by 1, 2)
       select axis.b, count(p.person)::int as users from axis left join p on p.b = axis.b group by 1 order by 1`,
      s.params,
    );
    return r.rows.map((x) => ({ t: new Date(x.b), users: N(x.users) }));
  }

  /**
   * Active people per local day from day rows: a UTC day row covers the end of one local day (its
   * first k hours, or quarter hours) and the start of the next; its active-hour (quarter-hour)
   * bits say in which of the two the person made requests. Only whole organizations where the
   * zone's days start inside an hour (person rollups keep hours only).
   */
  private async activeUsersByLocalDay(f: RollupFilter, range: AnalyticsRange, everyone: boolean): Promise<{ t: Date; users: number }[]> {
    const s = new Sql();
    const tz = s.lazy(range.tz, 'text');
    const axis = axisCte(range, s, tz);
    const firstDay = Math.floor(f.from.getTime() / DAY_MS) * DAY_MS;
    const first = s.p(new Date(firstDay));
    const end = s.p(f.to);
    // Whole organizations: the people per UTC day are already rows of usage_active_day.
    const x = everyone
      ? activeDayRows(f, s, first, end)
      : `select r.bucket, (${PERSON_R}) collate "C" as person, bit_or(r.active_hours) as active_hours
           from usage_person_day r left join app_user o on o.id = r.owner_user_id
          where ${[`r.bucket >= ${first}::timestamptz`, `r.bucket < ${end}::timestamptz`, ...narrowing(f, s)].join(' and ')}
          group by 1, 2`;
    // Up to 62 local days: each person's active days as bits of one bigint (one small hash group
    // per person instead of one per person and day), then a count per bit. Longer: distinct pairs.
    const days = Math.round((f.to.getTime() - f.from.getTime()) / DAY_MS) + 1;
    const quarters = !wholeHourDays(f);
    const sql =
      days <= 62
        ? `with ${axis}, ${localDaysOfRows(x, tz, first, utcDays(firstDay, f.to), quarters, false)},
                ax as (select b, (row_number() over (order by b) - 1)::int as i from axis),
                sb as materialized (select split.*, coalesce(1::bigint << a1.i, 0) as b1, coalesce(1::bigint << a2.i, 0) as b2
                         from split left join ax a1 on a1.b = split.l1 left join ax a2 on a2.b = split.l2),
                per as (select bit_or((case when ${touches(quarters, 1, 'x', 'sb')} then sb.b1 else 0 end) | (case when ${touches(quarters, 2, 'x', 'sb')} then sb.b2 else 0 end)) as days
                          from x join sb on sb.d = x.bucket group by x.person),
                -- Every day's count in one pass over the people (not one join probe per person and day).
                c as (select array[${Array.from({ length: days }, (_, i) => `isum((per.days >> ${i}) & 1)`).join(', ')}] as n from per)
           select ax.b, coalesce(c.n[ax.i + 1], 0)::int as users from ax cross join c order by 1`
        : `with ${axis}, ${localDaysOfRows(x, tz, first, utcDays(firstDay, f.to), quarters)}
           select axis.b, count(p.person)::int as users from axis left join p on p.b = axis.b group by 1 order by 1`;
    const r = await this.pool.query(sql, s.params);
    return r.rows.map((x) => ({ t: new Date(x.b), users: N(x.users) }));
  }

  /**
   * Active people per local hour where hours start inside UTC hours (India at :30, Nepal at :45):
   * each local hour is four quarter hours of one or two UTC days, whose bits (per UTC day, as
   * masks worked out here) say whether a person's day row has a request in it. Each person's
   * hours become bits of one bigint, counted per bit in one pass.
   */
  private async activeUsersByLocalHour(f: RollupFilter): Promise<{ t: Date; users: number }[]> {
    const starts: number[] = [];
    for (let t = f.from.getTime(); t < f.to.getTime(); t += HOUR_MS) starts.push(t);
    // Up to 62 hours fit the bits (hourly ranges are at most two local days).
    const masks = new Map<string, { d: number; j: number; am: bigint; pm: bigint }>();
    starts.forEach((t, j) => {
      for (let q = t; q < t + HOUR_MS; q += QUARTER_MS) {
        const d = Math.floor(q / DAY_MS) * DAY_MS;
        const i = (q - d) / QUARTER_MS;
        const k = `${d}:${j}`;
        const m = masks.get(k) ?? { d, j, am: 0n, pm: 0n };
        if (i < QUARTERS_PER_HALF) m.am |= 1n << BigInt(i);
        else m.pm |= 1n << BigInt(i - QUARTERS_PER_HALF);
        masks.set(k, m);
      }
    });
    const ms = [...masks.values()];
    const s = new Sql();
    const x = activeDayRows(f, s, s.p(new Date(Math.floor(f.from.getTime() / DAY_MS) * DAY_MS)), s.p(f.to));
    const r = await this.pool.query(
      `with m as (select * from unnest(${s.p(ms.map((m) => new Date(m.d)))}::timestamptz[], ${s.p(ms.map((m) => m.j))}::int[],
                                        ${s.p(ms.map((m) => String(m.am)))}::int8[], ${s.p(ms.map((m) => String(m.pm)))}::int8[]) m(d, j, am, pm)),
            x as (${x}),
            per as (select bit_or(case when (x.active_quarters_am & m.am) <> 0 or (x.active_quarters_pm & m.pm) <> 0 then 1::bigint << m.j else 0 end) as hours
                      from x join m on m.d = x.bucket group by x.person)
       select array[${starts.map((_, j) => `isum((per.hours >> ${j}) & 1)`).join(', ')}] as n from per`,
      s.params,
    );
    const n = (r.rows[0]?.n ?? []) as (string | number | null)[];
    return starts.map((t, j) => ({ t: new Date(t), users: N(n[j]) }));
  }

  /** Active people per hour (whole-hour zones): the hour bits of usage_active_day rows. */
  private async activeUsersByHour(f: RollupFilter, range: AnalyticsRange): Promise<{ t: Date; users: number }[]> {
    const s = new Sql();
    const axis = axisCte(range, s, s.lazy(range.tz, 'text'));
    const x = activeDayRows(f, s, s.p(new Date(Math.floor(f.from.getTime() / DAY_MS) * DAY_MS)), s.p(f.to));
    // Per UTC day, the 24 hours' counts in one pass over its people (not a join of every hour with every person).
    const r = await this.pool.query(
      `with ${axis}, x as (${x}),
            c as (select x.bucket, array[${Array.from({ length: 24 }, (_, h) => `isum((x.active_hours >> ${h}) & 1)`).join(', ')}] as n from x group by 1)
       select axis.b, coalesce(c.n[extract(hour from axis.b at time zone 'UTC')::int + 1], 0)::int as users
         from axis left join c on c.bucket = date_trunc('day', axis.b at time zone 'UTC') at time zone 'UTC' order by 1`,
      s.params,
    );
    return r.rows.map((x) => ({ t: new Date(x.b), users: N(x.users) }));
  }

  /** Active people per UTC day, counted off usage_active_day. */
  private async activeUsersByDay(f: RollupFilter, range: AnalyticsRange): Promise<{ t: Date; users: number }[]> {
    const s = new Sql();
    const axis = axisCte(range, s, s.lazy(range.tz, 'text'));
    const x = activeDayRows(f, s, s.p(f.from), s.p(f.to));
    const r = await this.pool.query(
      `with ${axis}, x as (${x}), c as (select bucket, count(*)::int as n from x group by 1)
       select axis.b, coalesce(c.n, 0) as users from axis left join c on c.bucket = axis.b order by 1`,
      s.params,
    );
    return r.rows.map((x) => ({ t: new Date(x.b), users: N(x.users) }));
  }

  async activeUsers(f: RollupFilter): Promise<number> {
    const s = new Sql();
    const r = await this.pool.query(
      peopleKeyed(f)
        ? `select count(*)::int as n from (select r.person from ${peopleRows(f, s)} r group by 1 having isum(r.requests) > 0) x`
        : `with ${peopleCte(rows(f, s, ['person'], { mix: true }), [], 'count(*) as n')}
           select count(distinct person)::int as n from p`,
      s.params,
    );
    return N(r.rows[0].n);
  }

  /** Requests, tokens and cost per provider/model. */
  async models(f: RollupFilter): Promise<ModelUsage[]> {
    const s = new Sql();
    const r = await this.pool.query(
      `select r.provider, r.model, ${MEASURE_SUMS()} from ${rows(f, s, ['model'], { mix: true })} r group by 1, 2 having isum(r.requests) > 0 order by 3 desc, 1, 2`,
      s.params,
    );
    return r.rows.map((x) => ({ provider: x.provider, model: x.model, ...measures(x) }));
  }

  /**
   * The usage page's top table: organizations (all), tokens (one org) or end-user ids (one token).
   * Ranked by requests; sorted, searched and paged on the server.
   */
  async top(f: RollupFilter, level: TopLevel, o: { sort: TopSort; dir: 'asc' | 'desc'; search?: string; limit: number; offset: number }): Promise<Paged<TopRow>> {
    const s = new Sql();
    const dir = o.dir === 'asc' ? 'asc' : 'desc';
    let body: string;
    if (level === 'org') {
      body = `select g.k, coalesce(og.name, '(deleted organization)') as name, og.slug, null::text as owner_email, null::text as service_account, g.requests, g.failures,
                     g.input_tokens, g.output_tokens, g.cost_micros
                from (select r.org_id::text as k, ${MEASURE_SUMS()} from ${rows(f, s, [], { mix: true })} r group by 1 having isum(r.requests) > 0) g
                left join organization og on og.id = g.k::uuid`;
    } else if (level === 'token') {
      const tokens = `select r.token_id, r.org_id, ${MEASURE_SUMS()} from ${rows(f, s, ['token'], { mix: true })} r group by 1, 2 having isum(r.requests) > 0`;
      const names = (g: string) => `coalesce(t.name, case when ${g}.token_id = '${NONE_UUID}' then '(no token)' else '(deleted token)' end) as name, null::text as slug,
                     u.email as owner_email, sa.name as service_account`;
      const joins = (g: string) => `left join api_token t on t.id = ${g}.token_id and t.org_id = ${g}.org_id
                left join app_user u on u.id = t.owner_user_id
                left join service_account sa on sa.id = t.service_account_id and sa.org_id = ${g}.org_id`;
      if (!o.search && o.sort !== 'name') {
        // Sorted by a number and not searched: rank and page the tokens on their sums alone, then
        // name only the shown rows (naming an organization's day of 800 tokens first was half of it).
        const r = await this.pool.query(
          `with g as (${tokens}),
                ranked as (select g.*, g.token_id::text as k, rank() over (order by g.requests desc)::int as rank, count(*) over ()::int as total from g),
                shown as (select * from ranked order by ${ORDER_TOP[o.sort]} ${dir}, k ${dir} limit ${s.p(o.limit)}::int offset ${s.p(o.offset)}::int)
           select shown.*, ${names('shown')} from shown ${joins('shown')} order by ${ORDER_TOP[o.sort]} ${dir}, k ${dir}`,
          s.params,
        );
        return { rows: r.rows.map(topRow), total: r.rows[0]?.total ?? (o.offset > 0 ? await this.countTop(f, level, o.search) : 0) };
      }
      body = `select g.token_id::text as k, ${names('g')}, g.requests, g.failures, g.input_tokens, g.output_tokens, g.cost_micros from (${tokens}) g ${joins('g')}`;
    } else {
      body = `select g.k, case when g.k = '' then '(no user_id)' else g.k end as name, null::text as slug, null::text as owner_email, null::text as service_account,
                     g.requests, g.failures, g.input_tokens, g.output_tokens, g.cost_micros
                from (select r.end_user as k, ${MEASURE_SUMS()} from ${rows(f, s, ['person', 'token'], { mix: true })} r group by 1 having isum(r.requests) > 0) g`;
    }
    const search = o.search ? `where lower(name) like ${s.p(`%${likeEscape(o.search.toLowerCase())}%`)} or lower(coalesce(owner_email, '')) like $${s.params.length} or lower(coalesce(service_account, '')) like $${s.params.length} or lower(coalesce(slug, '')) like $${s.params.length}` : '';
    const r = await this.pool.query(
      `with ranked as (select b.*, rank() over (order by b.requests desc)::int as rank from (${body}) b),
            hit as (select * from ranked ${search})
       select hit.*, count(*) over ()::int as total from hit order by ${ORDER_TOP[o.sort]} ${dir}, k ${dir} limit ${s.p(o.limit)}::int offset ${s.p(o.offset)}::int`,
      s.params,
    );
    return { rows: r.rows.map(topRow), total: r.rows[0]?.total ?? (o.offset > 0 ? await this.countTop(f, level, o.search) : 0) };
  }

  private async countTop(f: RollupFilter, level: TopLevel, search?: string): Promise<number> {
    const all = await this.top(f, level, { sort: 'requests', dir: 'desc', search, limit: 1, offset: 0 });
    return all.total;
  }

  /**
   * People (or teams) with their totals, sorted, searched and paged. A person's team is the team
   * most of their requests in the range were attributed to.
   */
  async people(
    f: RollupFilter,
    view: PeopleView,
    o: { sort: PeopleSort; dir: 'asc' | 'desc'; search?: string; limit: number; offset: number; unitForDays: { tz: string; identity: boolean }; activeDays?: boolean; bins?: boolean },
  ): Promise<Paged<PersonRow> & { bins?: { bin: number; users: number }[] }> {
    const s = new Sql();
    const tz = s.lazy(o.unitForDays.tz, 'text');
    // Active days need one row per person and day (many); pages ask for them per shown row instead (activeDaysOf).
    const extra = [{ expr: 'r.team_id', as: 'team_id' }];
    if (o.activeDays) extra.push({ expr: bucketExpr('day', 'r.bucket', tz, o.unitForDays.identity && f.source === 'day'), as: 'd' });
    // Active days need the viewer's day of each row, so no whole-UTC-day shortcut then.
    const keyed = peopleKeyed(f) && !o.activeDays;
    // A function: it adds its parameters when the SQL uses it.
    const base = () =>
      keyed
        ? `k as (select r.person, r.team_id, null::timestamptz as d, ${MEASURE_SUMS()} from ${peopleRows(f, s)} r group by 1, 2 having isum(r.requests) > 0)`
        : `${peopleCte(rows(f, s, ['person', 'team'], { mix: !o.activeDays }), extra, MEASURE_SUMS())},
           k as (select p.person, p.team_id, ${o.activeDays ? 'p.d' : 'null::timestamptz as d'}, p.requests, p.failures, p.input_tokens, p.output_tokens, p.cost_micros from p)`;
    const order: Record<PeopleSort, string> = { name: 'lower(name)', requests: 'requests', input: 'input_tokens', output: 'output_tokens', total: '(input_tokens + output_tokens)', cost: 'cost_micros' };
    const dir = o.dir === 'asc' ? 'asc' : 'desc';
    // Names only of accounts that are members of the organizations shown.
    const orgIds = s.lazy(f.orgIds, 'uuid[]');
    const visible = () => (f.orgIds ? `and exists (select 1 from membership m where m.user_id = u.id and m.org_id = any(${orgIds()}))` : '');
    const teamJoin = (t: string) => `left join team tm on tm.id = ${t}.team_id left join organization tmo on tmo.id = tm.org_id`;
    const names = (t: string) => `left join app_user u on lower(u.email) = ${t}.person ${visible()}
                           left join service_account sa on ${t}.person like 'sa:%' and sa.id = (case when ${t}.person like 'sa:%' then substr(${t}.person, 4)::uuid end)
                           ${teamJoin(t)}`;
    const teamCols = (t: string) => `case when ${t}.team_id = '${NONE_UUID}' then null else tm.name end as team_name,
                                case when ${t}.team_id = '${NONE_UUID}' then null else tm.slug end as team_slug,
                                case when ${t}.team_id = '${NONE_UUID}' then null else tmo.slug end as team_org`;
    const binsCte = (t: string) => (o.bins ? `, bins as (select ${TOKEN_BIN('(input_tokens + output_tokens)')} as bin, count(*)::int as users from ${t} group by 1)` : '');
    const binsCol = o.bins ? ', (select json_agg(json_build_array(bin, users) order by bin) from bins) as bins' : '';
    let sql: string;
    if (view === 'user' && !o.activeDays && !o.search && o.sort !== 'name') {
      // Sorted by a number and not searched: page people on their sums alone (a top-N sort); only
      // the shown rows get their team (most requests, then the smaller id) and names. Picking every
      // person's team and name first was a third of an organization-wide month. A shown person's
      // rank is one more than the number of people with more tokens, found by binary search
      // (width_bucket) in everyone's sorted totals, and so are the histogram's bins: ranking
      // every person with window functions was half of a day's 6,000 people.
      const binEdges = TOKEN_BIN_EDGES.map((e, i) => `(${i}, ${i ? TOKEN_BIN_EDGES[i - 1] - 1 : -1}::bigint, ${e - 1}::bigint)`).join(', ');
      const arrayBins = o.bins
        ? `, bins as (select * from (select b.bin, width_bucket(b.hi, tot.a) - width_bucket(b.lo, tot.a) as users
                        from tot, (values ${binEdges}, (${TOKEN_BIN_EDGES.length}, ${TOKEN_BIN_EDGES[TOKEN_BIN_EDGES.length - 1] - 1}::bigint, ${Number.MAX_SAFE_INTEGER}::bigint)) b(bin, lo, hi)) x where users > 0)`
        : '';
      // Over a day or two a person has about one people-keyed row per team, so the rows are summed
      // per person straight away (one grouping, not one per person and team and then one per
      // person: an organization-wide day 18 -> 11 ms), and the shown people's teams come from their
      // own rows. Over more days rows repeat people, and grouping them per team first is cheaper.
      const single = keyed && f.to.getTime() - f.from.getTime() <= 2 * DAY_MS;
      const perPerson = single
        ? `kt as materialized (select * from ${peopleRows(f, s)} r),
            per as (select kt.person, ${MEASURE_SUMS('kt')} from kt group by kt.person having isum(kt.requests) > 0)`
        : `${base()},
            kt as (${keyed ? 'select * from k' : `select k.person, k.team_id, ${MEASURE_SUMS('k')} from k group by 1, 2`}),
            per as (select kt.person, ${MEASURE_SUMS('kt')} from kt group by kt.person)`;
      const teamOfShown = single
        ? `select distinct on (x.person) x.person, x.team_id
             from (select kt.person, kt.team_id, isum(kt.requests) as requests from kt where kt.person in (select person from shown) group by 1, 2) x
            order by x.person, x.requests desc, x.team_id`
        : 'select distinct on (kt.person) kt.person, kt.team_id from kt where kt.person in (select person from shown) order by kt.person, kt.requests desc, kt.team_id';
      sql = `with ${perPerson},
            tot as (select coalesce(array_agg(input_tokens + output_tokens order by input_tokens + output_tokens), '{}') as a, count(*)::int as n from per),
            shown as (select * from per order by ${order[o.sort]} ${dir}, person ${dir} limit ${s.p(o.limit)}::int offset ${s.p(o.offset)}::int),
            tp as (${teamOfShown})${arrayBins}
       select shown.*, (1 + tot.n - width_bucket(shown.input_tokens + shown.output_tokens, tot.a))::int as rank, tot.n as total,
              shown.person as k, tp.team_id, 1 as active_users, 0 as active_days, u.display_name, u.email as user_email, sa.name as sa_name,
              ${teamCols('tp')}${binsCol}
         from shown cross join tot left join tp on tp.person = shown.person
         ${names('tp')}
        order by ${order[o.sort]} ${dir}, k ${dir}`;
    } else {
      let named: string;
      if (view === 'user') {
        // A person's team: the one most of their requests went to (ties: the smaller id).
        const per = o.activeDays
          ? `pt as (select person, team_id, row_number() over (partition by person order by isum(requests) desc, team_id) as n from k group by 1, 2),
             per as (select k.person, ${MEASURE_SUMS('k')}, count(distinct k.d)::int as active_days, min(pt.team_id::text)::uuid as team_id
                       from k left join pt on pt.person = k.person and pt.n = 1 group by k.person)`
          : // People-keyed rows are grouped by person and team already; the others by who sent them (several per person).
            `${keyed ? '' : `kt as (select k.person, k.team_id, ${MEASURE_SUMS('k')} from k group by 1, 2),`}
             per as (select kt.person, ${MEASURE_SUMS('kt')}, 0 as active_days, (array_agg(kt.team_id order by kt.requests desc, kt.team_id))[1] as team_id
                       from ${keyed ? 'k kt' : 'kt'} group by kt.person)`;
        named = `${per},
                 named as (select per.*, per.person as k, 1 as active_users, u.display_name, u.email as user_email, sa.name as sa_name,
                                  ${teamCols('per')},
                                  coalesce(u.display_name, sa.name, per.person) as name
                             from per
                             ${names('per')})`;
      } else {
        named = `per as (select k.team_id, ${MEASURE_SUMS('k')}, count(distinct k.person)::int as active_users, count(distinct k.d)::int as active_days from k group by k.team_id),
                 named as (select per.*, per.team_id::text as k, null::text as person, null::text as display_name, null::text as user_email, null::text as sa_name,
                                  ${teamCols('per')},
                                  case when per.team_id = '${NONE_UUID}' then '(no team)' else coalesce(tm.name, '(deleted team)') end as name
                             from per ${teamJoin('per')})`;
      }
      const like = o.search ? s.p(`%${likeEscape(o.search.toLowerCase())}%`) : null;
      const search = like
        ? `where lower(name) like ${like} or lower(k) like ${like} or lower(coalesce(user_email, '')) like ${like} or lower(coalesce(team_name, '')) like ${like} or lower(coalesce(team_slug, '')) like ${like}`
        : '';
      sql = `with ${base()}, ${named},
              ranked as (select named.*, rank() over (order by (input_tokens + output_tokens) desc)::int as rank from named),
              hit as (select * from ranked ${search})${
                // The adoption histogram from the same per-person totals (everyone, whatever the search).
                binsCte('named')
              }
         select hit.*, count(*) over ()::int as total${binsCol}
           from hit order by ${order[o.sort]} ${dir}, k ${dir} limit ${s.p(o.limit)}::int offset ${s.p(o.offset)}::int`;
    }
    const r = await this.pool.query(sql, s.params);
    if (!r.rows.length && o.offset > 0) {
      // Paged past the end: the count (and histogram) still matter; the count is also the page's number of active people.
      const all = await this.people(f, view, { ...o, limit: 1, offset: 0 });
      return { rows: [], total: all.total, bins: all.bins };
    }
    const bins = o.bins ? ((r.rows[0]?.bins ?? []) as [number, number][]).map(([bin, users]) => ({ bin, users })) : undefined;
    return {
      bins,
      rows: r.rows.map((x) => ({
        rank: x.rank,
        key: x.k,
        displayName: x.display_name,
        email: x.user_email ?? (view === 'user' && typeof x.k === 'string' && x.k.includes('@') ? x.k : null),
        serviceAccount: x.sa_name,
        teamId: x.team_id === NONE_UUID ? null : x.team_id,
        teamName: x.team_name,
        teamSlug: x.team_slug,
        teamOrg: x.team_org,
        activeUsers: N(x.active_users),
        activeDays: N(x.active_days),
        ...measures(x),
      })),
      total: r.rows[0]?.total ?? 0,
    };
  }

  /** For the given people (or team ids): requests per model, most used first. */
  async modelsOf(f: RollupFilter, view: PeopleView, keys: string[]): Promise<{ key: string; model: string; provider: string; requests: number }[]> {
    if (!keys.length) return [];
    const s = new Sql();
    const r = await this.pool.query(
      view === 'team'
        ? `select r.team_id::text as k, r.provider, r.model, isum(r.requests) as requests
             from ${rows(f, s, ['team', 'model'], { requestsOnly: true, mix: true, branches: [`r.team_id::text = any(${s.p(keys)}::text[])`] })} r
            group by 1, 2, 3 having isum(r.requests) > 0 order by 1, 4 desc, 2, 3`
        : `with x as (select r.owner_user_id, r.service_account_id, ${EU('r.end_user')} as eu, r.provider, r.model, isum(r.requests) as requests
                        from ${rows(f, s, ['person', 'model'], { requestsOnly: true, mix: true, branches: personBranches(s, keys) })} r group by 1, 2, 3, 4, 5 having isum(r.requests) > 0)
           select ${PERSON} as k, x.provider, x.model, isum(x.requests) as requests from x left join app_user o on o.id = x.owner_user_id
            group by 1, 2, 3 order by 1, 4 desc, 2, 3`,
      s.params,
    );
    const want = new Set(keys);
    return r.rows.filter((x) => want.has(x.k)).map((x) => ({ key: x.k, provider: x.provider, model: x.model, requests: N(x.requests) }));
  }

  /** For the given people (or team ids): requests per bucket of the range. */
  async trendOf(f: RollupFilter, range: AnalyticsRange, view: PeopleView, keys: string[]): Promise<{ key: string; t: Date; requests: number }[]> {
    if (!keys.length) return [];
    const s = new Sql();
    const tz = s.lazy(range.tz, 'text');
    const branches = view === 'team' ? [`r.team_id::text = any(${s.p(keys)}::text[])`] : personBranches(s, keys);
    const needs: Need[] = view === 'team' ? ['team'] : ['person'];
    const local = localBucketRows(f, range, s, needs, branches);
    const [src, b] = local ? [local, 'r.b'] : [rows(f, s, needs, { branches }), bucketExpr(range.unit, 'r.bucket', tz, range.identity)];
    const r = await this.pool.query(
      view === 'team'
        ? `select r.team_id::text as k, ${b} as b, isum(r.requests) as requests from ${src} r group by 1, 2`
        : `with x as (select r.owner_user_id, r.service_account_id, ${EU('r.end_user')} as eu, ${b} as b, isum(r.requests) as requests
                        from ${src} r group by 1, 2, 3, 4)
           select ${PERSON} as k, x.b, isum(x.requests) as requests from x left join app_user o on o.id = x.owner_user_id group by 1, 2`,
      s.params,
    );
    const want = new Set(keys);
    return r.rows.filter((x) => want.has(x.k)).map((x) => ({ key: x.k, t: new Date(x.b), requests: N(x.requests) }));
  }

  /** Every bucket start of the range, in order. */
  async axis(range: AnalyticsRange): Promise<Date[]> {
    const s = new Sql();
    const tz = s.lazy(range.tz, 'text');
    const r = await this.pool.query(`with ${axisCte(range, s, tz)} select b from axis order by 1`, s.params);
    return r.rows.map((x) => new Date(x.b));
  }

  /** How many people used between lo and hi tokens (log-scale bins), for the adoption histogram. */
  async tokenDistribution(f: RollupFilter): Promise<{ bin: number; users: number }[]> {
    const s = new Sql();
    const t = peopleKeyed(f)
      ? `t as (select r.person, isum(r.input_tokens + r.output_tokens) as tokens from ${peopleRows(f, s)} r group by 1 having isum(r.requests) > 0)`
      : `${peopleCte(rows(f, s, ['person'], { mix: true }), [], 'isum(r.input_tokens + r.output_tokens) as tokens')},
         t as (select person, isum(tokens) as tokens from p group by 1)`;
    const r = await this.pool.query(`with ${t} select ${TOKEN_BIN('tokens')} as bin, count(*)::int as users from t group by 1 order by 1`, s.params);
    return r.rows.map((x) => ({ bin: N(x.bin), users: N(x.users) }));
  }

  /** For the given people: on how many of the viewer's days of the range they made a request. */
  async activeDaysOf(f: RollupFilter, range: AnalyticsRange, keys: string[]): Promise<Map<string, number>> {
    if (!keys.length) return new Map();
    const s = new Sql();
    const tz = s.lazy(range.tz, 'text');
    // Whole organizations over whole local days of a zone off UTC: their rows of usage_active_day
    // (in UTC the person rollups' indexes find a few people's days faster).
    const everyone = !f.person && !f.tokenIds?.length && !f.teamIds?.length && !f.tags?.length && !f.rawRows;
    const localMidnight = (t: number) => midnight(range.tz, localDate(range.tz, t)) === t;
    if (everyone && (f.source === 'hour' || f.source === 'minute') && localMidnight(f.from.getTime()) && (f.openEnded || localMidnight(f.to.getTime()))) {
      const firstDay = Math.floor(f.from.getTime() / DAY_MS) * DAY_MS;
      const first = s.p(new Date(firstDay));
      const end = s.p(f.to);
      const x = activeDayRows(f, s, first, end, `r.person = any(${s.p(keys)}::text[])`);
      const r = await this.pool.query(
        `with ${localDaysOfRows(x, tz, first, utcDays(firstDay, f.to), !wholeHourDays(f))}
         select p.person as k, count(*)::int as days from p where p.b >= ${s.p(f.from)}::timestamptz and p.b < ${end}::timestamptz group by 1`,
        s.params,
      );
      return new Map(r.rows.map((x) => [x.k as string, N(x.days)]));
    }
    const day = bucketExpr('day', 'r.bucket', tz, range.identity && f.source === 'day');
    const r = await this.pool.query(
      `with x as (select r.owner_user_id, r.service_account_id, ${EU('r.end_user')} as eu, ${day} as d
                    from ${rows(f, s, ['person'], { branches: personBranches(s, keys) })} r group by 1, 2, 3, 4)
       select ${PERSON} as k, count(distinct x.d)::int as days from x left join app_user o on o.id = x.owner_user_id group by 1`,
      s.params,
    );
    return new Map(r.rows.map((x) => [x.k as string, N(x.days)]));
  }

  /** Sessions with a request in [from, to): the session table keeps each one's first and last request. */
  async activeSessions(f: RollupFilter): Promise<number> {
    const s = new Sql();
    const parts = [`s.last_at >= ${s.p(f.from)}::timestamptz`, `s.first_at < ${s.p(f.to)}::timestamptz`];
    if (f.orgIds) parts.push(`s.org_id = any(${s.p(f.orgIds)}::uuid[])`);
    if (f.person) parts.push(`(${personWays(f.person, s, 's').join(' or ')})`);
    const r = await this.pool.query(`select count(*)::int as n from session s where ${parts.join(' and ')}`, s.params);
    return N(r.rows[0].n);
  }

  /** The latest minutes with activity, per model: the dashboard's recent activity timeline. */
  async recentActivity(f: RollupFilter, limit: number): Promise<({ t: Date; provider: string; model: string } & Measures)[]> {
    const n = Math.min(Math.max(1, limit), 1000);
    // The latest n rows are in the latest n busy minutes. Find the earliest of those first: each way
    // of being the person's (owner, end user) read backwards on its own index, stopping after n
    // distinct minutes (a busy person's day is 1,400 minute rows, a month 40,000), then sum only
    // the rows from that minute on.
    const s = new Sql();
    const time = [`r.bucket >= ${s.p(f.from)}::timestamptz`, `r.bucket < ${s.p(f.to)}::timestamptz`];
    const rest = narrowing({ ...f, person: null }, s);
    const ways = f.person ? personWays(f.person, s).map((w) => [w]) : [[]];
    const busy = ways.map((w) => `(select distinct r.bucket from usage_rollup_minute r where ${[...time, ...rest, ...w].join(' and ')} order by 1 desc limit ${n})`);
    const first = await this.pool.query(`select min(b.bucket) as t from (select bucket from (${busy.join(' union ')}) u order by 1 desc limit ${n}) b`, s.params);
    if (!first.rows[0]?.t) return [];
    const q = new Sql();
    const r = await this.pool.query(
      `select r.bucket, r.provider, r.model, ${MEASURE_SUMS()} from usage_rollup_minute r where ${where({ ...f, from: new Date(first.rows[0].t), source: 'minute' }, q)}
        group by 1, 2, 3 order by 1 desc, 4 desc, 2, 3 limit ${n}`,
      q.params,
    );
    return r.rows.map((x) => ({ t: new Date(x.bucket), provider: x.provider, model: x.model, ...measures(x) }));
  }

  // Names for filters and headings -----------------------------------------------------------

  async orgs(ids: string[] | null): Promise<{ id: string; slug: string; name: string }[]> {
    const r = await this.pool.query('select id, slug, name from organization where ($1::uuid[] is null or id = any($1::uuid[])) order by slug limit 1000', [ids]);
    return r.rows;
  }

  async teams(orgIds: string[] | null): Promise<{ id: string; slug: string; name: string; org: string }[]> {
    const r = await this.pool.query(
      `select t.id, t.slug, t.name, o.slug as org from team t join organization o on o.id = t.org_id
        where ($1::uuid[] is null or t.org_id = any($1::uuid[])) order by o.slug, t.slug limit 1000`,
      [orgIds],
    );
    return r.rows;
  }

  /** Tokens for the filter: the org's (admins), or the ones a member owns. */
  async tokens(orgIds: string[] | null, ownerUserId: string | null, limit = 5000): Promise<{ id: string; name: string; org: string; owner: string | null }[]> {
    const r = await this.pool.query(
      `select t.id, t.name, o.slug as org, coalesce(u.email, sa.name) as owner from api_token t join organization o on o.id = t.org_id
         left join app_user u on u.id = t.owner_user_id left join service_account sa on sa.id = t.service_account_id
        where ($1::uuid[] is null or t.org_id = any($1::uuid[])) and ($2::uuid is null or t.owner_user_id = $2::uuid)
        order by o.slug, lower(t.name) limit $3`,
      [orgIds, ownerUserId, limit],
    );
    return r.rows;
  }

  /** A token of one of the organizations, with what the drill-down heading shows. */
  async token(id: string, orgIds: string[] | null): Promise<{ id: string; name: string; orgId: string; ownerUserId: string | null; owner: string | null } | null> {
    const r = await this.pool.query(
      `select t.id, t.name, t.org_id, t.owner_user_id, coalesce(u.email, sa.name) as owner from api_token t
         left join app_user u on u.id = t.owner_user_id left join service_account sa on sa.id = t.service_account_id
        where t.id = $1::uuid and ($2::uuid[] is null or t.org_id = any($2::uuid[]))`,
      [id, orgIds],
    );
    const x = r.rows[0];
    return x ? { id: x.id, name: x.name, orgId: x.org_id, ownerUserId: x.owner_user_id, owner: x.owner } : null;
  }

  /** Tags seen in the last 90 days of the organizations (the tag filter's choices). */
  async tags(orgIds: string[] | null, person: RollupFilter['person']): Promise<string[]> {
    if (!person) {
      const t = await this.pool.query(
        `select distinct tag from usage_tag where ($1::uuid[] is null or org_id = any($1::uuid[])) and last_day >= now() - interval '90 days' order by 1 limit 500`,
        [orgIds],
      );
      return t.rows.map((x) => x.tag);
    }
    const s = new Sql();
    const f: RollupFilter = { from: new Date(Date.now() - 90 * 86_400_000), to: new Date(Date.now() + 86_400_000), source: 'day', orgIds, person };
    const r = await this.pool.query(
      `select distinct t from (select distinct r.tags from usage_rollup_day r where ${where(f, s)} and r.tags <> '{}') x, unnest(x.tags) t order by 1 limit 500`,
      s.params,
    );
    return r.rows.map((x) => x.t);
  }

  /** A person's account and the organizations they are a member of. */
  async userByEmail(email: string): Promise<{ id: string; email: string; displayName: string | null; orgIds: string[] } | null> {
    const r = await this.pool.query(
      `select u.id, u.email, u.display_name, coalesce(array_agg(m.org_id) filter (where m.org_id is not null), '{}') as org_ids
         from app_user u left join membership m on m.user_id = u.id where lower(u.email) = lower($1) group by 1, 2, 3`,
      [email],
    );
    const x = r.rows[0];
    return x ? { id: x.id, email: x.email, displayName: x.display_name, orgIds: x.org_ids } : null;
  }

  /** Members of the organizations (all users for null), the adoption page's denominator. */
  async memberCount(orgIds: string[] | null): Promise<number> {
    const r = await this.pool.query(
      orgIds ? 'select count(distinct user_id)::int as n from membership where org_id = any($1::uuid[])' : 'select count(*)::int as n from app_user where $1::uuid[] is null',
      [orgIds],
    );
    return N(r.rows[0].n);
  }
}

/**
 * Whole organizations' people (no person, token or tag filter; raw rows cannot stand in): read
 * from usage_people, keyed by person already (partial days from person hour or minute rows).
 */
function peopleKeyed(f: RollupFilter): boolean {
  return !f.person && !f.tokenIds?.length && !f.tags?.length && !f.rawRows;
}

/**
 * (person, team_id, sums) rows of the filter's range: whole days and months from usage_people,
 * partial days (and the hours subtracted from a whole day) from person hour rows mapped to people.
 */
function peopleRows(f: RollupFilter, s: Sql): string {
  const narrow = narrowing(f, s);
  const sums = (sign: string) => ['requests', 'failures', 'input_tokens', 'output_tokens', 'cost_micros'].map((m) => `${sign}r.${m} as ${m}`).join(', ');
  const parts = spans(f, true).map((sp) => {
    const conds = [`r.bucket >= ${s.p(sp.from)}::timestamptz`, `r.bucket < ${s.p(sp.to)}::timestamptz`, ...narrow].join(' and ');
    const sign = sp.sign ? '-' : '';
    return sp.g === 'day' || sp.g === 'month'
      ? `select r.person, r.team_id, ${sums(sign)} from usage_people_${sp.g} r where ${conds}`
      : `select (${PERSON_R}) collate "C" as person, r.team_id, ${sums(sign)} from ${sp.g === 'minute' ? 'usage_rollup' : 'usage_person'}_${sp.g} r left join app_user o on o.id = r.owner_user_id where ${conds}`;
  });
  return `(${parts.join(' union all ')})`;
}

/**
 * Rows for sums per local day in a zone off UTC (day buckets read from hour or minute rollups), as
 * a subquery with `b` (the local day) and the family's dimensions and measures. Each UTC day's day
 * row counts for the local day holding its noon; the parts of that UTC day that belong to another
 * local day are added to their own local day and taken from the noon's: whole hours from hour rows
 * (five a day in New York, none in UTC), and in a zone whose days start inside an hour (India,
 * Adelaide, Newfoundland, Nepal) the minutes of that hour from minute rows. Thirty New York days are
 * 31 day buckets and about 155 hour buckets instead of 720, thirty Indian days add some 900 minute
 * buckets instead of 43,200. Per local hour in such a zone, UTC hour rows stand for the local
 * hour holding their start and the minutes past the next local hour's start move (half the minute
 * rows in India, a quarter in Nepal). Which local day each of those buckets counts for is worked
 * out here (a few hundred instants) and joined to the rows, not computed per row with AT TIME
 * ZONE. Null when the query cannot be answered this way.
 */
function localBucketRows(f: RollupFilter, range: AnalyticsRange, s: Sql, needs: Need[], branches: string[] = [], keep?: string[]): string | null {
  if (f.rawRows) return null;
  // Local hours that start inside UTC hours (India at :30): each UTC hour row counts for the local
  // hour holding its start, and the minutes of it from the next local hour's start on move there.
  const hourly = range.unit === 'hour';
  if (hourly ? f.source !== 'minute' : range.unit !== 'day' || (f.source !== 'hour' && f.source !== 'minute')) return null;
  const big = hourly ? 'hour' : 'day';
  const fam = family(f, needs, false, big);
  if (!fam.grains.includes('hour')) return null;
  const moved = hourly ? movedMinutesOfHours(range.tz, f.from.getTime(), f.to.getTime()) : movedParts(range.tz, f.from.getTime(), f.to.getTime());
  // With `keep`, only those dimensions: the hour rows are summed over the others before each is
  // counted for two local days (a chart per model: one row per model and hour, not one per model,
  // endpoint class, status class and organization).
  const cols = keep ?? fam.dims;
  const dims = cols.map((c) => `r.${c}`).join(', ');
  const narrow = narrowing(f, s);
  const each = (base: string[]) => (branches.length ? branches.map((b) => [...base, ...narrow, b]) : [[...base, ...narrow]]).map((c) => c.join(' and '));
  const rowMap = `unnest(${s.p(moved.rows)}::timestamptz[], ${s.p(moved.rowIs)}::timestamptz[]) m(d, b)`;
  const parts = each([`r.bucket >= ${s.p(moved.rows[0])}::timestamptz`, `r.bucket < ${s.p(f.to)}::timestamptz`]).map(
    (w) => `select m.b, ${[dims, ...fam.measures.map((m) => `r.${m}`)].filter(Boolean).join(', ')}
              from ${fam.name}_${big} r join ${rowMap} on m.d = r.bucket where ${w}`,
  );
  if (moved.hours.at.length) {
    const at = s.p(moved.hours.at);
    const map = `unnest(${at}::timestamptz[], ${s.p(moved.hours.own)}::timestamptz[], ${s.p(moved.hours.noon)}::timestamptz[]) m(h, own, noon)`;
    for (const w of each([`r.bucket = any(${at}::timestamptz[])`])) {
      const src = keep
        ? `(select r.bucket, ${[dims, ...fam.measures.map((m) => `${sumOf(m)} as ${m}`)].filter(Boolean).join(', ')}
              from ${fam.name}_hour r where ${w} group by r.bucket${cols.map((c) => `, r.${c}`).join('')}) r`
        : `${fam.name}_hour r`;
      parts.push(`select v.b, ${[dims, ...fam.measures.map((m) => `v.sign * r.${m} as ${m}`)].filter(Boolean).join(', ')}
                    from ${src} join ${map} on m.h = r.bucket
                    cross join lateral (values (m.own, 1), (m.noon, -1)) v(b, sign)
                   ${keep ? '' : `where ${w}`}`);
    }
  }
  if (moved.minutes.lo.length) {
    // Minute rows are only in the full rollup (its columns include every family's), summed per
    // stretch of minutes, one index range each (a list of 900 minutes made PostgreSQL intersect a
    // bitmap of every minute row of the range with one of every row of the people asked for).
    const mm = moved.minutes;
    const map = `unnest(${s.p(mm.lo)}::timestamptz[], ${s.p(mm.hi)}::timestamptz[], ${s.p(mm.own)}::timestamptz[], ${s.p(mm.noon)}::timestamptz[]) m(lo, hi, own, noon)`;
    for (const w of each(['r.bucket >= m.lo', 'r.bucket < m.hi'])) {
      parts.push(`select v.b, ${[cols.map((c) => `x.${c}`).join(', '), ...fam.measures.map((m) => `v.sign * x.${m} as ${m}`)].filter(Boolean).join(', ')}
                    from ${map}
                    cross join lateral (select ${[dims, ...fam.measures.map((m) => `${sumOf(m)} as ${m}`)].filter(Boolean).join(', ')}
                                          from usage_rollup_minute r where ${w} ${cols.length ? `group by ${dims}` : 'having count(*) > 0'}) x
                    cross join lateral (values (m.own, 1), (m.noon, -1)) v(b, sign)`);
    }
  }
  return `(${parts.join(' union all ')})`;
}

/** Hour starts that count for their own local day instead of their UTC day's noon's. */
interface MovedHours {
  at: Date[];
  own: Date[];
  noon: Date[];
}

/** Stretches of minutes [lo, hi) that count for their own local day instead of their UTC day's noon's. */
interface MovedMinutes {
  lo: Date[];
  hi: Date[];
  own: Date[];
  noon: Date[];
}

interface Moved {
  /** The UTC day (or hour) rows read whole, and the local day (hour) each counts for. */
  rows: Date[];
  rowIs: Date[];
  hours: MovedHours;
  minutes: MovedMinutes;
}

/**
 * For the UTC days from the one holding `from` up to the one holding `to`: each day, the local day
 * holding its noon, and the hours (and, where a local day starts inside an hour, the minutes) of
 * it that belong to another local day. Every hour of every such UTC day is looked at, also past
 * `to`: the day row holds them all, and a closed range's last day row includes the hours after it.
 */
function movedParts(tz: string, from: number, to: number): Moved {
  const first = Math.floor(from / DAY_MS) * DAY_MS;
  const localDay = (t: number) => new Date(midnight(tz, localDate(tz, t)));
  const days: Date[] = [];
  const dayIs: Date[] = [];
  const hours: MovedHours = { at: [], own: [], noon: [] };
  const minutes: MovedMinutes = { lo: [], hi: [], own: [], noon: [] };
  const moveMinutes = (a: number, b: number, own: Date, noon: Date) => {
    if (a >= b) return;
    minutes.lo.push(new Date(a));
    minutes.hi.push(new Date(b));
    minutes.own.push(own);
    minutes.noon.push(noon);
  };
  for (let d = first; d < to; d += DAY_MS) {
    const noonDate = localDate(tz, d + 12 * HOUR_MS);
    const noon = new Date(midnight(tz, noonDate));
    days.push(new Date(d));
    dayIs.push(noon);
    for (let h = d; h < d + DAY_MS; h += HOUR_MS) {
      const startDate = localDate(tz, h);
      const endDate = localDate(tz, h + HOUR_MS - 60_000);
      if (startDate === endDate) {
        if (startDate !== noonDate) {
          hours.at.push(new Date(h));
          hours.own.push(localDay(h));
          hours.noon.push(noon);
        }
        continue;
      }
      // A local midnight inside this hour: its minutes before and after it.
      const cut = Math.min(Math.max(midnight(tz, endDate), h), h + HOUR_MS);
      if (startDate !== noonDate) moveMinutes(h, cut, localDay(h), noon);
      if (endDate !== noonDate) moveMinutes(cut, h + HOUR_MS, new Date(cut), noon);
    }
  }
  return { rows: days, rowIs: dayIs, hours, minutes };
}

/**
 * For the UTC hours from the one holding `from` to the one holding `to`: the local hour holding
 * each one's start, and its minutes from the next local hour's start on (thirty an hour in India,
 * fifteen in Nepal), which count for that next local hour.
 */
function movedMinutesOfHours(tz: string, from: number, to: number): Moved {
  const out: Moved = { rows: [], rowIs: [], hours: { at: [], own: [], noon: [] }, minutes: { lo: [], hi: [], own: [], noon: [] } };
  for (let h = Math.floor(from / HOUR_MS) * HOUR_MS; h < to; h += HOUR_MS) {
    const own = new Date(hourStart(tz, h));
    out.rows.push(new Date(h));
    out.rowIs.push(own);
    const next = own.getTime() + HOUR_MS;
    if (next > h && next < h + HOUR_MS) {
      out.minutes.lo.push(new Date(next));
      out.minutes.hi.push(new Date(h + HOUR_MS));
      out.minutes.own.push(new Date(next));
      out.minutes.noon.push(own);
    }
  }
  return out;
}

/** UTC days from the midnight `firstDay` up to `to` (the day holding `to` included). */
const utcDays = (firstDay: number, to: Date) => Math.floor((to.getTime() - firstDay) / DAY_MS) + 1;

/**
 * CTEs ending in `p` (b, person) (without `pairs`: in `split` and `x`): the local days on which each person of `x`
 * (bucket = UTC day, person, active bits) was active. Per UTC day, `days` of them from `first` (a few
 * dozen): the local midnight it starts in, the next one, and where in the UTC day the next one
 * falls; a row's bits then say which of the two local days it touches (see `touches`): its hours
 * in a whole-hour zone, its quarter hours where a local day starts inside an hour.
 */
function localDaysOfRows(x: string, tz: () => string, first: string, days: number, quarters: boolean, pairs = true): string {
  // An integer series: the planner then knows the split has a row per day (not a thousand) and
  // hashes it rather than the rows joined to it (activity chart 158 → 111 ms, all orgs, New York).
  const series = `(select ${first}::timestamptz + g * interval '1 day' as d from generate_series(0, ${Math.trunc(days) - 1}) g) u`;
  // The bits of the first local day (the rest of the UTC day is the second's).
  const half = `((1::bigint << ${QUARTERS_PER_HALF}) - 1)`;
  const masks = quarters
    ? `, case when k >= ${QUARTERS_PER_HALF} then ${half} else (1::bigint << k) - 1 end as a1,
         case when k <= ${QUARTERS_PER_HALF} then 0::bigint else (1::bigint << (k - ${QUARTERS_PER_HALF})) - 1 end as p1`
    : ', (1 << k) - 1 as m1';
  const split = quarters
    ? `select d, l1, l2, a1, p1, ${half} # a1 as a2, ${half} # p1 as p2 from (select *${masks} from k) k`
    : `select d, l1, l2, m1, ((1 << 24) - 1) # m1 as m2 from (select *${masks} from k) k`;
  return `utc as (select d, date_trunc('day', d at time zone ${tz()}) at time zone ${tz()} as l1,
                         (date_trunc('day', d at time zone ${tz()}) + interval '1 day') at time zone ${tz()} as l2
                    from ${series}),
          k as (select d, l1, l2, least(${quarters ? 96 : 24}, round(extract(epoch from l2 - d) / ${quarters ? 900 : 3600}))::int as k from utc),
          split as (${split}),
          x as (${x})${pairs ? `,
          p as (select distinct v.b, x.person
                  from x join split on split.d = x.bucket
                  cross join lateral (values (split.l1, ${touches(quarters, 1, 'x', 'split')}), (split.l2, ${touches(quarters, 2, 'x', 'split')})) v(b, hit)
                 where v.hit)` : ''}`;
}

/** Whether row `x` of usage_active_day has a request in the first (1) or second (2) local day of its UTC day's `split` row. */
function touches(quarters: boolean, side: 1 | 2, x: string, split: string): string {
  return quarters
    ? `((${x}.active_quarters_am & ${split}.a${side}) <> 0 or (${x}.active_quarters_pm & ${split}.p${side}) <> 0)`
    : `((${x}.active_hours & ${split}.m${side}) <> 0)`;
}

/** The zone's days start on whole hours of UTC over the range (hour bits tell them apart; otherwise quarter hours do). */
function wholeHourDays(f: RollupFilter): boolean {
  return f.source !== 'minute';
}

/**
 * usage_active_day rows of the filter's organizations (all of them: the every-organization rows)
 * with a bucket in [from, to): one row per UTC day and person, as (bucket, person, active_hours,
 * active_quarters_am, active_quarters_pm).
 */
function activeDayRows(f: RollupFilter, s: Sql, from: string, to: string, also?: string): string {
  const range = `r.bucket >= ${from}::timestamptz and r.bucket < ${to}::timestamptz${also ? ` and ${also}` : ''}`;
  if (!f.orgIds || f.orgIds.length === 1) {
    return `select r.bucket, r.person, r.active_hours, r.active_quarters_am, r.active_quarters_pm from usage_active_day r
             where r.org_id = ${s.p(f.orgIds ? f.orgIds[0] : ACTIVE_ALL_ORGS)}::uuid and ${range}`;
  }
  return `select r.bucket, r.person, bit_or(r.active_hours) as active_hours, bit_or(r.active_quarters_am) as active_quarters_am, bit_or(r.active_quarters_pm) as active_quarters_pm
            from usage_active_day r
           where r.org_id = any(${s.p(f.orgIds)}::uuid[]) and r.org_id <> '${ACTIVE_ALL_ORGS}' and ${range} group by 1, 2`;
}

/**
 * Conditions selecting the rows of the given person keys: end-user ids, owners' emails, deleted
 * owners (`user:<id>`) and service accounts (`sa:<id>`). They are disjoint, so `rows` can put each
 * in its own UNION ALL part, where it uses its own index (lower(end_user), owner_user_id, token_id).
 */
function personBranches(s: Sql, keys: string[]): string[] {
  const uuidOf = (prefix: string) => keys.filter((k) => k.startsWith(prefix) && /^[0-9a-f-]{36}$/i.test(k.slice(prefix.length))).map((k) => k.slice(prefix.length));
  const k = s.p(keys);
  const branches = [
    `lower(r.end_user) = any(${s.p(keys.map((x) => x.toLowerCase()))}::text[]) and ${EU('r.end_user')} = any(${k}::text[])`,
    `r.end_user = '' and r.owner_user_id = any(array(select id from app_user where lower(email) = any(${k}::text[])))`,
  ];
  const users = uuidOf('user:');
  if (users.length) branches.push(`r.end_user = '' and r.owner_user_id = any(${s.p(users)}::uuid[])`);
  const sas = uuidOf('sa:');
  if (sas.length) {
    branches.push(`r.end_user = '' and r.owner_user_id = '${NONE_UUID}' and r.token_id = any(array(select id from api_token where service_account_id = any(${s.p(sas)}::uuid[])))`);
  }
  return branches;
}

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}
