import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { startTestApp, TestApp } from './support/app';
import { withDatabase } from './support/pg';
import { uuidv7 } from '../src/common/uuid';
import { assignSessions } from '../src/logs/sessions';
import type { UsageRecord } from '../src/usage/usage-record';
import { UsageWriter } from '../src/usage/usage-writer.service';

const MIN = 60_000;
const GAP = 30 * MIN;

/**
 * Session grouping without a client session id: one caller's requests from one client belong to
 * one session while no more than the inactivity gap (30 minutes by default) lies between them,
 * whatever order they reach the database in, within a batch, across batches, and from two writers
 * at once. Explicit session ids group regardless of time.
 */
describe('session grouping', () => {
  let t: TestApp;
  const ORG = randomUUID();
  const q = async <T = any>(sql: string, params: unknown[] = []): Promise<T[]> => withDatabase(t.db.url, async (c) => (await c.query(sql, params)).rows as T[]);
  const base = Date.now() - 6 * 3_600_000;

  const rec = (minute: number, o: Partial<UsageRecord> = {}): UsageRecord => {
    const at = new Date(base + minute * MIN);
    return {
      id: uuidv7(at.getTime()), createdAt: at, requestId: `req-${randomUUID()}`, orgId: ORG, teamId: null, tokenId: o.tokenId ?? TOKEN, ownerUserId: null,
      serviceAccountId: null, endUser: null, sessionId: null, client: 'openai-sdk-js/6.0.0', clientDevice: null, tags: null, provider: 'openai', model: 'gpt-x',
      endpoint: 'chat', stream: false, status: 200, errorType: null, cancelled: false, latencyMs: 20, ttftMs: 10, inputTokens: 100, outputTokens: 10,
      cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, costMicros: 50, usageEstimated: false, toolsOffered: null, toolEvents: [], ...o,
    };
  };
  let TOKEN = randomUUID();
  const write = async (...batch: UsageRecord[]) => {
    const w = t.app.get(UsageWriter);
    for (const r of batch) w.record(r);
    await w.drain();
  };
  const sessionsOf = (token: string) =>
    q<{ id: string; requests: number; first_at: Date; last_at: Date; tools: string[] }>(`select id, requests, first_at, last_at, tools from session where token_id = $1 order by first_at`, [token]);
  const groups = async (token: string) => {
    const rows = await q(`select sluice_session_id as s, created_at from request_log where token_id = $1 order by created_at`, [token]);
    const ids = [...new Set(rows.map((r) => r.s))];
    return rows.map((r) => ids.indexOf(r.s));
  };

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t?.close());
  beforeEach(() => {
    TOKEN = randomUUID();
  });

  it('splits at the inactivity gap and orders a shuffled batch', async () => {
    await write(rec(70), rec(0), rec(25), rec(10), rec(100), rec(131));
    expect(await groups(TOKEN)).toEqual([0, 0, 0, 1, 1, 2]);
    const s = await sessionsOf(TOKEN);
    expect(s.map((x) => x.requests)).toEqual([3, 2, 1]);
    expect(new Date(s[0].last_at).getTime() - new Date(s[0].first_at).getTime()).toBe(25 * MIN);
  });

  it('a late request that fills a gap merges the two sessions, rows included', async () => {
    const tool = { event: 'call' as const, name: 'get_weather', kind: 'function' as const, callId: 'call_1' };
    await write(rec(0), rec(10, { toolEvents: [tool] }));
    await write(rec(50), rec(55));
    expect((await sessionsOf(TOKEN)).map((x) => x.requests)).toEqual([2, 2]);
    // Arrives late (another instance's batch, or a retry after an outage): 30 minutes from both.
    await write(rec(30));
    const s = await sessionsOf(TOKEN);
    expect(s).toHaveLength(1);
    expect(s[0]).toMatchObject({ requests: 5, tools: ['get_weather'] });
    expect(await groups(TOKEN)).toEqual([0, 0, 0, 0, 0]);
    expect((await q(`select sluice_session_id from tool_call where token_id = $1`, [TOKEN])).map((r) => r.sluice_session_id)).toEqual([s[0].id]);
    // A request before the first one, within the gap, extends the session backwards.
    await write(rec(-20));
    expect((await sessionsOf(TOKEN)).map((x) => x.requests)).toEqual([6]);
  });

  it('keeps callers, end users and clients apart', async () => {
    await write(rec(0), rec(1, { client: 'claude-code/2.1.90' }), rec(2, { endUser: 'alice@example.test' }), rec(3, { endUser: 'bob@example.test' }), rec(4));
    expect(await groups(TOKEN)).toEqual([0, 1, 2, 3, 0]);
  });

  it('groups by the client session id regardless of time, and never across callers', async () => {
    const other = randomUUID();
    await write(rec(0, { sessionId: 'task-42' }), rec(500, { sessionId: 'task-42' }), rec(1, { sessionId: 'task-42', tokenId: other }));
    await write(rec(900, { sessionId: 'task-42' }));
    expect(await groups(TOKEN)).toEqual([0, 0, 0]);
    const [s] = await sessionsOf(TOKEN);
    expect(s.requests).toBe(3);
    expect((await sessionsOf(other)).map((x) => x.requests)).toEqual([1]);
  });

  it('two writers at once (two instances) still make one session', async () => {
    const pool = new Pool({ connectionString: t.db.url, max: 4 });
    try {
      for (let round = 0; round < 5; round++) {
        TOKEN = randomUUID();
        const a = await pool.connect();
        const b = await pool.connect();
        try {
          await a.query('begin');
          await b.query('begin');
          const batchA = [rec(0), rec(5)];
          const batchB = [rec(12), rec(20, { sessionId: 'shared' })];
          const batchA2 = [rec(21, { sessionId: 'shared' })];
          // Interleave: B starts while A holds the caller, then both commit.
          const first = round % 2 ? a : b;
          const second = round % 2 ? b : a;
          await assignSessions(first, first === a ? [...batchA, ...batchA2] : batchB, GAP);
          const pending = assignSessions(second, second === a ? [...batchA, ...batchA2] : batchB, GAP);
          await new Promise((r) => setTimeout(r, 50));
          await first.query('commit');
          await pending;
          await second.query('commit');
          const sessions = await sessionsOf(TOKEN);
          expect(sessions.map((x) => x.requests).sort()).toEqual([2, 3]);
          const ids = new Set([...batchA, ...batchB.slice(0, 1)].map((r) => r.sluiceSessionId));
          expect(ids.size).toBe(1);
          expect(batchB[1].sluiceSessionId).toBe(batchA2[0].sluiceSessionId);
        } finally {
          a.release();
          b.release();
        }
      }
    } finally {
      await pool.end();
    }
  });

  it('a shorter configured gap splits sooner; the default is 30 minutes', async () => {
    const pool = new Pool({ connectionString: t.db.url, max: 1 });
    try {
      const c = await pool.connect();
      await c.query('begin');
      const batch = [rec(0), rec(6), rec(12)];
      await assignSessions(c, batch, 5 * MIN);
      await c.query('commit');
      c.release();
      expect(new Set(batch.map((r) => r.sluiceSessionId)).size).toBe(3);
    } finally {
      await pool.end();
    }
    expect(t.rt.gatewayConfig.sessions.inactivity_gap_minutes).toBe(30);
  });
});
