import { invalid } from './errors';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** Parses `90s`, `15m`, `12h`, `30d`, `2w` into milliseconds. */
export function parseDuration(s: string, what = 'duration'): number {
  const m = /^(\d+)\s*([smhdw])$/.exec(s.trim());
  if (!m || Number(m[1]) <= 0) throw invalid(`${what} must look like 30d, 12h, 15m or 2w`);
  return Number(m[1]) * UNITS[m[2]];
}

/** An expiry given as a duration from now (`30d`) or an ISO date/time in the future. */
export function parseExpiry(s: string, now = new Date()): Date {
  if (/^\d+\s*[smhdw]$/.test(s.trim())) return new Date(now.getTime() + parseDuration(s, 'expiry'));
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw invalid('expiry must be a duration such as 30d or an ISO date');
  if (d <= now) throw invalid('expiry must be in the future');
  return d;
}
