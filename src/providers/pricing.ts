import type { PricingConfig } from '../config/gateway-config.schema';

/**
 * Normalised usage. `inputTokens` is all input, including the cached and cache-write parts
 * (OpenAI reports it so; Anthropic reports the three apart and we add them up), so the same
 * query sums input across providers. `reasoningTokens` is part of `outputTokens`.
 */
export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
}

export const ZERO_USAGE: Usage = Object.freeze({ inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 });

/**
 * Cost in integer micro-dollars. Prices are USD per million tokens, so USD/1M × tokens is exactly
 * micro-dollars. Cached input and cache writes use their own price when configured, else the input
 * price. Rounded once, at the end, so per-request rounding error is below one micro-dollar.
 */
export function costMicros(u: Usage, price: PricingConfig | undefined): number {
  if (!price) return 0;
  const cached = Math.min(u.cachedInputTokens, u.inputTokens);
  const cacheWrite = Math.min(u.cacheWriteTokens, u.inputTokens - cached);
  const plainInput = u.inputTokens - cached - cacheWrite;
  const total =
    plainInput * price.input +
    cached * (price.cached_input ?? price.input) +
    cacheWrite * (price.cache_write ?? price.input) +
    u.outputTokens * price.output;
  return Math.round(total);
}
