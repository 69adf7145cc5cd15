/**
 * Wall-clock arithmetic in an IANA time zone with Intl only (no tz library): the offset at an
 * instant, the instant of a local midnight, the local calendar date of an instant. Enough to align
 * analytics ranges to the viewer's days and hours; PostgreSQL does the per-row bucketing.
 */

const FORMATTERS = new Map<string, Intl.DateTimeFormat>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = FORMATTERS.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    FORMATTERS.set(tz, f);
  }
  return f;
}

/** The shape of an IANA name (Area/Location, UTC, EST5EDT…); offsets like "+05:30" are not names. */
const NAME_RE = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/;

/** True when Intl knows the zone (the caller also checks PostgreSQL's list). */
export function intlKnowsZone(tz: string): boolean {
  if (typeof tz !== 'string' || tz.length > 64 || !NAME_RE.test(tz)) return false;
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

export function wallClock(tz: string, t: number): WallClock {
  if (tz === 'UTC') {
    const d = new Date(t);
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds() };
  }
  const out: Record<string, number> = {};
  for (const p of formatter(tz).formatToParts(new Date(t))) if (p.type !== 'literal') out[p.type] = Number(p.value);
  return { year: out.year, month: out.month, day: out.day, hour: out.hour % 24, minute: out.minute, second: out.second };
}

/** Minutes east of UTC at instant t. */
export function offsetMinutes(tz: string, t: number): number {
  const w = wallClock(tz, t);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return Math.round((asUtc - Math.floor(t / 1000) * 1000) / 60_000);
}

/** The instant of a local wall-clock time (the later offset wins in a gap, as PostgreSQL does). */
export function instantOf(tz: string, year: number, month: number, day: number, hour = 0, minute = 0): number {
  const guess = Date.UTC(year, month - 1, day, hour, minute);
  const o1 = offsetMinutes(tz, guess);
  const t1 = guess - o1 * 60_000;
  const o2 = offsetMinutes(tz, t1);
  return o2 === o1 ? t1 : guess - o2 * 60_000;
}

/** Local calendar date of an instant as YYYY-MM-DD. */
export function localDate(tz: string, t: number): string {
  const w = wallClock(tz, t);
  return `${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
}

/** Adds whole days to a YYYY-MM-DD date (calendar arithmetic, no zone). */
export function addDays(date: string, n: number): string {
  const [y, m, d] = date.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** Local midnight starting a YYYY-MM-DD date. */
export function midnight(tz: string, date: string): number {
  const [y, m, d] = date.split('-').map(Number);
  return instantOf(tz, y, m, d);
}

/** Start of the local hour holding t (minute-aligned instants; works for :30 and :45 zones). */
export function hourStart(tz: string, t: number): number {
  const m = Math.floor(t / 60_000) * 60_000;
  return m - wallClock(tz, m).minute * 60_000;
}

/** "2026-12-04 14:05" in the zone, for tables and CSV. */
export function formatLocal(tz: string, t: number, unit: 'minute' | 'hour' | 'day' = 'minute'): string {
  const w = wallClock(tz, t);
  const date = `${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
  return unit === 'day' ? date : `${date} ${String(w.hour).padStart(2, '0')}:${String(w.minute).padStart(2, '0')}`;
}
