import type { FallbackSpec } from "./types.js";

/**
 * What to do while the metric cannot be read (KEDA's `fallback`): `hold`
 * keeps the current replicas; `fixed` keeps them for the first
 * `failureThreshold - 1` consecutive failures and then recommends
 * `fallback.replicas`. Pure.
 */
export type FallbackAction =
  | { kind: "hold"; reason: "Hold" | "BelowFailureThreshold" }
  | { kind: "fixed"; replicas: number };

export function fallbackAction(spec: FallbackSpec, consecutiveFailures: number): FallbackAction {
  if (spec.mode === "hold" || spec.replicas === undefined) return { kind: "hold", reason: "Hold" };
  if (consecutiveFailures < spec.failureThreshold) return { kind: "hold", reason: "BelowFailureThreshold" };
  return { kind: "fixed", replicas: spec.replicas };
}
