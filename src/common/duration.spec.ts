import { parseDuration, parseExpiry } from './duration';
import { compactNumber, formatUsd } from './views';

describe('durations', () => {
  it('parses units', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('2w')).toBe(14 * 86_400_000);
    expect(() => parseDuration('5 years')).toThrow(/30d/);
    expect(() => parseDuration('0d')).toThrow();
  });
  it('parses expiries relative to now or as future dates', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(parseExpiry('1d', now).toISOString()).toBe('2026-01-02T00:00:00.000Z');
    expect(parseExpiry('2027-01-01T00:00:00Z', now).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(() => parseExpiry('2020-01-01', now)).toThrow(/future/);
    expect(() => parseExpiry('soon', now)).toThrow(/duration/);
  });
});

describe('number formatting', () => {
  it('compacts', () => {
    expect(compactNumber(950)).toBe('950');
    expect(compactNumber(1234)).toBe('1.2k');
    expect(compactNumber(1_200_000)).toBe('1.2M');
    expect(compactNumber(25_000_000)).toBe('25M');
  });
  it('formats micro-dollars', () => {
    expect(formatUsd(3_410_000)).toBe('$3.41');
    expect(formatUsd(4_200)).toBe('$0.0042');
    expect(formatUsd(0)).toBe('$0.00');
    expect(formatUsd(1_234_567_890)).toBe('$1,234.57');
  });
});
