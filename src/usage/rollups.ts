import type { PoolClient } from 'pg';
import type { UsageRecord } from './usage-record';

export const GRANULARITIES = ['minute', 'hour', 'day'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

export const NONE_UUID = '00000000-0000-0000-0000-000000000000';

const DIMS = ['org_id', 'team_id', 'token_id', 'owner_user_id', 'service_account_id', 'end_user', 'provider', 'model', 'endpoint_class', 'status_class'] as const;
const MEASURES = ['requests', 'failures', 'input_tokens', 'output_tokens', 'cached_input_tokens', 'cache_write_tokens', 'reasoning_tokens', 'cost_micros', 'latency_ms_sum', 'ttft_ms_sum', 'ttft_count'] as const;
const DIM_TYPES: Record<(typeof DIMS)[number], string> = {
  org_id: 'uuid', team_id: 'uuid', token_id: 'uuid', owner_user_id: 'uuid', service_account_id: 'uuid',
  end_user: 'text', provider: 'text', model: 'text', endpoint_class: 'text', status_class: 'text',
};
const KEY = ['bucket', ...DIMS, 'tags'].join(', ');

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

function truncate(d: Date, g: Granularity): Date {
  const t = new Date(d.getTime());
  t.setUTCSeconds(0, 0);
  if (g !== 'minute') t.setUTCMinutes(0);
  if (g === 'day') t.setUTCHours(0);
  return t;
}

/**
 * Adds a batch of usage records to the minute, hour and day rollups: aggregated in memory first,
 * then one upsert per granularity, inside the writer's transaction.
 */
export async function upsertRollups(client: PoolClient, batch: UsageRecord[]): Promise<void> {
  for (const g of GRANULARITIES) {
    const groups = new Map<string, { bucket: Date; dims: (string)[]; tags: string; m: number[] }>();
    for (const r of batch) {
      const bucket = truncate(r.createdAt, g);
      const dims = [
        r.orgId, r.teamId ?? NONE_UUID, r.tokenId ?? NONE_UUID, r.ownerUserId ?? NONE_UUID, r.serviceAccountId ?? NONE_UUID,
        r.endUser ?? '', r.provider ?? '', r.model ?? '', endpointClass(r.endpoint), statusClass(r.status, r.cancelled),
      ];
      const tags = JSON.stringify(canonicalTags(r.tags));
      const key = bucket.getTime() + '\u0000' + dims.join('\u0000') + '\u0000' + tags;
      let grp = groups.get(key);
      if (!grp) {
        grp = { bucket, dims, tags, m: MEASURES.map(() => 0) };
        groups.set(key, grp);
      }
      const m = grp.m;
      m[0] += 1;
      m[1] += r.status >= 400 ? 1 : 0;
      m[2] += r.inputTokens;
      m[3] += r.outputTokens;
      m[4] += r.cachedInputTokens;
      m[5] += r.cacheWriteTokens;
      m[6] += r.reasoningTokens;
      m[7] += r.costMicros;
      m[8] += r.latencyMs;
      m[9] += r.ttftMs ?? 0;
      m[10] += r.ttftMs === null ? 0 : 1;
    }
    const rows = [...groups.values()];
    // Tag sets travel as JSON text (unnest would flatten a two-dimensional array).
    const params: unknown[][] = [rows.map((x) => x.bucket), ...DIMS.map((_, i) => rows.map((x) => x.dims[i])), rows.map((x) => x.tags), ...MEASURES.map((_, i) => rows.map((x) => x.m[i]))];
    const types = ['timestamptz', ...DIMS.map((d) => DIM_TYPES[d]), 'text', ...MEASURES.map((m) => (m.endsWith('_sum') ? 'float8' : 'int8'))];
    const cols = ['bucket', ...DIMS, 'tags', ...MEASURES];
    await client.query(
      `insert into usage_rollup_${g} as r (${cols.join(', ')})
       select ${cols.map((c) => (c === 'tags' ? 'array(select jsonb_array_elements_text(u.tags::jsonb))' : `u.${c}`)).join(', ')}
         from unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}) as u(${cols.join(', ')})
       on conflict (${KEY}) do update set ${MEASURES.map((m) => `${m} = r.${m} + excluded.${m}`).join(', ')}`,
      params,
    );
  }
}

/**
 * Recomputes rollups for [from, to) from raw request rows. The rollup tables are locked for the
 * duration, so writers that commit meanwhile wait and then add their rows on top: nothing is
 * counted twice or missed.
 */
export async function rebuildRollups(client: PoolClient, from: Date, to: Date): Promise<Record<Granularity, number>> {
  const out = {} as Record<Granularity, number>;
  await client.query('begin');
  try {
    await client.query(`lock table ${GRANULARITIES.map((g) => `usage_rollup_${g}`).join(', ')} in exclusive mode`);
    for (const g of GRANULARITIES) {
      await client.query(`delete from usage_rollup_${g} where bucket >= $1 and bucket < $2`, [from, to]);
      const r = await client.query(
        `insert into usage_rollup_${g} (${KEY}, ${MEASURES.join(', ')})
         select date_trunc('${g}', created_at at time zone 'UTC') at time zone 'UTC',
                org_id, coalesce(team_id, '${NONE_UUID}'), coalesce(token_id, '${NONE_UUID}'), coalesce(owner_user_id, '${NONE_UUID}'),
                coalesce(service_account_id, '${NONE_UUID}'), coalesce(end_user, ''), coalesce(provider, ''), coalesce(model, ''),
                case endpoint when 'embeddings' then 'embedding' when 'count_tokens' then 'other' else 'completion' end,
                case when cancelled then 'cancelled' when status >= 500 then '5xx' when status >= 400 then '4xx' else '2xx' end,
                ${TAGS_SQL},
                count(*), count(*) filter (where status >= 400), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
                sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_micros), sum(latency_ms), coalesce(sum(ttft_ms), 0), count(ttft_ms)
           from request_log
          where created_at >= $1 and created_at < $2
          group by 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12`,
        [from, to],
      );
      out[g] = r.rowCount ?? 0;
    }
    await client.query('commit');
    return out;
  } catch (e) {
    await client.query('rollback').catch(() => undefined);
    throw e;
  }
}
