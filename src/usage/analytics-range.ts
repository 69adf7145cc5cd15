import { invalid } from '../common/errors';
import type { Granularity } from './rollups';
import { addDays, formatLocal, hourStart, localDate, midnight, offsetMinutes } from './time-zone';

export type Unit = 'minute' | 'hour' | 'day';

export interface Preset {
  key: string;
  label: string;
  unit: Unit;
  /** How many buckets of `unit`, the current one included. */
  count: number;
}

const P = (key: string, label: string, unit: Unit, count: number): Preset => ({ key, label, unit, count });

/** The time frames each page offers (the lists); the first entry of `def` is the default. */
export const PRESETS = {
  usage: { list: [P('1h', '1h', 'minute', 60), P('1d', '1d', 'hour', 24), P('1w', '1w', 'day', 7), P('30d', '30d', 'day', 30)], def: '1d' },
  people: { list: [P('24h', '24h', 'hour', 24), P('7d', '7d', 'day', 7), P('14d', '14d', 'day', 14), P('30d', '30d', 'day', 30)], def: '7d' },
  dashboard: { list: [P('24h', '24h', 'hour', 24), P('7d', '7d', 'day', 7), P('30d', '30d', 'day', 30)], def: '7d' },
  adoption: { list: [P('7d', '7d', 'day', 7), P('30d', '30d', 'day', 30), P('90d', '90d', 'day', 90)], def: '30d' },
  models: { list: [P('24h', '24h', 'hour', 24), P('7d', '7d', 'day', 7), P('30d', '30d', 'day', 30)], def: '30d' },
} as const;
export type PresetGroup = keyof typeof PRESETS;

/** Custom ranges are whole local days, at most this many. */
export const MAX_CUSTOM_DAYS = 400;

/**
 * A resolved time frame: [from, to) as instants, the chart bucket, and the rollup table that can
 * answer it exactly. Day rollups are UTC days, so they serve only viewers whose day boundaries are
 * UTC's in the whole range; hour rollups serve whole-hour offsets; :30/:45 zones read minutes.
 */
export interface AnalyticsRange {
  preset: string;
  from: Date;
  to: Date;
  unit: Unit;
  source: Granularity;
  tz: string;
  /** The rollup bucket already is the chart bucket (no per-row time-zone arithmetic needed). */
  identity: boolean;
  /** The range reaches now: nothing is stored past its end yet. */
  openEnded: boolean;
  /** Custom range inputs (local dates), echoed into the form. */
  fromDate: string;
  toDate: string;
  label: string;
  presets: { key: string; label: string; active: boolean }[];
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

function validDate(s: unknown, what: string): string {
  if (typeof s !== 'string' || !DATE_RE.test(s) || Number.isNaN(Date.parse(`${s}T00:00:00Z`)) || new Date(`${s}T00:00:00Z`).toISOString().slice(0, 10) !== s) {
    throw invalid(`${what} must be a date such as 2026-11-01`, what);
  }
  return s;
}

export function resolveRange(group: PresetGroup, q: { range?: unknown; from?: unknown; to?: unknown }, tz: string, now = Date.now()): AnalyticsRange {
  const { list, def } = PRESETS[group];
  const wantsCustom = q.range === 'custom' || (q.range === undefined && (q.from !== undefined || q.to !== undefined) && q.from !== '' && q.to !== '');
  let from: number;
  let to: number;
  let unit: Unit;
  let preset: string;
  let label: string;
  if (wantsCustom) {
    const today = localDate(tz, now);
    const f = q.from === undefined || q.from === '' ? addDays(today, -6) : validDate(q.from, 'from');
    const t = q.to === undefined || q.to === '' ? today : validDate(q.to, 'to');
    if (t < f) throw invalid('the end date must not be before the start date', 'to');
    const days = Math.round((Date.parse(`${t}T00:00:00Z`) - Date.parse(`${f}T00:00:00Z`)) / 86_400_000) + 1;
    if (days > MAX_CUSTOM_DAYS) throw invalid(`a custom range spans at most ${MAX_CUSTOM_DAYS} days`, 'from');
    from = midnight(tz, f);
    to = midnight(tz, addDays(t, 1));
    unit = days <= 2 ? 'hour' : 'day';
    preset = 'custom';
    label = f === t ? f : `${f} – ${t}`;
  } else {
    const p = list.find((x) => x.key === q.range) ?? list.find((x) => x.key === def)!;
    preset = p.key;
    unit = p.unit;
    to = now;
    if (p.unit === 'minute') from = Math.floor(now / 60_000) * 60_000 - (p.count - 1) * 60_000;
    else if (p.unit === 'hour') from = hourStart(tz, now) - (p.count - 1) * 3_600_000;
    else from = midnight(tz, addDays(localDate(tz, now), -(p.count - 1)));
    label = `last ${p.label}`;
  }
  const { source, identity } = pickSource(unit, from, to, tz);
  return {
    preset,
    from: new Date(from),
    to: new Date(to),
    unit,
    source,
    tz,
    identity,
    openEnded: to >= now,
    fromDate: localDate(tz, from),
    toDate: localDate(tz, Math.max(from, to - 1)),
    label,
    presets: [...list.map((p) => ({ key: p.key, label: p.label, active: p.key === preset })), { key: 'custom', label: 'Custom', active: preset === 'custom' }],
  };
}

/**
 * The coarsest rollup whose buckets nest inside the viewer's buckets over the whole range: the
 * offset is sampled at every bucket boundary of the range (DST changes land on one of them).
 */
export function pickSource(unit: Unit, from: number, to: number, tz: string): { source: Granularity; identity: boolean } {
  if (unit === 'minute') return { source: 'minute', identity: true };
  const step = unit === 'hour' ? 3_600_000 : 86_400_000;
  const offsets: number[] = [];
  for (let t = from; t < to; t += step) offsets.push(offsetMinutes(tz, t));
  offsets.push(offsetMinutes(tz, to));
  const zero = offsets.every((o) => o === 0);
  const wholeHours = offsets.every((o) => o % 60 === 0);
  if (unit === 'hour') return wholeHours ? { source: 'hour', identity: true } : { source: 'minute', identity: false };
  if (zero) return { source: 'day', identity: true };
  return { source: wholeHours ? 'hour' : 'minute', identity: false };
}

/** Bucket start as the viewer reads it, for tables and CSV. */
export function bucketLabel(r: AnalyticsRange, t: Date): string {
  return formatLocal(r.tz, t.getTime(), r.unit);
}
