import type { Request, Response } from 'express';

/** True for requests htmx made (it sends `HX-Request: true`); they get a partial, not a page. */
export const isHtmx = (req: Request) => req.headers['hx-request'] === 'true';

/**
 * Renders `view` as a full page, or `partial` without the layout for htmx. Sets `Vary: HX-Request`
 * so caches keep the two apart.
 */
export function renderPage(req: Request, res: Response, view: string, partial: string, data: Record<string, unknown>): void {
  res.vary('HX-Request');
  if (isHtmx(req)) res.render(partial, { ...data, layout: false });
  else res.render(view, data);
}
