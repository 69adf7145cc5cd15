import type { Request, Response } from 'express';
import { readCookie } from '../auth/cookies';
import { isHtmx, renderPage } from '../common/htmx';
import { Csv, csvText } from '../usage/analytics-view';

/** The cookie public/js/analytics.js sets from `Intl.DateTimeFormat().resolvedOptions().timeZone`. */
export const TZ_COOKIE = 'sluice_tz';

export const viewerTz = (req: Request) => readCookie(req, TZ_COOKIE);

/**
 * renderPage, plus table-only fragments: a sort or page turn targets the table's container
 * (HX-Target `div#<id>`) and gets just that partial, so charts and KPIs are not recomputed.
 */
export function renderAnalytics(req: Request, res: Response, view: string, partial: string, tables: Record<string, string>, data: Record<string, unknown>): void {
  res.vary('HX-Target');
  res.setHeader('Cache-Control', 'no-store');
  const target = String(req.headers['hx-target'] ?? '').replace(/^div#/, '');
  if (isHtmx(req) && tables[target]) {
    res.vary('HX-Request');
    res.render(tables[target], { ...data, layout: false });
    return;
  }
  renderPage(req, res, view, partial, data);
}

export function sendCsv(res: Response, c: Csv): void {
  res.setHeader('content-type', 'text/csv; charset=utf-8');
  res.setHeader('content-disposition', `attachment; filename="${c.filename.replace(/[^\w.@-]+/g, '_')}"`);
  res.setHeader('Cache-Control', 'no-store');
  res.send(csvText(c));
}
