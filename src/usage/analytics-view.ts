import { compactNumber, formatUsd } from '../common/views';
import type { AnalyticsRange } from './analytics-range';
import type { Measures } from './analytics.repository';

/** Query-string values as the pages read them: bounded strings and lists, nothing else. */
export type Query = Record<string, unknown>;

export function str(v: unknown, max = 200): string | undefined {
  const x = Array.isArray(v) ? v[0] : v;
  return typeof x === 'string' && x.trim() ? x.trim().slice(0, max) : undefined;
}

export function list(v: unknown, max = 50): string[] {
  const xs = (Array.isArray(v) ? v : [v]).flatMap((x) => (typeof x === 'string' ? x.split(',') : []));
  return [...new Set(xs.map((x) => x.trim()).filter(Boolean))].slice(0, max).map((x) => x.slice(0, 200));
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const uuids = (xs: string[]) => xs.filter((x) => UUID_RE.test(x)).map((x) => x.toLowerCase());

export function int(v: unknown, def: number, min: number, max: number): number {
  const n = Number(str(v));
  return Number.isInteger(n) ? Math.min(max, Math.max(min, n)) : def;
}

/** A query string from a flat record (lists repeat their key); empty values are dropped. */
export function qsOf(q: Record<string, string | string[] | undefined | null>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) for (const x of Array.isArray(v) ? v : [v]) if (x !== undefined && x !== null && x !== '') u.append(k, x);
  return u.toString();
}

export const withQs = (path: string, qs: string) => (qs ? `${path}?${qs}` : path);

/** KPI figures with their exact value (for titles, tests and CSV) and how people read them. */
export function figures(m: Measures) {
  const total = m.inputTokens + m.outputTokens;
  return {
    requests: m.requests,
    requestsText: compactNumber(m.requests),
    failures: m.failures,
    failuresText: compactNumber(m.failures),
    inputTokens: m.inputTokens,
    inputText: compactNumber(m.inputTokens),
    outputTokens: m.outputTokens,
    outputText: compactNumber(m.outputTokens),
    totalTokens: total,
    totalText: compactNumber(total),
    costMicros: m.costMicros,
    costText: costText(m.costMicros),
    costShort: costShort(m.costMicros),
  };
}

/** $3.41, $0.0042, and "< $0.0001" rather than a misleading $0.0000 for a few micro-dollars. */
export const costText = (micros: number) => (micros > 0 && micros < 50 ? '< $0.0001' : formatUsd(micros));
/** A cost for a figure card: exact below $10,000, else to the hundred dollars ($40.4k, $1.23M); the card's title has it exact. */
export const costShort = (micros: number) => {
  const usd = micros / 1e6;
  if (Math.abs(usd) < 10_000) return costText(micros);
  return Math.abs(usd) < 1e6 ? `$${(usd / 1e3).toFixed(1)}k` : `$${(usd / 1e6).toFixed(2)}M`;
};

export const msText = (ms: number | null) => (ms === null ? '—' : ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);

/** Exact dollars from micro-dollars for CSV (no float rounding: integer arithmetic on the string). */
export function usdExact(micros: number): string {
  const neg = micros < 0;
  const s = String(Math.abs(Math.round(micros))).padStart(7, '0');
  return `${neg ? '-' : ''}${s.slice(0, -6)}.${s.slice(-6)}`;
}

// Sorting and paging -----------------------------------------------------------------------------

export interface TableState {
  sort: string;
  dir: 'asc' | 'desc';
  page: number;
  per: number;
}

export const PER_CHOICES = [10, 25, 50, 100];

export function tableState(q: Query, sorts: readonly string[], def: { sort: string; dir: 'asc' | 'desc'; per?: number }): TableState {
  const s = str(q.sort);
  const sort = s && sorts.includes(s) ? s : def.sort;
  const d = str(q.dir);
  const dir = d === 'asc' || d === 'desc' ? d : sort === 'name' ? 'asc' : 'desc';
  const per = int(q.per, def.per ?? 25, 1, 100);
  return { sort, dir, page: int(q.page, 1, 1, 100_000), per: PER_CHOICES.includes(per) ? per : def.per ?? 25 };
}

/**
 * Sort links and page turns that keep every other parameter. Numeric columns sort descending on
 * the first click (people look for the biggest), names ascending.
 */
