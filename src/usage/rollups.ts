import type { PoolClient } from 'pg';
import type { UsageRecord } from './usage-record';

export const GRANULARITIES = ['minute', 'hour', 'day'] as const;
export type Granularity = (typeof GRANULARITIES)[number];
/** Narrow rollups may also keep calendar months (UTC). */
export type Grain = Granularity | 'month';

export const NONE_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * A request's tags as the rollups key them: deduplicated and sorted by UTF-8 bytes, which is the
 * order of PostgreSQL's "C" collation used by the rebuild, so both paths produce the same key.
 */
export function canonicalTags(tags: string[] | null | undefined): string[] {
  if (!tags?.length) return [];
  return [...new Set(tags)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}
const TAGS_SQL = `coalesce(array(select distinct t collate "C" from unnest(tags) t order by 1), '{}')`;

export const endpointClass = (endpoint: string) =>
  endpoint === 'embeddings' ? 'embedding' : endpoint === 'count_tokens' ? 'other' : 'completion';

export const statusClass = (status: number, cancelled: boolean) =>
  cancelled ? 'cancelled' : status >= 500 ? '5xx' : status >= 400 ? '4xx' : '2xx';

function truncate(d: Date, g: Grain): Date {
  return new Date(bucketMs(d.getTime(), g));
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

const floorTo = (ms: number, unit: number) => ms - (((ms % unit) + unit) % unit);

/** The start of a time's bucket in epoch milliseconds (UTC; days are whole multiples of a day). */
function bucketMs(ms: number, g: Grain): number {
  switch (g) {
    case 'minute':
      return floorTo(ms, 60_000);
    case 'hour':
      return floorTo(ms, HOUR_MS);
    case 'day':
      return floorTo(ms, DAY_MS);
    default: {
      const d = new Date(ms);
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    }
  }
}

/** End-user ids that look like emails compare case-insensitively (they name people); others as sent. */
export const EU = (col: string) => `case when ${col} like '%@%' then lower(${col}) else ${col} end`;

/**
 * The person a request counts for: its end-user id when there is one (Open WebUI and other
 * services send it for each of their users), else the token owner's email, else the service
 * account. `x` has owner_user_id, service_account_id and eu; `o` is the owner's app_user row.
 */
export const PERSON = `case when x.eu <> '' then x.eu
  when x.owner_user_id <> '${NONE_UUID}' then coalesce(lower(o.email), 'user:' || x.owner_user_id::text)
  when x.service_account_id <> '${NONE_UUID}' then 'sa:' || x.service_account_id::text
  else 'unknown' end`;

/** PERSON computed straight off a row aliased `a` with the raw person columns (owner joined as `o`). */
export const personOf = (a: string) => PERSON.replace(/\bx\.eu\b/g, EU(`${a}.end_user`)).replace(/\bx\./g, `${a}.`);

// Dimensions and measures: how the writer reads them from a record and the rebuild from request_log.

export type Dim = 'org_id' | 'team_id' | 'token_id' | 'owner_user_id' | 'service_account_id' | 'end_user' | 'provider' | 'model' | 'endpoint_class' | 'status_class' | 'tags';
export type Measure =
  | 'requests' | 'failures' | 'input_tokens' | 'output_tokens' | 'cached_input_tokens' | 'cache_write_tokens' | 'reasoning_tokens'
  | 'cost_micros' | 'latency_ms_sum' | 'ttft_ms_sum' | 'ttft_count' | 'active_hours';

const DIM: Record<Dim, { type: string; of: (r: UsageRecord) => string; raw: string }> = {
  org_id: { type: 'uuid', of: (r) => r.orgId, raw: 'org_id' },
  team_id: { type: 'uuid', of: (r) => r.teamId ?? NONE_UUID, raw: `coalesce(team_id, '${NONE_UUID}')` },
  token_id: { type: 'uuid', of: (r) => r.tokenId ?? NONE_UUID, raw: `coalesce(token_id, '${NONE_UUID}')` },
  owner_user_id: { type: 'uuid', of: (r) => r.ownerUserId ?? NONE_UUID, raw: `coalesce(owner_user_id, '${NONE_UUID}')` },
  service_account_id: { type: 'uuid', of: (r) => r.serviceAccountId ?? NONE_UUID, raw: `coalesce(service_account_id, '${NONE_UUID}')` },
  end_user: { type: 'text', of: (r) => r.endUser ?? '', raw: `coalesce(end_user, '')` },
  provider: { type: 'text', of: (r) => r.provider ?? '', raw: `coalesce(provider, '')` },
  model: { type: 'text', of: (r) => r.model ?? '', raw: `coalesce(model, '')` },
  endpoint_class: { type: 'text', of: (r) => endpointClass(r.endpoint), raw: `case endpoint when 'embeddings' then 'embedding' when 'count_tokens' then 'other' else 'completion' end` },
  status_class: { type: 'text', of: (r) => statusClass(r.status, r.cancelled), raw: `case when cancelled then 'cancelled' when status >= 500 then '5xx' when status >= 400 then '4xx' else '2xx' end` },
  // Tag sets travel to the upsert as JSON text: unnest() would flatten a two-dimensional array.
  tags: { type: 'text', of: (r) => JSON.stringify(canonicalTags(r.tags)), raw: TAGS_SQL },
};

const MEASURE: Record<Measure, { type: 'int4' | 'int8' | 'float8'; of: (r: UsageRecord) => number; raw: string; or?: true }> = {
  requests: { type: 'int8', of: () => 1, raw: 'count(*)' },
  failures: { type: 'int8', of: (r) => (r.status >= 400 ? 1 : 0), raw: 'count(*) filter (where status >= 400)' },
  input_tokens: { type: 'int8', of: (r) => r.inputTokens, raw: 'sum(input_tokens)' },
  output_tokens: { type: 'int8', of: (r) => r.outputTokens, raw: 'sum(output_tokens)' },
  cached_input_tokens: { type: 'int8', of: (r) => r.cachedInputTokens, raw: 'sum(cached_input_tokens)' },
  cache_write_tokens: { type: 'int8', of: (r) => r.cacheWriteTokens, raw: 'sum(cache_write_tokens)' },
  reasoning_tokens: { type: 'int8', of: (r) => r.reasoningTokens, raw: 'sum(reasoning_tokens)' },
  cost_micros: { type: 'int8', of: (r) => r.costMicros, raw: 'sum(cost_micros)' },
  latency_ms_sum: { type: 'float8', of: (r) => r.latencyMs, raw: 'sum(latency_ms)' },
  ttft_ms_sum: { type: 'float8', of: (r) => r.ttftMs ?? 0, raw: 'coalesce(sum(ttft_ms), 0)' },
  ttft_count: { type: 'int8', of: (r) => (r.ttftMs === null ? 0 : 1), raw: 'count(ttft_ms)' },
  // The UTC hours of the day with a request, one bit each: who was active on a viewer's local day
  // (whole-hour offset) is read from day rows instead of 24 times as many hour rows.
  active_hours: { type: 'int4', of: (r) => 1 << r.createdAt.getUTCHours(), raw: `bit_or(1 << extract(hour from created_at at time zone 'UTC')::int)`, or: true },
};

/** A measure summed over rows `a` for a page: counters with `isum` (stays a bigint; migration analytics_isum), latency sums (double precision) with `sum`. */
export const sumOf = (m: Measure, a = 'r') => `${MEASURE[m].type === 'float8' ? 'sum' : 'isum'}(${a}.${m})`;

export interface RollupTable {
  /** Tables are `<name>_<granularity>`. */
  name: string;
  grains: readonly Grain[];
  dims: readonly Dim[];
  measures: readonly Measure[];
  /** Measures only the day table has. */
  dayMeasures?: readonly Measure[];
}

export const measuresOf = (t: RollupTable, g: Grain): readonly Measure[] => (g === 'day' && t.dayMeasures ? [...t.measures, ...t.dayMeasures] : t.measures);

const BASIC: readonly Measure[] = ['requests', 'failures', 'input_tokens', 'output_tokens', 'cost_micros'];

/**
 * The full rollup has every dimension (exact answers for any filter, per person, per token); the
 * narrow ones answer the common page queries over whole organizations without reading one row
 * per person, token, tag set and model for every bucket: `usage_summary` (per model, endpoint
 * and status class), `usage_token` (per team and token) and `usage_person` (per team, token,
 * owner, service account and end-user id) and `usage_person_model` (that and the model, per day
 * and month), `usage_team` (per team) and `usage_team_model` (per team and model, day and month).
 * All are written in the writer's transaction.
 */
export const ROLLUP_TABLES: readonly RollupTable[] = [
  {
    name: 'usage_rollup',
    grains: GRANULARITIES,
    dims: ['org_id', 'team_id', 'token_id', 'owner_user_id', 'service_account_id', 'end_user', 'provider', 'model', 'endpoint_class', 'status_class', 'tags'],
    measures: ['requests', 'failures', 'input_tokens', 'output_tokens', 'cached_input_tokens', 'cache_write_tokens', 'reasoning_tokens', 'cost_micros', 'latency_ms_sum', 'ttft_ms_sum', 'ttft_count'],
  },
  { name: 'usage_summary', grains: ['hour', 'day'], dims: ['org_id', 'provider', 'model', 'endpoint_class', 'status_class'], measures: [...BASIC, 'cached_input_tokens', 'latency_ms_sum'] },
  { name: 'usage_token', grains: ['hour', 'day'], dims: ['org_id', 'team_id', 'token_id'], measures: BASIC },
  // Months too: a 30-day range of an organization's people is then mostly one month row per person.
  { name: 'usage_person', grains: ['hour', 'day', 'month'], dims: ['org_id', 'team_id', 'token_id', 'owner_user_id', 'service_account_id', 'end_user'], measures: BASIC, dayMeasures: ['active_hours'] },
  // The models each person used per day and month (the people table's Models column), a tenth of the full rollup's rows for them.
  { name: 'usage_person_model', grains: ['day', 'month'], dims: ['org_id', 'team_id', 'token_id', 'owner_user_id', 'service_account_id', 'end_user', 'provider', 'model'], measures: ['requests'] },
  // Per team: the by-team chart, sparklines and a team filter's sums from a team's rows (about 50
  // an hour here) instead of its tokens' (about 1,800).
  { name: 'usage_team', grains: ['hour', 'day', 'month'], dims: ['org_id', 'team_id'], measures: BASIC },
  // The models each team used per day and month (the by-team table's Models column).
  { name: 'usage_team_model', grains: ['day', 'month'], dims: ['org_id', 'team_id', 'provider', 'model'], measures: ['requests'] },
];

const FULL = ROLLUP_TABLES[0];
const monthAfter = (d: Date) => new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
const tableNames = () => ROLLUP_TABLES.flatMap((t) => t.grains.map((g) => `${t.name}_${g}`));

/** One upsert of a batch's rollups: SQL with $1… placeholders and its parameters. */
interface Statement {
  sql: string;
  params: unknown[];
}

/**
 * Adds a batch of usage records to every rollup: aggregated in memory first, then one upsert per
 * table, inside the writer's transaction. Rows go in key order so concurrent writers (several
 * Sluice processes) lock shared rows in the same order and cannot deadlock on them. (Sending all
 * upserts as one statement of data-modifying CTEs was tried: no faster in the gateway bench.)
 */
export async function upsertRollups(client: PoolClient, batch: UsageRecord[]): Promise<void> {
  const parts: Statement[] = [];
  const groups = groupBatch(batch);
  for (const t of ROLLUP_TABLES) for (const g of t.grains) parts.push(upsertOne(t, g, groups));
  for (const st of [upsertTags(groups), upsertActive(groups), ...PEOPLE_GRAINS.map((g) => upsertPeople(groups, g))]) if (st) parts.push(st);
  for (const st of parts) await client.query(st.sql, st.params);
}

const DIMS = Object.keys(DIM) as Dim[];
const MEASURES = Object.keys(MEASURE) as Measure[];
const MEASURE_OR = MEASURES.map((m) => !!MEASURE[m].or);
const dimIx = (d: Dim) => DIMS.indexOf(d);
const measureIx = (m: Measure) => MEASURES.indexOf(m);

/**
 * A batch's records summed per minute and every dimension: the finest key any rollup has, so each
 * table sums these few groups instead of every record (a batch is mostly the same few callers).
 */
interface Group {
  /** The minute's start, epoch milliseconds. */
  ms: number;
  dims: string[];
  m: number[];
  tags: string[];
}
function groupBatch(batch: UsageRecord[]): Group[] {
  const groups = new Map<string, Group>();
  for (const r of batch) {
    const t = r.createdAt.getTime();
    const ms = bucketMs(t, 'minute');
    const tags = canonicalTags(r.tags);
    const dims = DIMS.map((d) => (d === 'tags' ? JSON.stringify(tags) : DIM[d].of(r)));
    const key = ms + '\u0000' + dims.join('\u0000');
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { ms, dims, m: MEASURES.map(() => 0), tags }));
    for (let i = 0; i < MEASURES.length; i++) {
      const v = MEASURE[MEASURES[i]].of(r);
      g.m[i] = MEASURE_OR[i] ? g.m[i] | v : g.m[i] + v;
    }
  }
  return [...groups.values()];
}

