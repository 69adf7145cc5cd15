import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Express, Request, Response } from 'express';
import type { Logger } from 'pino';
import { sendError } from '../common/error-response';
import { DomainError, ErrorCode } from '../common/errors';
import { trackRequest } from '../common/request-context.middleware';
import type { Endpoint } from './usage-tap';
import type { ProxyService } from './proxy.service';

/** The model routes, by method and exact path (anything else goes through Express and Nest). */
const POST_ROUTES: Record<string, Endpoint> = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
  '/v1/responses': 'responses',
  '/v1/messages': 'messages',
  '/v1/messages/count_tokens': 'count_tokens',
};

/**
 * The hot path without the framework: requests for the model routes are answered straight from
 * the HTTP server's request event, skipping Express's middleware chain and router and Nest's
 * router (a tenth of the gateway's CPU per request). They get the same treatment as on the slow
 * path: a request id and an access-log line, a JSON body read under BODY_LIMIT, the same
 * ProxyService call, errors through the same sendError in the endpoint's format. Anything this
 * path does not handle exactly as Express would (a compressed body, another charset or media
 * type, a trailing slash, HEAD) falls through to the application unchanged.
 */
export function installFastPath(server: Server, app: Express, proxy: ProxyService, logger: Logger, bodyLimit: number): void {
  const listeners = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  server.removeAllListeners('request');
  const fallback = (req: IncomingMessage, res: ServerResponse) => {
    for (const l of listeners) l.call(server, req, res);
  };
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (req.method === 'POST') {
      const endpoint = POST_ROUTES[path];
      if (endpoint && jsonBody(req)) return serve(req, res, (r, s) => readJson(r, bodyLimit).then((body) => {
        r.body = body;
        return proxy.handle(endpoint, r, s);
      }));
    } else if (req.method === 'GET' && path === '/v1/models') {
      return serve(req, res, (r, s) => proxy.listModels(r, s));
    }
    fallback(req, res);
  });

  /** Dresses the request as Express does (its prototypes), then runs `fn` with the error handling of the slow path. */
  function serve(req: IncomingMessage, res: ServerResponse, fn: (req: Request, res: Response) => Promise<void>): void {
    Object.setPrototypeOf(req, app.request);
    Object.setPrototypeOf(res, app.response);
    const r = req as Request;
    const s = res as Response;
    r.res = s;
    s.req = r;
    s.locals = Object.create(null);
    trackRequest(logger, r, s);
    fn(r, s).catch((e) => sendError(r, s, e, logger));
  }
}

/**
 * True when the body is JSON this path reads exactly as `express.json()` would: JSON media type,
 * UTF-8 (or no charset), not compressed.
 */
function jsonBody(req: IncomingMessage): boolean {
  const enc = req.headers['content-encoding'];
  if (enc !== undefined && enc.toLowerCase() !== 'identity') return false;
  const ct = req.headers['content-type'];
  if (!ct) return false;
  const [type, ...params] = ct.split(';');
  const media = type.trim().toLowerCase();
  if (media !== 'application/json' && !/^application\/[^/\s]+\+json$/.test(media)) return false;
  for (const p of params) {
    const [k, v] = p.split('=');
    if (k.trim().toLowerCase() === 'charset' && !/^"?utf-?8"?$/i.test((v ?? '').trim())) return false;
  }
  return true;
}

const tooLarge = () => new DomainError(ErrorCode.PayloadTooLarge, 'request body is larger than the configured limit (BODY_LIMIT)');
const notJson = () => new DomainError(ErrorCode.Invalid, 'request body is not valid JSON');

/**
 * Reads the whole body (at most `limit` bytes) and parses it as `express.json()` does (strict: an
 * object or array; empty is {}). A body refused for its size is still read to its end before the
 * error is answered, as body-parser does, so the client gets the answer rather than a reset.
 */
function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = req.headers['content-length'];
    const expected = declared === undefined ? -1 : Number(declared);
    const chunks: Buffer[] = [];
    let size = 0;
    let failure: DomainError | null = expected > limit ? tooLarge() : null;
    const fail = (e: DomainError) => {
      failure ??= e;
      chunks.length = 0;
    };
    req.on('data', (c: Buffer) => {
      if (failure) return;
      size += c.length;
      if (size > limit) return fail(tooLarge());
      chunks.push(c);
    });
    req.once('error', () => fail(new DomainError(ErrorCode.Invalid, 'request body could not be read')));
    // The client went away mid-body: nobody is left to answer, but the promise must settle.
    req.once('close', () => {
      if (!req.complete) reject(failure ?? new DomainError(ErrorCode.Invalid, 'request aborted'));
    });
    req.once('end', () => {
      if (failure) return reject(failure);
      if (expected >= 0 && size !== expected) return reject(new DomainError(ErrorCode.Invalid, 'request size did not match content length'));
      let text = (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)).toString('utf8');
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (!text.length) return resolve({});
      const first = /^[\x20\x09\x0a\x0d]*(.)/.exec(text)?.[1];
      if (first !== '{' && first !== '[') return reject(notJson());
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(notJson());
      }
    });
  });
}
