/**
 * Fixed-window counters in memory, per key (the client address). Sign-in attempts are rare, so a
 * Map swept once a window is plenty; with several instances each enforces the limit on its own
 * share of the traffic, which still bounds what one address can try.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private lastSweep = Date.now();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 60_000,
  ) {}

  /** Counts one attempt; returns how long to wait when over the limit. */
  hit(key: string, now = Date.now()): { ok: true } | { ok: false; retryAfterSeconds: number } {
    if (now - this.lastSweep > this.windowMs) {
      for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
      this.lastSweep = now;
    }
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    }
    w.count++;
    if (w.count > this.limit) return { ok: false, retryAfterSeconds: Math.ceil((w.start + this.windowMs - now) / 1000) };
    return { ok: true };
  }
}
