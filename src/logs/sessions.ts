import { createHash } from 'node:crypto';
import type { PoolClient } from 'pg';
import { uuidv7 } from '../common/uuid';
import type { UsageRecord } from '../usage/usage-record';

/**
 * Session assignment, inside the usage writer's transaction, before the batch's rows are inserted
 * (so every request_log, tool_call and request_capture row is written with its session id).
 *
 * - A request that carries a session id from its client joins the session with that id for the
 *   same caller in the same org (`external_id`), created on first sight: an upsert, so order and
 *   concurrency do not matter.
 * - Any other request is grouped with the caller's earlier and later requests from the same client
 *   when no more than the inactivity gap lies between them. Each (caller, client) is serialised
 *   across processes by a transaction-scoped advisory lock taken in a fixed order (no deadlocks),
 *   the caller's sessions near the batch's times are read under it, and the batch's requests are
 *   clustered with those sessions as intervals. A request that arrives late and fills the gap
 *   between two sessions merges them (the later one's rows are re-pointed at the earlier one), so
 *   the result is the same whatever order requests reach the database in.
 *
 * The caller is the token plus the end user it speaks for (Open WebUI sends many people through
 * one token); sessions therefore never mix owners, which keeps tenant filtering per request valid
 * per session too.
 */

interface Agg {
  first: number;
  last: number;
  requests: number;
  failures: number;
  input: number;
  output: number;
  cached: number;
  cacheWrite: number;
  reasoning: number;
  cost: number;
  models: Set<string>;
  tools: Set<string>;
  toolCalls: number;
  sample: UsageRecord;
}

interface Existing {
  id: string;
  first: number;
  last: number;
  requests: number;
  failures: number;
  input: number;
  output: number;
  cached: number;
  cacheWrite: number;
  reasoning: number;
  cost: number;
  models: string[];
  tools: string[];
  toolCalls: number;
}

export const callerKey = (r: Pick<UsageRecord, 'tokenId' | 'serviceAccountId' | 'orgId' | 'endUser'>) =>
  `${r.tokenId ?? (r.serviceAccountId ? `sa:${r.serviceAccountId}` : `org:${r.orgId}`)}|${r.endUser ?? ''}`;

const lockKey = (s: string) => createHash('sha1').update(s).digest().readBigInt64BE(0).toString();

function emptyAgg(r: UsageRecord): Agg {
  const t = r.createdAt.getTime();
  return { first: t, last: t, requests: 0, failures: 0, input: 0, output: 0, cached: 0, cacheWrite: 0, reasoning: 0, cost: 0, models: new Set(), tools: new Set(), toolCalls: 0, sample: r };
}

function addRecord(a: Agg, r: UsageRecord): void {
  const t = r.createdAt.getTime();
  if (t < a.first) a.first = t;
  if (t > a.last) a.last = t;
  a.requests++;
  if (r.status >= 400) a.failures++;
  a.input += r.inputTokens;
  a.output += r.outputTokens;
  a.cached += r.cachedInputTokens;
  a.cacheWrite += r.cacheWriteTokens;
  a.reasoning += r.reasoningTokens;
  a.cost += r.costMicros;
  if (r.model) a.models.add(r.model);
  for (const e of r.toolEvents) {
    if (e.event !== 'call') continue;
    a.tools.add(e.name);
    a.toolCalls++;
  }
}

function addExisting(a: Agg, e: Existing): void {
  if (e.first < a.first) a.first = e.first;
  if (e.last > a.last) a.last = e.last;
  a.requests += e.requests;
  a.failures += e.failures;
  a.input += e.input;
  a.output += e.output;
  a.cached += e.cached;
  a.cacheWrite += e.cacheWrite;
  a.reasoning += e.reasoning;
  a.cost += e.cost;
  e.models.forEach((m) => a.models.add(m));
  e.tools.forEach((m) => a.tools.add(m));
  a.toolCalls += e.toolCalls;
}

const UPSERT_COLS: [string, string][] = [
  ['id', 'uuid'], ['org_id', 'uuid'], ['team_id', 'uuid'], ['token_id', 'uuid'], ['owner_user_id', 'uuid'], ['service_account_id', 'uuid'],
  ['end_user', 'text'], ['caller_key', 'text'], ['client', 'text'], ['client_device', 'text'], ['external_id', 'text'],
  ['first_at', 'timestamptz'], ['last_at', 'timestamptz'], ['requests', 'int4'], ['failures', 'int4'],
  ['input_tokens', 'int8'], ['output_tokens', 'int8'], ['cached_input_tokens', 'int8'], ['cache_write_tokens', 'int8'], ['reasoning_tokens', 'int8'], ['cost_micros', 'int8'],
  ['models', 'jsonb'], ['tools', 'jsonb'], ['tool_calls', 'int4'],
];
const ADDED = ['requests', 'failures', 'input_tokens', 'output_tokens', 'cached_input_tokens', 'cache_write_tokens', 'reasoning_tokens', 'cost_micros', 'tool_calls'];

