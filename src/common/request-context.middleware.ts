import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives each request an id (a caller's `x-request-id` when it is sane, else a new UUID), echoes it
 * back, and writes one access-log line when the response ends. Only the path is logged: query
 * strings and headers can carry credentials.
 */
export function requestContext(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction) => {
    const start = trackRequest(logger, req, res);
    if (req.path === '/ui' || req.path.startsWith('/ui/')) serverTiming(res, start);
    next();
  };
}

/**
 * `Server-Timing: app;dur=<ms>` on the UI's responses: the time from the request's arrival to its
 * headers, which for a rendered page or JSON is all of its work (reads, rendering) but sending.
 * Browsers show it in their network panel; the pages bench measures with it.
 */
function serverTiming(res: Response, start: bigint): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: Response, ...args: unknown[]) {
    if (!this.headersSent) this.setHeader('Server-Timing', `app;dur=${(Number(process.hrtime.bigint() - start) / 1e6).toFixed(3)}`);
    return (writeHead as (...a: unknown[]) => Response).apply(this, args);
  } as typeof res.writeHead;
}

/** The request id and the access-log line, for requests that skip Express's middleware (the model routes). */
export function trackRequest(logger: Logger, req: Request, res: Response): bigint {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : randomUUID();
  (req as Request & { id: string }).id = id;
  res.setHeader('x-request-id', id);
  const start = process.hrtime.bigint();
  res.on('close', () => {
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const level = res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info';
    if (req.path === '/healthz' && res.statusCode === 200) return;
    logger[level]({ reqId: id, method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 100) / 100, aborted: !res.writableFinished }, 'request');
  });
  return start;
}
