import type { Request, Response } from 'express';
import { HttpException } from '@nestjs/common';
import type { Logger } from 'pino';
import { codeForStatus, DomainError, ErrorCode } from './errors';
import { isHtmx } from './htmx';

/** Which wire format a caller expects its errors in, decided by the route it called. */
export type ErrorFormat = 'anthropic' | 'openai' | 'api' | 'htmx' | 'html';

export function errorFormatFor(req: Request): ErrorFormat {
  const p = req.path;
  if (p.startsWith('/v1/messages')) return 'anthropic';
  if (p.startsWith('/v1/') || p === '/v1') return 'openai';
  if (p.startsWith('/api/') || p === '/healthz' || p === '/readyz' || p === '/metrics') return 'api';
  if (isHtmx(req)) return 'htmx';
  return 'html';
}

const OPENAI_TYPE: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.Invalid]: 'invalid_request_error',
  [ErrorCode.Unauthenticated]: 'authentication_error',
  [ErrorCode.Forbidden]: 'permission_error',
  [ErrorCode.NotFound]: 'not_found_error',
  [ErrorCode.Conflict]: 'invalid_request_error',
  [ErrorCode.PayloadTooLarge]: 'invalid_request_error',
  [ErrorCode.RateLimited]: 'rate_limit_error',
  [ErrorCode.BudgetExhausted]: 'insufficient_quota',
};

const ANTHROPIC_TYPE: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.Invalid]: 'invalid_request_error',
  [ErrorCode.Unauthenticated]: 'authentication_error',
  [ErrorCode.Forbidden]: 'permission_error',
  [ErrorCode.NotFound]: 'not_found_error',
  [ErrorCode.Conflict]: 'invalid_request_error',
  [ErrorCode.PayloadTooLarge]: 'request_too_large',
  [ErrorCode.RateLimited]: 'rate_limit_error',
  [ErrorCode.BudgetExhausted]: 'rate_limit_error',
  [ErrorCode.Overloaded]: 'overloaded_error',
};

export interface NormalizedError {
  status: number;
  code: ErrorCode;
  message: string;
  param?: string;
  headers: Record<string, string>;
}

/** Turns anything thrown into a status and a message that is safe to show. */
export function normalizeError(err: unknown, logger?: Logger, req?: Request): NormalizedError {
  if (err instanceof DomainError) {
    const headers: Record<string, string> = { ...(err.extra.headers ?? {}) };
    if (err.extra.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(err.extra.retryAfterSeconds)));
    return { status: err.status, code: err.code, message: err.message, param: err.extra.param, headers };
  }
  // Nest wraps body-parser errors in HttpException; unwrap so their messages are ours, not the
  // parser's (JSON.parse messages quote the body, which may hold anything).
  if (err instanceof HttpException && typeof (err.cause as { type?: unknown })?.type === 'string') err = err.cause;
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const body = err.getResponse();
    let message = typeof body === 'string' ? body : ((body as { message?: unknown }).message ?? err.message);
    if (Array.isArray(message)) message = message.join('; ');
    if (status === 404 && /^Cannot (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)/.test(String(message))) {
      message = `no route for ${req?.method ?? ''} ${req?.path ?? ''}`.trim();
    }
    return { status, code: codeForStatus(status), message: String(message), headers: {} };
  }
  // body-parser and other Express middleware errors carry `status`/`type`.
  const e = err as { status?: number; statusCode?: number; type?: string; expose?: boolean; message?: string };
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const message =
      e.type === 'entity.too.large' ? 'request body is larger than the configured limit (BODY_LIMIT)'
      : e.type === 'entity.parse.failed' ? 'request body is not valid JSON'
      : e.type === 'encoding.unsupported' ? 'unsupported content encoding'
      : e.expose && e.message ? e.message : 'bad request';
    return { status, code: codeForStatus(status), message, headers: {} };
  }
  logger?.error({ err: serializeUnknown(err), reqId: (req as { id?: string })?.id }, 'unhandled error');
  return { status: 500, code: ErrorCode.Internal, message: 'internal error', headers: {} };
}

function serializeUnknown(err: unknown) {
  if (err instanceof Error) return { type: err.name, message: err.message, stack: err.stack };
  return { message: String(err) };
}

/** Writes the error in the caller's format. Never includes a stack. */
export function sendError(req: Request, res: Response, err: unknown, logger?: Logger): void {
  const n = normalizeError(err, logger, req);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [k, v] of Object.entries(n.headers)) res.setHeader(k, v);
  const format = errorFormatFor(req);
  // A browser that is not signed in is sent to the sign-in page, and comes back afterwards.
  if (n.code === ErrorCode.Unauthenticated && (format === 'html' || format === 'htmx') && (req.path === '/ui' || req.path.startsWith('/ui/'))) {
    const back = format === 'htmx' ? safeBackPath(req.headers['hx-current-url']) : req.method === 'GET' ? req.originalUrl : '/ui';
    const to = `/auth/signin?next=${encodeURIComponent(back)}`;
    if (format === 'htmx') {
      res.setHeader('HX-Redirect', to);
      res.status(401).end();
    } else res.redirect(303, to);
    return;
  }
  res.status(n.status);
  const requestId = (req as { id?: string }).id;
  switch (format) {
    case 'openai':
      res.json({ error: { message: n.message, type: OPENAI_TYPE[n.code] ?? (n.status >= 500 ? 'server_error' : 'invalid_request_error'), param: n.param ?? null, code: n.code } });
      return;
    case 'anthropic':
      res.json({ type: 'error', error: { type: ANTHROPIC_TYPE[n.code] ?? 'api_error', message: n.message }, request_id: requestId });
      return;
    case 'api':
      res.json({ error: { code: n.code, message: n.message, request_id: requestId } });
      return;
    case 'htmx':
      res.render('partials/error', { layout: false, status: n.status, message: n.message, requestId });
      return;
    default:
      res.render('error', { title: `Error ${n.status}`, status: n.status, message: n.message, requestId });
  }
}

function safeBackPath(currentUrl: unknown): string {
  try {
    const u = new URL(String(currentUrl));
    return u.pathname + u.search;
  } catch {
    return '/ui';
  }
}
