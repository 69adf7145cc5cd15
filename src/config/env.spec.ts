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

  it('validates sign-in settings together, naming the variable and never the value', () => {
    expect(() => loadEnv({ OIDC_ISSUER: 'https://idp.example.com' })).toThrow(/OIDC_CLIENT_ID: required when OIDC_ISSUER is set; OIDC_CLIENT_SECRET: required/);
    expect(() => loadEnv({ OIDC_CLIENT_SECRET: 'hunter2-secret' })).toThrow(/OIDC_ISSUER: required/);
    try {
      loadEnv({ OIDC_GROUP_MAP: '{"g":"owner-of-everything"}', OIDC_CLIENT_SECRET: 'hunter2-secret' });
    } catch (e) {
      expect((e as Error).message).toContain('OIDC_GROUP_MAP');
      expect((e as Error).message).not.toContain('hunter2');
    }
    const env = loadEnv({
      OIDC_ISSUER: 'https://idp.example.com/realms/acme',
      OIDC_CLIENT_ID: 'sluice',
      OIDC_CLIENT_SECRET: 's3cret',
      SLUICE_ADMINS: 'Ada@Example.com, bob@example.com',
      OIDC_ADMIN_GROUPS: 'admins,ops',
      OIDC_GROUP_MAP: '{"acme-devs":"org:acme","leads":"org:acme:admin","ml":"team:acme/ml","root":"admin"}',
      SESSION_IDLE_TIMEOUT: '30m',
    });
    expect(env.SLUICE_ADMINS).toEqual(['ada@example.com', 'bob@example.com']);
    expect(env.OIDC_ADMIN_GROUPS).toEqual(['admins', 'ops']);
    expect(env.SESSION_IDLE_TIMEOUT).toBe(30 * 60_000);
    expect(env.SESSION_MAX_AGE).toBe(7 * 86_400_000);
    expect(env.OIDC_SCOPES).toBe('openid email profile');
    expect(() => loadEnv({ SESSION_IDLE_TIMEOUT: '8d' })).toThrow(/SESSION_IDLE_TIMEOUT: must not be longer than SESSION_MAX_AGE/);
    expect(() => loadEnv({ OIDC_SCOPES: 'email profile' })).toThrow(/OIDC_SCOPES: must include openid/);
    expect(() => loadEnv({ SLUICE_ADMINS: 'not-an-email' })).toThrow(/SLUICE_ADMINS/);
  });
});
