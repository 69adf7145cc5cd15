import { RateLimiter } from './rate-limiter';

describe('RateLimiter', () => {
  it('allows `limit` hits per window per key, then asks the caller to wait', () => {
    const rl = new RateLimiter(3, 60_000);
    const t = 1_000_000;
    for (let i = 0; i < 3; i++) expect(rl.hit('a', t).ok).toBe(true);
    const over = rl.hit('a', t + 10_000);
    expect(over).toEqual({ ok: false, retryAfterSeconds: 50 });
    expect(rl.hit('b', t + 10_000).ok).toBe(true);
    expect(rl.hit('a', t + 60_000).ok).toBe(true);
  });
});
