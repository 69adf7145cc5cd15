import { crc32, generateToken, hashToken, isWellFormedToken, TOKEN_LENGTH, TOKEN_PREFIX } from './token-format';

describe('token format', () => {
  it('generates distinct well-formed tokens with a checksum', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const t = generateToken();
      expect(t.secret.startsWith(TOKEN_PREFIX)).toBe(true);
      expect(t.secret).toHaveLength(TOKEN_LENGTH);
      expect(isWellFormedToken(t.secret)).toBe(true);
      expect(t.hash).toBe(hashToken(t.secret));
      expect(t.secret.startsWith(t.displayPrefix)).toBe(true);
      expect(t.displayPrefix.length).toBeLessThan(20);
      seen.add(t.secret);
    }
    expect(seen.size).toBe(500);
  });

  it('rejects typos, wrong prefixes and wrong lengths', () => {
    const { secret } = generateToken();
    const last = secret[secret.length - 8];
    const typo = secret.slice(0, -8) + (last === 'a' ? 'b' : 'a') + secret.slice(-7);
    expect(isWellFormedToken(typo)).toBe(false);
    expect(isWellFormedToken('sk-other-' + secret.slice(TOKEN_PREFIX.length))).toBe(false);
    expect(isWellFormedToken(secret + 'x')).toBe(false);
    expect(isWellFormedToken('')).toBe(false);
  });

  it('computes the standard CRC-32', () => {
    expect(crc32('123456789')).toBe(0xcbf43926);
  });
});
