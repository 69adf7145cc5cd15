import { callerSecrets, REDACTED, Redactor } from './redaction';

describe('redaction', () => {
  const red = new Redactor(['sk-sluice-CALLERTOKEN0123456789abcdefghijkl012345', 'provider-key-literal-0001'], [/corp-secret-[0-9a-f]{8}/g]);

  it('replaces credential headers by name and secrets inside other headers', () => {
    const h = red.headers({
      Authorization: 'Bearer whatever',
      'x-api-key': 'k',
      cookie: 'a=b',
      'set-cookie': ['a=1', 'b=2'],
      'proxy-authorization': 'Basic x',
      'x-auth-token': 't',
      'x-ratelimit-remaining-tokens': '9000',
      'x-note': 'see corp-secret-0a1b2c3d now',
      'user-agent': 'claude-cli/2.1.90',
    });
    expect(h).toEqual({
      authorization: REDACTED,
      'x-api-key': REDACTED,
      cookie: REDACTED,
      'set-cookie': REDACTED,
      'proxy-authorization': REDACTED,
      'x-auth-token': REDACTED,
      'x-ratelimit-remaining-tokens': '9000',
      'x-note': `see ${REDACTED} now`,
      'user-agent': 'claude-cli/2.1.90',
    });
  });

  it('replaces literals, known key formats and configured patterns in text', () => {
    const text = [
      'token sk-sluice-CALLERTOKEN0123456789abcdefghijkl012345 and provider-key-literal-0001',
      'openai sk-proj-abcdefghijklmnopqrstuvwxyz0123',
      'anthropic sk-ant-api03-abcdefghijklmnopqrstuvwxyz',
      'header Authorization: Bearer abcdefghijklmnop.qrstuv',
      'aws AKIAABCDEFGHIJKLMNOP github ghp_abcdefghijklmnopqrstuvwxyz0123456789',
      'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U',
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----',
      'custom corp-secret-deadbeef',
      'plain words stay: sk-learn is a name, tokens: 1200',
    ].join('\n');
    const out = red.text(text);
    for (const s of ['CALLERTOKEN', 'provider-key-literal', 'abcdefghijklmnopqrstuvwxyz0123', 'api03', 'abcdefghijklmnop.qrstuv', 'AKIAABCDEFGHIJKLMNOP', 'ghp_', 'eyJhbGci', 'MIIEow', 'deadbeef']) expect(out).not.toContain(s);
    expect(out).toContain('plain words stay: sk-learn is a name, tokens: 1200');
  });

  it('reads the caller credential from either header', () => {
    expect(callerSecrets({ authorization: 'Bearer sk-sluice-abc' })).toEqual(['sk-sluice-abc']);
    expect(callerSecrets({ 'x-api-key': ' sk-sluice-def ' })).toEqual(['sk-sluice-def']);
    expect(callerSecrets({})).toEqual([]);
  });
});
