import type { Request, Response } from 'express';
import { isHtmx, renderPage } from '../common/htmx';
import { PageQuery, parsePageQuery, tableNav, Page } from '../common/paging';

/** A bounded string from the query string (filters), or undefined. */
export function qs(v: unknown, max = 200): string | undefined {
  return typeof v === 'string' && v.trim() ? v.trim().slice(0, max) : undefined;
}

/**
 * The query a list is rendered with. After an htmx action (revoke, remove…) the list is re-rendered
 * with the filters, sort and page the person was looking at, taken from HX-Current-URL.
 */
export function listQuery(req: Request): Record<string, unknown> {
  if (req.method !== 'GET' && isHtmx(req)) {
    try {
      const u = new URL(String(req.headers['hx-current-url']));
      return Object.fromEntries(u.searchParams.entries());
    } catch {
      return {};
    }
  }
  return req.query as Record<string, unknown>;
}

export function pageQuery(query: Record<string, unknown>, sorts: readonly string[], def: { sort: string; dir: 'asc' | 'desc' }): PageQuery {
  return parsePageQuery(query, sorts, def);
}

export function withNav<T>(basePath: string, query: Record<string, unknown>, page: Page<T>, sorts: readonly string[]) {
  return { page, tbl: tableNav(basePath, query, page, sorts) };
}

/** Page or fragment for a list view (see renderPage). */
export function render(req: Request, res: Response, view: string, partial: string, data: Record<string, unknown>): void {
  renderPage(req, res, view, partial, data);
}

/**
 * After a state change from the UI: htmx gets the refreshed fragment, a plain form post is
 * redirected back (post/redirect/get) so a reload does not resubmit.
 */
export async function afterChange(req: Request, res: Response, backTo: string, fragment: () => Promise<void>): Promise<void> {
  if (isHtmx(req)) {
    // The fragment is the refreshed list, not a created resource (Nest answers POST with 201).
    res.status(200);
    return fragment();
  }
  res.redirect(303, backTo);
}

/** Pages that show a secret must not be cached or kept in history snapshots. */
export function noStore(res: Response) {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
}