export function tableNav(path: string, state: Record<string, string | string[] | undefined>, t: TableState, total: number, sorts: readonly string[]) {
  const href = (patch: Record<string, string | undefined>) => withQs(path, qsOf({ ...state, sort: t.sort, dir: t.dir, page: String(t.page), ...patch }));
  const pages = Math.max(1, Math.ceil(total / t.per));
  const sort: Record<string, { href: string; active: boolean; dir: 'asc' | 'desc' }> = {};
  for (const key of sorts) {
    const active = t.sort === key;
    const first: 'asc' | 'desc' = key === 'name' ? 'asc' : 'desc';
    const next = active ? (t.dir === 'asc' ? 'desc' : 'asc') : first;
    sort[key] = { href: href({ sort: key, dir: next, page: undefined }), active, dir: active ? t.dir : first };
  }
  return {
    from: total === 0 ? 0 : (t.page - 1) * t.per + 1,
    to: Math.min(total, t.page * t.per),
    total,
    page: t.page,
    pages,
    prevHref: t.page > 1 ? href({ page: String(t.page - 1) }) : null,
    nextHref: t.page < pages ? href({ page: String(t.page + 1) }) : null,
    sort,
  };
}

// CSV ------------------------------------------------------------------------------------------

/** RFC 4180 field; a leading formula character is neutralised so spreadsheets do not evaluate it. */
export function csvField(v: unknown): string {
  let s = v === null || v === undefined ? '' : String(v);
  if (/^[=+\-@\t\r]/.test(s) && !/^-?\d+(\.\d+)?$/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export interface Csv {
  filename: string;
  head: string[];
  rows: unknown[][];
}

export const csvText = (c: Csv) => [c.head, ...c.rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';

// Charts (the data-chart JSON contract of public/js/app.js) ----------------------------------------

export type ChartUnit = 'count' | 'tokens' | 'usd' | 'ms' | 'users';

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  color?: string;
}

/**
 * `{ options, data }` as uPlot takes them, plus hints app.js turns into functions (JSON cannot
 * carry them): `kind` bars or line, `stacked`, `categories` for a categorical x axis, `tz` for
 * time axes in the viewer's zone, `units.y` for tick and tooltip formatting, `empty` to show
 * instead of an all-zero chart.
 */
export interface ChartSpec {
  options: Record<string, unknown>;
  data: (number | null)[][];
  kind?: 'bars' | 'line';
  stacked?: boolean;
  categories?: string[];
  tz?: string;
  units?: { y: ChartUnit };
  empty?: string;
}

export function timeChart(range: AnalyticsRange, xs: Date[], series: ChartSeries[], o: { title?: string; kind?: 'bars' | 'line'; stacked?: boolean; unit: ChartUnit; empty?: string }): ChartSpec {
  const allZero = series.every((s) => s.values.every((v) => !v));
  return {
    options: {
      ...(o.title ? { title: o.title } : {}),
      scales: { x: { time: true } },
      series: [{ label: range.unit === 'day' ? 'Day' : 'Time' }, ...series.map((s) => ({ label: s.label, ...(s.color ? { stroke: s.color } : {}) }))],
    },
    data: [xs.map((x) => x.getTime() / 1000), ...series.map((s) => s.values)],
    kind: o.kind ?? 'bars',
    ...(o.stacked ? { stacked: true } : {}),
    tz: range.tz,
    units: { y: o.unit },
    ...(allZero && o.empty ? { empty: o.empty } : {}),
  };
}

export function categoryChart(categories: string[], series: ChartSeries[], o: { title?: string; stacked?: boolean; unit: ChartUnit; empty?: string }): ChartSpec {
  const allZero = series.every((s) => s.values.every((v) => !v));
  return {
    options: {
      ...(o.title ? { title: o.title } : {}),
      scales: { x: { time: false } },
      series: [{ label: 'Model' }, ...series.map((s) => ({ label: s.label, ...(s.color ? { stroke: s.color } : {}) }))],
    },
    data: [categories.map((_, i) => i), ...series.map((s) => s.values)],
    kind: 'bars',
    categories,
    ...(o.stacked ? { stacked: true } : {}),
    units: { y: o.unit },
    ...(allZero && o.empty ? { empty: o.empty } : {}),
  };
}

/** An inline SVG sparkline's points for a row of the breakdown tables (no chart library needed). */
export function sparkline(values: number[], w = 96, h = 24): { points: string; w: number; h: number; max: number } {
  const max = Math.max(0, ...values);
  if (values.length === 0) return { points: '', w, h, max };
  const step = values.length > 1 ? w / (values.length - 1) : 0;
  const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(h - 1 - (max ? (v / max) * (h - 2) : 0)).toFixed(1)}`);
  return { points: values.length === 1 ? `0,${pts[0].split(',')[1]} ${w},${pts[0].split(',')[1]}` : pts.join(' '), w, h, max };
}

/** Model labels as the pages show them: provider/model, or the model alone when it came with none. */
export const modelId = (provider: string, model: string) => (provider ? `${provider}/${model || '(unknown)'}` : model || '(unknown)');
