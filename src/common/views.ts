import * as fs from 'node:fs';
import * as path from 'node:path';
import hbs from 'hbs';

// One formatter each: `toLocaleString(locale, options)` builds a new one per call, which was 40 % of
// the models page's CPU time (a page formats a few dozen amounts).
const INT = new Intl.NumberFormat('en-US');
const USD = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/**
 * Registers every file under views/partials as a partial named by its relative path without the
 * extension (`partials/usage/body.hbs` -> `usage/body`). Done synchronously at boot so the first
 * request can never race a half-registered set (hbs's own registerPartials is asynchronous).
 */
export function registerViews(viewsDir: string): typeof hbs {
  const partialsDir = path.join(viewsDir, 'partials');
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.hbs')) {
        const name = path.relative(partialsDir, full).replace(/\\/g, '/').replace(/\.hbs$/, '');
        hbs.registerPartial(name, fs.readFileSync(full, 'utf8'));
      }
    }
  };
  if (fs.existsSync(partialsDir)) walk(partialsDir);
  registerHelpers(hbs);
  return hbs;
}

function registerHelpers(h: typeof hbs) {
  const hb = h.handlebars;
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('json', (v: unknown) => new hb.SafeString(JSON.stringify(v).replace(/</g, '\\u003c')));
  hb.registerHelper('fmtInt', (n: unknown) => (typeof n === 'number' ? INT.format(n) : n ?? ''));
  hb.registerHelper('compact', (n: unknown) => compactNumber(Number(n)));
  hb.registerHelper('usd', (micros: unknown) => formatUsd(Number(micros)));
  hb.registerHelper('ne', (a: unknown, b: unknown) => a !== b);
  hb.registerHelper('not', (a: unknown) => !a);
  hb.registerHelper('and', (...args: unknown[]) => args.slice(0, -1).every(Boolean));
  hb.registerHelper('or', (...args: unknown[]) => args.slice(0, -1).some(Boolean));
  hb.registerHelper('includes', (list: unknown, v: unknown) => Array.isArray(list) && list.includes(v));
  hb.registerHelper('concat', (...args: unknown[]) => args.slice(0, -1).map((a) => (a === undefined || a === null ? '' : String(a))).join(''));
  hb.registerHelper('join', (list: unknown, sep: unknown) => (Array.isArray(list) ? list.join(typeof sep === 'string' ? sep : ', ') : ''));
  // Budget amounts in their metric's unit: $3.41, 1.2k tokens, 12 requests.
  hb.registerHelper('amount', (v: unknown, metric: unknown) => formatAmount(Number(v), String(metric)));
  // The same amount as a form field holds it: dollars for cost, whole units otherwise.
  hb.registerHelper('amountInput', (v: unknown, metric: unknown) => (v === null || v === undefined ? '' : metric === 'cost' ? String(Number(v) / 1e6) : String(v)));
  // <time> in UTC, minute precision; `fallback` (e.g. "never") when there is no date.
  hb.registerHelper('time', (iso: unknown, fallback: unknown) => {
    if (typeof iso !== 'string' || !iso) return typeof fallback === 'string' ? fallback : '—';
    const text = iso.slice(0, 16).replace('T', ' ');
    return new hb.SafeString(`<time datetime="${hb.escapeExpression(iso)}" title="${hb.escapeExpression(iso)}">${hb.escapeExpression(text)}</time>`);
  });
}

export function compactNumber(n: number): string {
  if (!Number.isFinite(n)) return '';
  const abs = Math.abs(n);
  if (abs >= 1e9) return (n / 1e9).toFixed(abs >= 1e10 ? 0 : 1).replace(/\.0$/, '') + 'B';
  if (abs >= 1e6) return (n / 1e6).toFixed(abs >= 1e7 ? 0 : 1).replace(/\.0$/, '') + 'M';
  if (abs >= 1e3) return (n / 1e3).toFixed(abs >= 1e4 ? 0 : 1).replace(/\.0$/, '') + 'k';
  return String(Math.round(n));
}

/** Micro-dollars to a display string: $3.41, $0.0042 for sub-cent amounts. */
export function formatUsd(micros: number): string {
  if (!Number.isFinite(micros)) return '';
  const usd = micros / 1e6;
  if (usd !== 0 && Math.abs(usd) < 0.01) return '$' + usd.toFixed(4);
  return '$' + USD.format(usd);
}

/** An amount in a budget metric's unit, for people. */
export function formatAmount(n: number, metric: string): string {
  if (!Number.isFinite(n)) return '';
  if (metric === 'cost') return formatUsd(n);
  if (metric === 'requests') return `${compactNumber(n)} request${n === 1 ? '' : 's'}`;
  const kind = metric === 'input_tokens' ? 'input tokens' : metric === 'output_tokens' ? 'output tokens' : 'tokens';
  return `${compactNumber(n)} ${kind}`;
}