/**
 * `usage_active_day`: one row per UTC day, organization and person (the key the pages count
 * people by, see PERSON; the owner's email as it is when the row is written) with the UTC hours
 * they were active in, and the same per day for every organization together (org_id all zeros).
 * Active people per day are then a count of rows, and per local day of a whole-hour zone a look
 * at two days' hour bits, without mapping rollup rows to people on every page view. The quarter
 * hours they were active in (`active_quarters_am`: quarters 0-47 of the UTC day, `_pm`: 48-95)
 * do the same for zones whose days start inside an hour (India at :30, Nepal at :45).
 */
export const ACTIVE_ALL_ORGS = NONE_UUID;
const ACTIVE_SELECT = (src: string, where = 'true') => `select o2.org_id, u.bucket, (${personOf('u')}) collate "C" as person, bit_or(u.active_hours) as active_hours,
       bit_or(u.active_quarters_am) as active_quarters_am, bit_or(u.active_quarters_pm) as active_quarters_pm
  from ${src} left join app_user o on o.id = u.owner_user_id
  cross join lateral (values (u.org_id), ('${ACTIVE_ALL_ORGS}'::uuid)) o2(org_id)
 where ${where}
 group by 1, 2, 3`;

/** Quarter hours in each of a UTC day's two quarter bit sets. */
export const QUARTERS_PER_HALF = 48;
export const QUARTER_MS = 900_000;

