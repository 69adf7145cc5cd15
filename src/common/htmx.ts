import type { Request, Response } from 'express';

/**
 * True for requests htmx made for a fragment; they get a partial, not a page. A history restore
 * (back/forward after a pushed URL) or any request htmx aims at the whole body asks for the page:
 * htmx 4 marks those with `HX-History-Restore-Request` and `HX-Request-Type: full`.
 */
export const isHtmx = (req: Request) =>
  req.headers['hx-request'] === 'true' && req.headers['hx-history-restore-request'] !== 'true' && req.headers['hx-request-type'] !== 'full';

/**
 * Renders `view` as a full page, or `partial` without the layout for htmx. Sets `Vary` on the
 * headers that decide between the two so caches keep them apart.
 */
export function renderPage(req: Request, res: Response, view: string, partial: string, data: Record<string, unknown>): void {
  res.vary('HX-Request');
  res.vary('HX-Request-Type');
  res.vary('HX-History-Restore-Request');
  if (isHtmx(req)) res.render(partial, { ...data, layout: false });
  else res.render(view, data);
}