function upsertSql(conflict: string): string {
  const names = UPSERT_COLS.map((c) => c[0]);
  const select = UPSERT_COLS.map(([c, t]) => (t === 'jsonb' ? `array(select jsonb_array_elements_text(u.${c}) order by 1)` : `u.${c}`));
  return `insert into session as s (${names.join(', ')}, updated_at)
select ${select.join(', ')}, now()
  from unnest(${UPSERT_COLS.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ')}) as u(${names.join(', ')})
on conflict ${conflict} do update set
  first_at = least(s.first_at, excluded.first_at),
  last_at = greatest(s.last_at, excluded.last_at),
  ${ADDED.map((c) => `${c} = s.${c} + excluded.${c}`).join(',\n  ')},
  models = array(select distinct x from unnest(s.models || excluded.models) x order by 1),
  tools = array(select distinct x from unnest(s.tools || excluded.tools) x order by 1),
  client_device = coalesce(s.client_device, excluded.client_device),
  updated_at = now()
returning id, caller_key, external_id`;
}

const EXPLICIT_SQL = upsertSql('(org_id, caller_key, external_id) where external_id is not null');
const BY_ID_SQL = upsertSql('(id)');

async function upsert(client: PoolClient, sql: string, rows: { id: string; externalId: string | null; a: Agg }[]) {
  if (!rows.length) return [];
  const cols: unknown[][] = UPSERT_COLS.map(() => []);
  for (const { id, externalId, a } of rows) {
    const r = a.sample;
    const v = [
      id, r.orgId, r.teamId, r.tokenId, r.ownerUserId, r.serviceAccountId, r.endUser, callerKey(r), r.client, r.clientDevice, externalId,
      new Date(a.first), new Date(a.last), a.requests, a.failures, a.input, a.output, a.cached, a.cacheWrite, a.reasoning, a.cost,
      JSON.stringify([...a.models]), JSON.stringify([...a.tools]), a.toolCalls,
    ];
    v.forEach((x, i) => cols[i].push(x));
  }
  const res = await client.query<{ id: string; caller_key: string; external_id: string | null }>(sql, cols);
  return res.rows;
}

