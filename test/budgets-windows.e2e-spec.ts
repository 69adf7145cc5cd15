import { Client } from 'pg';
import { createTestDatabase, TestDatabase } from './support/pg';

/**
 * The window arithmetic of sluice_reserve / sluice_settle, driven with an explicit clock: every
 * call passes its own "now", so the tests move time instead of sleeping.
 */
describe('budget windows (SQL functions, moved clock)', () => {
  let db: TestDatabase;
  let c: Client;
  const ORG = '00000000-0000-7000-8000-00000000000a';
  let n = 0;
  const reserve = async (id: string, amount: number, now: string) => {
    const r = await c.query('select * from sluice_reserve($1::uuid[], $2::bigint[], $3, $4, 600)', [[id], [amount], `req-${++n}`, now]);
    return { allowed: r.rows[0].allowed as boolean, remaining: Number(r.rows[0].remaining), resetAt: r.rows[0].reset_at as Date, request: `req-${n}` };
  };
  const settle = (id: string, request: string, actual: number, now: string) =>
    c.query('select * from sluice_settle($1::text[], $2::uuid[], $3::bigint[], $4)', [[request], [id], [actual], now]);
  const budget = async (id: string, cols: Record<string, unknown>) => {
    const all = { id, org_id: ORG, name: id.slice(-4), scope_type: 'org', scope_id: ORG, ...cols };
    const keys = Object.keys(all);
    await c.query(`insert into budget (${keys.join(', ')}) values (${keys.map((_, i) => `$${i + 1}`).join(', ')})`, Object.values(all));
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    c = new Client({ connectionString: db.url });
    await c.connect();
    await c.query(`insert into organization (id, slug, name) values ($1, 'w', 'w')`, [ORG]);
  });
  afterAll(async () => {
    await c?.end();
    await db?.drop();
  });

  it('a calendar day resets at midnight in its own time zone, not UTC', async () => {
    const id = '00000000-0000-7000-8000-0000000000c1';
    await budget(id, { metric: 'requests', window_kind: 'calendar', period: 'day', time_zone: 'America/New_York', limit_amount: 2 });
    // 23:30 on Jan 9 in New York is 04:30 UTC on Jan 10: still Jan 9's window there.
    const a = await reserve(id, 1, '2026-01-10T04:30:00Z');
    expect(a.allowed).toBe(true);
    expect(a.resetAt.toISOString()).toBe('2026-01-10T05:00:00.000Z');
    await settle(id, a.request, 1, '2026-01-10T04:31:00Z');
    expect((await reserve(id, 1, '2026-01-10T04:45:00Z')).allowed).toBe(true);
    expect((await reserve(id, 1, '2026-01-10T04:59:59Z')).allowed).toBe(false);
    // 00:00:01 in New York: a new day, a fresh budget (the still-open reservation carries over).
    const next = await reserve(id, 1, '2026-01-10T05:00:01Z');
    expect(next.allowed).toBe(true);
    expect(next.remaining).toBe(0);
    expect(next.resetAt.toISOString()).toBe('2026-01-11T05:00:00.000Z');
    // Across a DST change the day is 23 hours long: 2026-03-08 in New York.
    const dst = await reserve(id, 0, '2026-03-08T06:00:00Z');
    expect(dst.resetAt.toISOString()).toBe('2026-03-09T04:00:00.000Z');
  });

  it('weeks start on Monday and months on the 1st', async () => {
    const w = '00000000-0000-7000-8000-0000000000c2';
    await budget(w, { metric: 'tokens', window_kind: 'calendar', period: 'week', time_zone: 'Europe/Paris', limit_amount: 100 });
    const r = await reserve(w, 10, '2026-01-07T12:00:00Z'); // a Wednesday
    expect(r.resetAt.toISOString()).toBe('2026-01-11T23:00:00.000Z'); // Monday 00:00 in Paris
    const m = '00000000-0000-7000-8000-0000000000c3';
    await budget(m, { metric: 'cost', window_kind: 'calendar', period: 'month', limit_amount: 1_000_000 });
    const rm = await reserve(m, 10, '2026-02-27T12:00:00Z');
    expect(rm.resetAt.toISOString()).toBe('2026-03-01T00:00:00.000Z');
  });

  it('a rolling window forgets spend as it ages out', async () => {
    const id = '00000000-0000-7000-8000-0000000000c4';
    await budget(id, { metric: 'tokens', window_kind: 'rolling', rolling_seconds: 4 * 3600, limit_amount: 100 });
    const a = await reserve(id, 80, '2026-01-01T10:00:00Z');
    await settle(id, a.request, 70, '2026-01-01T10:00:30Z');
    expect((await reserve(id, 40, '2026-01-01T12:00:00Z')).allowed).toBe(false); // 70 of 100 used
    const b = await reserve(id, 30, '2026-01-01T12:00:00Z');
    expect(b.allowed).toBe(true);
    expect(b.remaining).toBe(0);
    await settle(id, b.request, 30, '2026-01-01T12:00:00Z');
    expect((await reserve(id, 1, '2026-01-01T13:59:00Z')).allowed).toBe(false);
    // Four hours after 10:00 the first 70 leave the window.
    const later = await reserve(id, 70, '2026-01-01T14:01:00Z');
    expect(later.allowed).toBe(true);
  });

  it('a refilling bucket drains and refills at its rate', async () => {
    const id = '00000000-0000-7000-8000-0000000000c5';
    await budget(id, { metric: 'requests', window_kind: 'bucket', refill_per_second: 0.5, limit_amount: 3, bucket_level: 3, bucket_at: '2026-01-01T00:00:00Z' });
    for (let i = 0; i < 3; i++) expect((await reserve(id, 1, '2026-01-01T00:00:00Z')).allowed).toBe(true);
    const empty = await reserve(id, 1, '2026-01-01T00:00:01Z');
    expect(empty.allowed).toBe(false);
    expect(empty.resetAt.toISOString()).toBe('2026-01-01T00:00:06.000Z'); // 0.5 refilled after 1 s; 2.5 more take 5 s
    expect((await reserve(id, 1, '2026-01-01T00:00:02Z')).allowed).toBe(true); // 1 unit back after 2 s
    expect((await reserve(id, 1, '2026-01-01T00:00:02Z')).allowed).toBe(false);
    // Never above capacity, however long it rests.
    const rested = await reserve(id, 0, '2026-01-02T00:00:00Z');
    expect(rested.remaining).toBe(3);
  });

  it('base allocations draw on a shared pool within the per-user surplus limit', async () => {
    const pool = '00000000-0000-7000-8000-0000000000d0';
    const base = '00000000-0000-7000-8000-0000000000d1';
    await budget(pool, { scope_type: 'pool', scope_id: null, metric: 'tokens', window_kind: 'rolling', rolling_seconds: 14400, limit_amount: 100 });
    await budget(base, { scope_type: 'user', metric: 'tokens', window_kind: 'rolling', rolling_seconds: 14400, limit_amount: 10, surplus_budget_id: pool, surplus_user_limit: 30 });
    const t = '2026-01-01T00:00:00Z';
    const allocated = await c.query('select * from sluice_reserve($1::uuid[], $2::bigint[], $3, $4, 600)', [[base], [8], 's1', t]);
    expect(Number(allocated.rows[0].from_surplus)).toBe(0);
    const hybrid = await c.query('select * from sluice_reserve($1::uuid[], $2::bigint[], $3, $4, 600)', [[base], [8], 's2', t]);
    expect(Number(hybrid.rows[0].from_surplus)).toBe(6);
    const tooMuch = await c.query('select * from sluice_reserve($1::uuid[], $2::bigint[], $3, $4, 600)', [[base], [30], 's3', t]);
    expect(tooMuch.rows[0].allowed).toBe(false); // 6 + 30 would pass the user's surplus limit of 30
    const surplus = await c.query('select * from sluice_reserve($1::uuid[], $2::bigint[], $3, $4, 600)', [[base], [24], 's4', t]);
    expect(surplus.rows[0]).toMatchObject({ allowed: true });
    expect(Number(surplus.rows[0].from_surplus)).toBe(24);
    await c.query('select * from sluice_settle($1::text[], $2::uuid[], $3::bigint[], $4)', [['s1', 's2', 's4'], [base, base, base], [8, 8, 12], t]);
    const state = await c.query('select id, spent, reserved, surplus_spent, surplus_reserved from budget where id = any($1) order by id', [[pool, base]]);
    expect(state.rows.map((r) => [Number(r.reserved), Number(r.surplus_reserved)])).toEqual([[0, 0], [0, 0]]);
    const minutes = await c.query('select budget_id, amount, surplus_amount from budget_minute where budget_id = any($1) order by budget_id', [[pool, base]]);
    // base: 8 + 2 from its allocation; 6 + 12 from the pool, which counts them too.
    expect(minutes.rows.map((r) => [Number(r.amount), Number(r.surplus_amount)])).toEqual([[18, 0], [10, 18]]);
  });
});