/**
 * Minute rollup rows of [$1, $2) per UTC day and sender, with their hour and quarter-hour bits:
 * the source ACTIVE_SELECT reads when usage_active_day is rebuilt.
 */
const ACTIVE_FROM_MINUTES = `(select date_trunc('day', m.bucket at time zone 'UTC') at time zone 'UTC' as bucket, m.org_id, m.owner_user_id, m.service_account_id, m.end_user,
         bit_or(1 << extract(hour from m.bucket at time zone 'UTC')::int) as active_hours,
         bit_or(case when q.i < ${QUARTERS_PER_HALF} then 1::bigint << q.i else 0 end) as active_quarters_am,
         bit_or(case when q.i >= ${QUARTERS_PER_HALF} then 1::bigint << (q.i - ${QUARTERS_PER_HALF}) else 0 end) as active_quarters_pm
    from usage_rollup_minute m
   cross join lateral (select (extract(hour from m.bucket at time zone 'UTC')::int * 4 + extract(minute from m.bucket at time zone 'UTC')::int / 15) as i) q
   where m.bucket >= $1 and m.bucket < $2
   group by 1, 2, 3, 4, 5) u`;

/**
 * `usage_people_{day,month}`: the person rollup's sums keyed by the person itself (see PERSON;
 * the owner's email as it is when the row is written), per organization and team. Whole
 * organizations' people tables group these rows without mapping each rollup row to a person.
 */
