import { collectDefaultMetrics, Registry } from "prom-client";

/** A registry per service with Node.js runtime metrics (event loop, heap, GC). */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/**
 * counter_type comes from users, so as a label it is limited to the types an
 * operator lists; everything else is counted as "other".
 */
export function counterTypeLabeler(known: readonly string[]): { label: (counterType: string) => string; values: readonly string[] } {
  const set = new Set(known);
  return { label: (counterType) => (set.has(counterType) ? counterType : "other"), values: [...set, "other"] };
}
