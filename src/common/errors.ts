/**
 * Domain errors carry a code; the one error filter maps codes to HTTP status and answers in the
 * caller's format. Messages are written for the person reading them and never include secrets.
 */
export enum ErrorCode {
  Invalid = 'invalid_request',
  Unauthenticated = 'unauthenticated',
  Forbidden = 'forbidden',
  NotFound = 'not_found',
  Conflict = 'conflict',
  PayloadTooLarge = 'payload_too_large',
  RateLimited = 'rate_limited',
  BudgetExhausted = 'budget_exhausted',
  Overloaded = 'overloaded',
  UpstreamUnreachable = 'upstream_unreachable',
  UpstreamTimeout = 'upstream_timeout',
  Unavailable = 'unavailable',
  Internal = 'internal',
}

const STATUS: Record<ErrorCode, number> = {
  [ErrorCode.Invalid]: 400,
  [ErrorCode.Unauthenticated]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.Conflict]: 409,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.RateLimited]: 429,
  [ErrorCode.BudgetExhausted]: 429,
  [ErrorCode.Overloaded]: 503,
  [ErrorCode.UpstreamUnreachable]: 502,
  [ErrorCode.UpstreamTimeout]: 504,
  [ErrorCode.Unavailable]: 503,
  [ErrorCode.Internal]: 500,
};

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: { retryAfterSeconds?: number; param?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }

  get status(): number {
    return STATUS[this.code];
  }
}

export const notFound = (what: string) => new DomainError(ErrorCode.NotFound, `${what} not found`);
export const invalid = (message: string, param?: string) => new DomainError(ErrorCode.Invalid, message, { param });
export const conflict = (message: string) => new DomainError(ErrorCode.Conflict, message);

export function codeForStatus(status: number): ErrorCode {
  const found = (Object.entries(STATUS) as [ErrorCode, number][]).find(([, s]) => s === status);
  if (found) return found[0];
  return status >= 500 ? ErrorCode.Internal : ErrorCode.Invalid;
}