export const PEOPLE_GRAINS = ['day', 'month'] as const;
const PEOPLE_SUMS = ['requests', 'failures', 'input_tokens', 'output_tokens', 'cost_micros'] as const;
const PEOPLE_SELECT = (src: string, bucket: string, where = 'true') => `select ${bucket} as bucket, u.org_id, u.team_id, (${personOf('u')}) collate "C" as person,
       ${PEOPLE_SUMS.map((m) => `sum(u.${m})::bigint as ${m}`).join(', ')}
  from ${src} left join app_user o on o.id = u.owner_user_id
 where ${where}
 group by 1, 2, 3, 4`;

function upsertPeople(batch: Group[], g: (typeof PEOPLE_GRAINS)[number]): Statement | null {
  if (!batch.length) return null;
  const di = (['org_id', 'team_id', 'owner_user_id', 'service_account_id', 'end_user'] as const).map(dimIx);
  const mi = PEOPLE_SUMS.map(measureIx);
  const groups = new Map<string, { k: (string | number)[]; m: number[] }>();
  for (const r of batch) {
    const k = [bucketMs(r.ms, g), ...di.map((i) => r.dims[i])];
    const id = k.join('\u0000');
    let grp = groups.get(id);
    if (!grp) groups.set(id, (grp = { k, m: PEOPLE_SUMS.map(() => 0) }));
    for (let i = 0; i < mi.length; i++) grp.m[i] += r.m[mi[i]];
  }
  const rows = [...groups.values()];
  const col = (i: number) => rows.map((x) => x.k[i]);
  return {
    sql: `insert into usage_people_${g} as t (bucket, org_id, team_id, person, ${PEOPLE_SUMS.join(', ')})
     ${PEOPLE_SELECT(
       `unnest($1::timestamptz[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::int8[], $8::int8[], $9::int8[], $10::int8[], $11::int8[])
          as u(bucket, org_id, team_id, owner_user_id, service_account_id, end_user, ${PEOPLE_SUMS.join(', ')})`,
       'u.bucket',
     )}
      order by 1, 2, 3, 4
     on conflict (bucket, org_id, team_id, person) do update set ${PEOPLE_SUMS.map((m) => `${m} = t.${m} + excluded.${m}`).join(', ')}`,
    params: [col(0).map((t) => new Date(t as number)), col(1), col(2), col(3), col(4), col(5), ...PEOPLE_SUMS.map((_, i) => rows.map((x) => x.m[i]))],
  };
}

function upsertActive(batch: Group[]): Statement | null {
  const [org, owner, sa, eu] = (['org_id', 'owner_user_id', 'service_account_id', 'end_user'] as const).map(dimIx);
  const hours = measureIx('active_hours');
  const seen = new Map<string, { bucket: Date; org: string; owner: string; sa: string; eu: string; hours: number; am: bigint; pm: bigint }>();
  for (const r of batch) {
    const day = bucketMs(r.ms, 'day');
    const key = `${day}\u0000${r.dims[org]}\u0000${r.dims[owner]}\u0000${r.dims[sa]}\u0000${r.dims[eu]}`;
    const quarter = Math.floor((r.ms - day) / QUARTER_MS);
    const am = quarter < QUARTERS_PER_HALF ? 1n << BigInt(quarter) : 0n;
    const pm = quarter < QUARTERS_PER_HALF ? 0n : 1n << BigInt(quarter - QUARTERS_PER_HALF);
    const cur = seen.get(key);
    if (cur) {
      cur.hours |= r.m[hours];
      cur.am |= am;
      cur.pm |= pm;
    } else seen.set(key, { bucket: new Date(day), org: r.dims[org], owner: r.dims[owner], sa: r.dims[sa], eu: r.dims[eu], hours: r.m[hours], am, pm });
  }
  if (!seen.size) return null;
  const rows = [...seen.values()];
  // Rows go in key order (deadlock-free across writers); an update that adds no quarter hour is skipped.
  return {
    sql: `insert into usage_active_day as t (org_id, bucket, person, active_hours, active_quarters_am, active_quarters_pm)
     ${ACTIVE_SELECT('unnest($1::timestamptz[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::int4[], $7::int8[], $8::int8[]) as u(bucket, org_id, owner_user_id, service_account_id, end_user, active_hours, active_quarters_am, active_quarters_pm)')}
      order by 1, 2, 3
     on conflict (org_id, bucket, person) do update set active_hours = t.active_hours | excluded.active_hours,
       active_quarters_am = t.active_quarters_am | excluded.active_quarters_am, active_quarters_pm = t.active_quarters_pm | excluded.active_quarters_pm
      where t.active_quarters_am | excluded.active_quarters_am <> t.active_quarters_am or t.active_quarters_pm | excluded.active_quarters_pm <> t.active_quarters_pm`,
    params: [
      rows.map((x) => x.bucket), rows.map((x) => x.org), rows.map((x) => x.owner), rows.map((x) => x.sa), rows.map((x) => x.eu), rows.map((x) => x.hours),
      rows.map((x) => String(x.am)), rows.map((x) => String(x.pm)),
    ],
  };
}

function upsertOne(t: RollupTable, g: Grain, batch: Group[]): Statement {
  const measures = measuresOf(t, g);
  const di = t.dims.map(dimIx);
  const mi = measures.map(measureIx);
  const ors = measures.map((m) => !!MEASURE[m].or);
  const groups = new Map<string, { bucket: number; dims: string[]; m: number[] }>();
  for (const r of batch) {
    const bucket = bucketMs(r.ms, g);
    const dims = di.map((i) => r.dims[i]);
    // Fixed-width time first: keys sort by bucket, then dimensions (the lock order of every writer).
    const key = String(bucket).padStart(15, '0') + '\u0000' + dims.join('\u0000');
    let grp = groups.get(key);
    if (!grp) {
      grp = { bucket, dims, m: measures.map(() => 0) };
      groups.set(key, grp);
    }
    for (let i = 0; i < mi.length; i++) grp.m[i] = ors[i] ? grp.m[i] | r.m[mi[i]] : grp.m[i] + r.m[mi[i]];
  }
  const rows = [...groups.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
  const cols = ['bucket', ...t.dims, ...measures];
  const types = ['timestamptz', ...t.dims.map((d) => DIM[d].type), ...measures.map((m) => MEASURE[m].type)];
  const params: unknown[][] = [rows.map((x) => new Date(x.bucket)), ...t.dims.map((_, i) => rows.map((x) => x.dims[i])), ...measures.map((_, i) => rows.map((x) => x.m[i]))];
  return {
    sql: `insert into ${t.name}_${g} as r (${cols.join(', ')})
     select ${cols.map((c) => (c === 'tags' ? 'array(select jsonb_array_elements_text(u.tags::jsonb))' : `u.${c}`)).join(', ')}
       from unnest(${types.map((ty, i) => `$${i + 1}::${ty}[]`).join(', ')}) with ordinality as u(${cols.join(', ')}, n)
      order by u.n
     on conflict (bucket, ${t.dims.join(', ')}) do update set ${measures.map((m) => `${m} = r.${m} ${MEASURE[m].or ? '|' : '+'} excluded.${m}`).join(', ')}`,
    params,
  };
}

/** Tags seen per organization and the last day they were seen: the tag filter's choices. */
function upsertTags(batch: Group[]): Statement | null {
  const org = dimIx('org_id');
  const seen = new Map<string, { org: string; tag: string; day: Date }>();
  for (const r of batch) {
    for (const tag of r.tags) {
      const key = `${r.dims[org]}\u0000${tag}`;
      const day = new Date(bucketMs(r.ms, 'day'));
      const cur = seen.get(key);
      if (!cur || cur.day < day) seen.set(key, { org: r.dims[org], tag, day });
    }
  }
  if (!seen.size) return null;
  const rows = [...seen.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map((e) => e[1]);
  return {
    sql: `insert into usage_tag as t (org_id, tag, last_day)
     select * from unnest($1::uuid[], $2::text[], $3::timestamptz[])
     on conflict (org_id, tag) do update set last_day = greatest(t.last_day, excluded.last_day)`,
    params: [rows.map((x) => x.org), rows.map((x) => x.tag), rows.map((x) => x.day)],
  };
}

/**
 * Recomputes rollups for [from, to) from raw rows: the full rollup from request_log, the narrow
 * ones from the freshly rebuilt full rollup (the same sums, far fewer rows to read). The rollup
 * tables are locked for the duration, so writers that commit meanwhile wait and then add their
 * rows on top: nothing is counted twice or missed. Rows go in in time order, as the writer lays
 * them down: a range's rows then share pages (in hash order six days of people rows were spread
 * over four fifths of the table, and a page read every eighth row).
 */
export async function rebuildRollups(client: PoolClient, from: Date, to: Date): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  await client.query('begin');
  try {
    await client.query(`lock table ${tableNames().join(', ')}, usage_tag, usage_active_day, ${PEOPLE_GRAINS.map((g) => `usage_people_${g}`).join(', ')} in exclusive mode`);
    for (const g of GRANULARITIES) {
      await client.query(`delete from ${FULL.name}_${g} where bucket >= $1 and bucket < $2`, [from, to]);
      const r = await client.query(
        `insert into ${FULL.name}_${g} (bucket, ${FULL.dims.join(', ')}, ${FULL.measures.join(', ')})
         select date_trunc('${g}', created_at at time zone 'UTC') at time zone 'UTC', ${FULL.dims.map((d) => DIM[d].raw).join(', ')},
                ${FULL.measures.map((m) => MEASURE[m].raw).join(', ')}
           from request_log
          where created_at >= $1 and created_at < $2
          group by 1, ${FULL.dims.map((_, i) => i + 2).join(', ')}
          order by 1`,
        [from, to],
      );
      out[g] = r.rowCount ?? 0;
    }
    for (const t of ROLLUP_TABLES.slice(1)) {
      for (const g of t.grains) {
        const ms = measuresOf(t, g);
        // Hour bits of a day come from the hour rollup (the day rollup has no hours), the sums with
        // them; months from the day rollup, whole months (the days outside the range are current).
        const hourly = g === 'day' && ms.some((m) => MEASURE[m].or);
        const src = g === 'month' ? 'day' : hourly ? 'hour' : g;
        const bucket = g === 'month' || hourly ? `date_trunc('${g}', bucket at time zone 'UTC') at time zone 'UTC'` : 'bucket';
        const agg = (m: Measure) => (MEASURE[m].or ? `bit_or(1 << extract(hour from bucket at time zone 'UTC')::int)` : `sum(${m})`);
        const span = g === 'month' ? [truncate(from, 'month'), monthAfter(new Date(to.getTime() - 1))] : [from, to];
        await client.query(`delete from ${t.name}_${g} where bucket >= $1 and bucket < $2`, span);
        const r = await client.query(
          `insert into ${t.name}_${g} (bucket, ${t.dims.join(', ')}, ${ms.join(', ')})
           select ${bucket}, ${t.dims.join(', ')}, ${ms.map(agg).join(', ')}
             from ${FULL.name}_${src} where bucket >= $1 and bucket < $2
            group by 1, ${t.dims.join(', ')}
            order by 1`,
          span,
        );
        out[`${t.name.replace(/^usage_/, '')} ${g}`] = r.rowCount ?? 0;
      }
    }
    // Rebuilds span whole UTC days (the CLI rounds them), as the day rollups need.
    const days = [from, to];
    await client.query('delete from usage_active_day where bucket >= $1 and bucket < $2', days);
    const active = await client.query(
      `insert into usage_active_day (org_id, bucket, person, active_hours, active_quarters_am, active_quarters_pm)
       ${ACTIVE_SELECT(ACTIVE_FROM_MINUTES)}
       order by 2`,
      days,
    );
    out['active day'] = active.rowCount ?? 0;
    for (const g of PEOPLE_GRAINS) {
      const span = g === 'month' ? [truncate(from, 'month'), monthAfter(new Date(to.getTime() - 1))] : [from, to];
      await client.query(`delete from usage_people_${g} where bucket >= $1 and bucket < $2`, span);
      const r = await client.query(
        `insert into usage_people_${g} (bucket, org_id, team_id, person, ${PEOPLE_SUMS.join(', ')})
         ${PEOPLE_SELECT(`usage_person_${g} u`, 'u.bucket', 'u.bucket >= $1 and u.bucket < $2')}
         order by 1`,
        span,
      );
      out[`people ${g}`] = r.rowCount ?? 0;
    }
    await client.query(
      `insert into usage_tag as t (org_id, tag, last_day)
       select org_id, tag, max(bucket) from usage_rollup_day, unnest(tags) tag where bucket >= $1 and bucket < $2 group by 1, 2
       on conflict (org_id, tag) do update set last_day = greatest(t.last_day, excluded.last_day)`,
      [from, to],
    );
    await client.query('commit');
    return out;
  } catch (e) {
    await client.query('rollback').catch(() => undefined);
    throw e;
  }
}
