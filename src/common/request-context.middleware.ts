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
    trackRequest(logger, req, res);
    next();
  };
}

/** The request id and the access-log line, for requests that skip Express's middleware (the model routes). */
export function trackRequest(logger: Logger, req: Request, res: Response): void {
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
}
