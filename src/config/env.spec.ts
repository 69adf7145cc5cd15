import { ConfigError, loadEnv } from './env';

describe('loadEnv', () => {
  it('applies defaults', () => {
    const env = loadEnv({});
    expect(env.PORT).toBe(3000);
    expect(env.HOST).toBe('127.0.0.1');
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.SLUICE_DATA_DIR).toMatch(/\.sluice$/);
    expect(env.BODY_LIMIT).toBe(10 * 1024 * 1024);
  });

  it('names the variable and the reason, never the value', () => {
    expect(() => loadEnv({ PORT: 'abc' })).toThrow(ConfigError);
    try {
      loadEnv({ PORT: 'abc', DATABASE_URL: 'mysql://secret-pw@x/db', SLUICE_SECRET_KEY: 'hunter2' });
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toContain('PORT: must be a number');
      expect(msg).toContain('DATABASE_URL: must be a postgres:// or postgresql:// URL');
      expect(msg).toContain('SLUICE_SECRET_KEY: must be at least 32 characters');
      expect(msg).not.toContain('abc');
      expect(msg).not.toContain('secret-pw');
      expect(msg).not.toContain('hunter2');
      expect(msg.split('\n')).toHaveLength(1);
    }
  });

  it('rejects out-of-range ports and parses sizes', () => {
    expect(() => loadEnv({ PORT: '70000' })).toThrow(/PORT: must be between 1 and 65535/);
    expect(loadEnv({ BODY_LIMIT: '512kb' }).BODY_LIMIT).toBe(512 * 1024);
    expect(() => loadEnv({ BODY_LIMIT: 'lots' })).toThrow(/BODY_LIMIT/);
  });

  it('treats empty values as unset', () => {
    expect(loadEnv({ PORT: '', DATABASE_URL: '' }).PORT).toBe(3000);
  });
});
