import { validateGatewayConfig } from './gateway-config.schema';

/** The document from the gateway issue, exactly as written there. */
export const ISSUE_EXAMPLE = {
  providers: {
    openai: { baseurl: 'https://api.openai.com', apikey: 'env:OPENAI_API_KEY', models: ['gpt-4.1', 'gpt-4.1-mini'], compatibility: { openai_chat: true } },
    anthropic: { baseurl: 'https://api.anthropic.com', apikey: '…', authorization: 'x-api-key', models: ['claude-sonnet-4-5'], compatibility: { anthropic_messages: true } },
  },
  pricing: {
    'openai/gpt-4.1': { input: 2.0, output: 8.0, cached_input: 0.5 },
    'anthropic/claude-sonnet-4-5': { input: 3.0, output: 15.0, cached_input: 0.3, cache_write: 3.75 },
  },
  aliases: { fast: 'openai/gpt-4.1-mini' },
  grants: [{ src: ['org:acme'], models: ['anthropic/claude-*'] }, { src: ['*'], models: ['openai/**'] }],
};

describe('gateway config schema', () => {
  it('accepts the documented example as-is', () => {
    const r = validateGatewayConfig(ISSUE_EXAMPLE);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.config.providers.openai.authorization).toBe('bearer');
      expect(r.config.providers.anthropic.authorization).toBe('x-api-key');
    }
  });

  it('accepts unknown top-level keys', () => {
    expect(validateGatewayConfig({ ...ISSUE_EXAMPLE, future_feature: { x: 1 } }).ok).toBe(true);
  });

  it('reports errors with their JSON path', () => {
    const r = validateGatewayConfig({ providers: { openai: { baseurl: 'not a url', models: [] } }, grants: [{ src: ['bogus'], models: ['x'] }] });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      const paths = r.issues.map((i) => i.path);
      expect(paths).toContain('providers.openai.baseurl');
      expect(paths).toContain('grants.0.src.0');
    }
  });

  it('checks aliases point at configured models', () => {
    const r = validateGatewayConfig({ ...ISSUE_EXAMPLE, aliases: { fast: 'openai/gpt-9' } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0]).toEqual({ path: 'aliases.fast', message: 'provider "openai" has no model "gpt-9"' });
  });
});
