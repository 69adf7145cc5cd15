import { RollupFilter, Span, spans } from './analytics.repository';

const D = (s: string) => new Date(s.length === 10 ? `${s}T00:00:00Z` : s);
const show = (xs: Span[]) => xs.map((x) => `${x.sign ? '-' : '+'}${x.g} ${x.from.toISOString().slice(0, 13)}..${x.to.toISOString().slice(0, 13)}`);
const f = (from: string, to: string, o: Partial<RollupFilter> = {}): RollupFilter => ({ from: D(from), to: D(to), source: 'day', orgIds: null, ...o });

/** Every instant of [from, to) counted once: the signed spans add up to the range (checked per hour). */
function coverage(xs: Span[], from: Date, to: Date): Map<number, number> {
  const n = new Map<number, number>();
  for (const x of xs) for (let t = x.from.getTime(); t < x.to.getTime(); t += 3_600_000) n.set(t, (n.get(t) ?? 0) + (x.sign ?? 1));
  for (const [t, c] of n) if (c === 0 || (t >= from.getTime() && t < to.getTime() && c === 1)) n.delete(t);
  return n;
}

describe('range spans', () => {
  it('reads whole months from month rows, and a month mostly inside the range as its row minus the other days', () => {
    // Thirty days to now: 23 days of November are November's row minus its first 7 days.
    const r = f('2026-11-08', '2026-12-07T00:17:00Z', { openEnded: true });
    // (Months that meet are one span: one UNION ALL part reads both month rows.)
    expect(show(spans(r, true))).toEqual(['+month 2026-11-01T00..2026-12-07T00', '-day 2026-11-01T00..2026-11-08T00']);
    // Five days of November stay day rows.
    expect(show(spans(f('2026-11-26', '2026-12-07T00:17:00Z', { openEnded: true }), true))).toEqual(['+day 2026-11-26T00..2026-12-01T00', '+month 2026-12-01T00..2026-12-07T00']);
    // A closed range: the tail month minus its last days, the head month minus its first.
    const c = f('2026-10-03', '2026-12-29');
    expect(show(spans(c, true))).toEqual(['+month 2026-10-01T00..2027-01-01T00', '-day 2026-10-01T00..2026-10-03T00', '-day 2026-12-29T00..2027-01-01T00']);
    expect(coverage(spans(c, true), c.from, c.to).size).toBe(0);
    // Without month rows, or on raw rows, days stay days.
    expect(show(spans(c, false))).toEqual(['+day 2026-10-03T00..2026-12-29T00']);
    expect(show(spans({ ...c, rawRows: true }, true))).toEqual(['+day 2026-10-03T00..2026-11-01T00', '+month 2026-11-01T00..2026-12-01T00', '+day 2026-12-01T00..2026-12-29T00']);
  });

  it('joins a partial first day to the days after it before looking for months (hour rollups, New York midnights)', () => {
    const r = f('2026-11-07T05:00:00Z', '2026-12-07T00:17:00Z', { source: 'hour', openEnded: true });
    const xs = spans(r, true);
    expect(show(xs)).toEqual(['+month 2026-11-01T00..2026-12-07T00', '-day 2026-11-01T00..2026-11-07T00', '-hour 2026-11-07T00..2026-11-07T05']);
    // Nothing is stored past `to` (open-ended): what counts twice or is missing lies only there.
    expect([...coverage(xs, r.from, r.to).keys()].every((t) => t >= r.to.getTime() - 3_600_000)).toBe(true);
  });

  it('covers every hour of assorted ranges exactly once', () => {
    const ranges: [string, string, Granularity][] = [
      ['2026-01-31T05:00:00Z', '2026-03-02T07:00:00Z', 'hour'],
      ['2026-02-01', '2026-03-01', 'day'],
      ['2026-02-02', '2026-02-28', 'day'],
      ['2026-02-14T03:00:00Z', '2026-02-16T22:00:00Z', 'hour'],
      ['2025-12-20', '2026-02-11', 'day'],
    ];
    for (const [a, b, g] of ranges) {
      const r = f(a, b, { source: g });
      expect([a, b, coverage(spans(r, true), r.from, r.to).size]).toEqual([a, b, 0]);
    }
  });
});

type Granularity = RollupFilter['source'];
