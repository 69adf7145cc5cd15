// Minimal typings for the two untyped passport packages Sluice uses (only what src/auth calls).
declare module 'passport' {
  import type { Request, Response, NextFunction } from 'express';
  type Callback = (err: unknown, user?: unknown, info?: unknown, status?: number) => void;
  export class Passport {
    use(name: string, strategy: unknown): this;
    authenticate(name: string, options: Record<string, unknown>, callback: Callback): (req: Request, res: Response, next: NextFunction) => void;
  }
}

declare module 'passport-openidconnect' {
  import type { Request } from 'express';
  interface OAuth2Like {
    getOAuthAccessToken(code: string, params: Record<string, string>, cb: (err: unknown, accessToken?: string, refreshToken?: string, results?: Record<string, unknown>) => void): void;
  }
  class Strategy {
    constructor(options: Record<string, unknown>, verify: (...args: any[]) => void);
    name: string;
    protected _oauth2: OAuth2Like;
    authenticate(req: Request, options?: Record<string, unknown>): void;
    authorizationParams(options: Record<string, unknown>): Record<string, string>;
    fail(challenge: unknown, status?: number): void;
    error(err: unknown): void;
  }
  export = Strategy;
}
