import type { GatewayConfig } from '../config/gateway-config.schema';
import { PatternSet } from './model-pattern';

/** A grant ready for matching: the subjects it names and its model patterns. */
export interface CompiledGrant {
  subjects: Set<string>;
  patterns: PatternSet;
}

/** User subjects compare case-insensitively (emails); every other subject as written. */
export const normalizeSubject = (s: string): string => (s.startsWith('user:') ? s.toLowerCase() : s);

export function compileGrants(grants: GatewayConfig['grants']): CompiledGrant[] {
  return grants.map((g) => ({ subjects: new Set(g.src.map(normalizeSubject)), patterns: new PatternSet(g.models) }));
}

/** Every `provider/model` id a config defines, in config order. */
export function modelIdsOf(config: Pick<GatewayConfig, 'providers'>): string[] {
  return Object.entries(config.providers).flatMap(([name, p]) => p.models.map((m) => `${name}/${m}`));
}

/**
 * Deny by default: a model is granted when a grant names one of `subjects` and one of its patterns
 * matches; `narrow` (a token's own patterns) must match too. The proxy and the settings preview
 * both decide through this function, so the preview shows exactly what requests will get.
 */
export function grantedModelIds(grants: readonly CompiledGrant[], subjects: ReadonlySet<string>, modelIds: Iterable<string>, narrow?: readonly string[] | null): Set<string> {
  const applicable = grants.filter((g) => [...g.subjects].some((s) => subjects.has(s)));
  const narrowSet = narrow?.length ? new PatternSet(narrow) : null;
  const ids = new Set<string>();
  for (const id of modelIds) {
    if (applicable.some((g) => g.patterns.matches(id)) && (!narrowSet || narrowSet.matches(id))) ids.add(id);
  }
  return ids;
}