export async function assignSessions(client: PoolClient, batch: UsageRecord[], gapMs: number): Promise<void> {
  const explicit = new Map<string, { orgId: string; caller: string; externalId: string; a: Agg; recs: UsageRecord[] }>();
  const gap = new Map<string, { caller: string; client: string; recs: UsageRecord[] }>();
  for (const r of batch) {
    const caller = callerKey(r);
    if (r.sessionId) {
      const k = `${r.orgId}\u0000${caller}\u0000${r.sessionId}`;
      let g = explicit.get(k);
      if (!g) explicit.set(k, (g = { orgId: r.orgId, caller, externalId: r.sessionId, a: emptyAgg(r), recs: [] }));
      addRecord(g.a, r);
      g.recs.push(r);
    } else {
      const cl = r.client ?? '';
      const k = `${caller}\u0000${cl}`;
      let g = gap.get(k);
      if (!g) gap.set(k, (g = { caller, client: cl, recs: [] }));
      g.recs.push(r);
    }
  }

  // Explicit sessions: sorted so concurrent writers lock rows in the same order.
  if (explicit.size) {
    const groups = [...explicit.values()].sort((x, y) => (x.orgId + x.caller + x.externalId < y.orgId + y.caller + y.externalId ? -1 : 1));
    const rows = await upsert(client, EXPLICIT_SQL, groups.map((g) => ({ id: uuidv7(g.a.first), externalId: g.externalId, a: g.a })));
    const ids = new Map(rows.map((x) => [`${x.caller_key}\u0000${x.external_id}`, x.id]));
    for (const g of groups) {
      const id = ids.get(`${g.caller}\u0000${g.externalId}`);
      for (const r of g.recs) r.sluiceSessionId = id ?? null;
    }
  }
  if (!gap.size) return;

  const groups = [...gap.values()];
  const locks = [...new Set(groups.map((g) => lockKey(`session|${g.caller}|${g.client}`)))].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  await client.query('select pg_advisory_xact_lock(k) from unnest($1::int8[]) with ordinality as u(k, i) order by i', [locks]);

  const los: Date[] = [];
  const his: Date[] = [];
  for (const g of groups) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const r of g.recs) {
      const t = r.createdAt.getTime();
      if (t < lo) lo = t;
      if (t > hi) hi = t;
    }
    los.push(new Date(lo - gapMs));
    his.push(new Date(hi + gapMs));
  }
  const found = await client.query(
    `select s.id, s.caller_key, coalesce(s.client, '') as client_key, s.first_at, s.last_at, s.requests, s.failures, s.input_tokens, s.output_tokens,
            s.cached_input_tokens, s.cache_write_tokens, s.reasoning_tokens, s.cost_micros, s.models, s.tools, s.tool_calls
       from unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) as g(ck, cl, lo, hi)
       join session s on s.caller_key = g.ck and coalesce(s.client, '') = g.cl and s.external_id is null and s.last_at >= g.lo and s.first_at <= g.hi`,
    [groups.map((g) => g.caller), groups.map((g) => g.client), los, his],
  );
  const existingBy = new Map<string, Existing[]>();
  for (const x of found.rows) {
    const k = `${x.caller_key}\u0000${x.client_key}`;
    const list = existingBy.get(k) ?? [];
    if (!list.some((e) => e.id === x.id)) {
      list.push({
        id: x.id, first: new Date(x.first_at).getTime(), last: new Date(x.last_at).getTime(), requests: x.requests, failures: x.failures,
        input: Number(x.input_tokens), output: Number(x.output_tokens), cached: Number(x.cached_input_tokens), cacheWrite: Number(x.cache_write_tokens),
        reasoning: Number(x.reasoning_tokens), cost: Number(x.cost_micros), models: x.models ?? [], tools: x.tools ?? [], toolCalls: x.tool_calls,
      });
    }
    existingBy.set(k, list);
  }

  const upserts: { id: string; externalId: null; a: Agg }[] = [];
  const merges: { victim: string; survivor: string; lo: Date; hi: Date }[] = [];
  for (const g of groups) {
    type Item = { start: number; end: number; rec?: UsageRecord; ex?: Existing };
    const items: Item[] = [
      ...g.recs.map((rec): Item => ({ start: rec.createdAt.getTime(), end: rec.createdAt.getTime(), rec })),
      ...(existingBy.get(`${g.caller}\u0000${g.client}`) ?? []).map((ex): Item => ({ start: ex.first, end: ex.last, ex })),
    ].sort((a, b) => a.start - b.start || (a.ex ? -1 : 1));
    let cluster: Item[] = [];
    let end = -Infinity;
    const close = () => {
      if (!cluster.length) return;
      const recs = cluster.filter((i) => i.rec).map((i) => i.rec!);
      if (!recs.length) return; // only sessions already stored, untouched by this batch
      const ex = cluster.filter((i) => i.ex).map((i) => i.ex!).sort((a, b) => a.first - b.first || (a.id < b.id ? -1 : 1));
      const a = emptyAgg(recs[0]);
      for (const r of recs) addRecord(a, r);
      const survivor = ex[0]?.id ?? uuidv7(a.first);
      for (const v of ex.slice(1)) {
        addExisting(a, v);
        merges.push({ victim: v.id, survivor, lo: new Date(v.first), hi: new Date(v.last) });
      }
      for (const r of recs) r.sluiceSessionId = survivor;
      upserts.push({ id: survivor, externalId: null, a });
    };
    for (const it of items) {
      if (cluster.length && it.start - end > gapMs) {
        close();
        cluster = [];
        end = -Infinity;
      }
      cluster.push(it);
      if (it.end > end) end = it.end;
    }
    close();
  }
  upserts.sort((x, y) => (x.id < y.id ? -1 : 1));
  await upsert(client, BY_ID_SQL, upserts);
  if (merges.length) {
    const args = [merges.map((m) => m.victim), merges.map((m) => m.survivor), merges.map((m) => m.lo), merges.map((m) => m.hi)];
    const from = `from unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[]) as m(victim, survivor, lo, hi)`;
    await client.query(`update request_log r set sluice_session_id = m.survivor ${from} where r.sluice_session_id = m.victim and r.created_at between m.lo and m.hi`, args);
    await client.query(`update tool_call t set sluice_session_id = m.survivor ${from} where t.sluice_session_id = m.victim`, args);
    await client.query(`update request_capture c set sluice_session_id = m.survivor ${from} where c.sluice_session_id = m.victim`, args);
    await client.query('delete from session where id = any($1::uuid[])', [merges.map((m) => m.victim)]);
  }
}
