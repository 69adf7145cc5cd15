import { gatewayConfigSchema } from '../config/gateway-config.schema';
import type { Runtime } from '../config/runtime';
import type { Principal } from '../tokens/principal';
import { CapturePolicy } from './capture-policy';

const principal = (o: Partial<Principal> = {}): Principal => ({
  tokenId: 't1', tokenName: 'dev', orgId: 'o1', orgSlug: 'acme', teamId: null, teamPaths: ['acme/support'], ownerUserId: 'u1', ownerEmail: 'dev@acme.test',
  createdById: null, serviceAccountId: null, serviceAccountName: null, scopes: ['proxy'], modelPatterns: null, rpm: null, tpm: null, expiresAt: null,
  revoked: false, disabled: false, ...o,
});

describe('capture policy', () => {
  const policy = (doc: unknown) => {
    const rt = { gatewayConfig: gatewayConfigSchema.parse(doc) } as Runtime;
    return { p: new CapturePolicy(rt), rt };
  };

  it('is off by default; the default, org and grant modes apply in that order of precedence', () => {
    expect(policy({}).p.decide(principal(), 'openai/gpt-x')).toBeNull();
    const { p } = policy({
      capture: { mode: 'metadata', body_cap_bytes: 4096, orgs: { acme: { mode: 'full' }, quiet: { mode: 'full', require_off: true } } },
      grants: [{ src: ['team:acme/support'], models: ['anthropic/**'], capture: 'off' }, { src: ['*'], models: ['**'] }],
    });
    expect(p.decide(principal({ orgSlug: 'other' }), 'openai/gpt-x')).toMatchObject({ mode: 'metadata', capBytes: 4096 });
    expect(p.decide(principal(), 'openai/gpt-x')).toMatchObject({ mode: 'full' });
    expect(p.decide(principal(), 'anthropic/claude-x')).toBeNull();
    expect(p.decide(principal({ orgSlug: 'quiet' }), 'openai/gpt-x')).toBeNull();
  });

  it('when grants disagree the one capturing least wins; require_off beats any grant', () => {
    const { p } = policy({
      capture: { mode: 'off', orgs: { quiet: { require_off: true } } },
      grants: [{ src: ['user:dev@acme.test'], models: ['**'], capture: 'full' }, { src: ['token:t1'], models: ['**'], capture: 'metadata' }],
    });
    expect(p.decide(principal(), 'openai/gpt-x')).toMatchObject({ mode: 'metadata' });
    expect(p.decide(principal({ tokenId: 't2' }), 'openai/gpt-x')).toMatchObject({ mode: 'full' });
    expect(p.decide(principal({ tokenId: 't2', orgSlug: 'quiet' }), 'openai/gpt-x')).toBeNull();
  });

  it('follows a newly activated config', () => {
    const { p, rt } = policy({ capture: { mode: 'full' } });
    const who = principal();
    expect(p.decide(who, null)).toMatchObject({ mode: 'full' });
    rt.gatewayConfig = gatewayConfigSchema.parse({ capture: { mode: 'off' } });
    expect(p.decide(who, null)).toBeNull();
  });

  it('rejects invalid secret patterns', () => {
    expect(gatewayConfigSchema.safeParse({ capture: { secret_patterns: ['(unclosed'] } }).success).toBe(false);
  });
});
