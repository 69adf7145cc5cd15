import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';

export const CSRF_HEADER = 'x-csrf-token';
export const CSRF_FIELD = '_csrf';
export const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Synchronizer-token check: the session's token must come back in the `X-CSRF-Token` header (htmx,
 * fetch) or the `_csrf` form field (plain forms). The field is removed from the body so handlers
 * never see it.
 */
export function csrfTokenValid(req: Request, expected: string | null | undefined): boolean {
  const body = req.body as Record<string, unknown> | undefined;
  const fromBody = body && typeof body === 'object' && typeof body[CSRF_FIELD] === 'string' ? (body[CSRF_FIELD] as string) : undefined;
  if (body && typeof body === 'object' && CSRF_FIELD in body) delete body[CSRF_FIELD];
  const header = req.headers[CSRF_HEADER];
  const got = typeof header === 'string' && header ? header : fromBody;
  if (!expected || !got) return false;
  const a = Buffer.from(got);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
