import type { LoadEstimate } from "./load-estimate.js";

/**
 * Confident scaling: how much load to provision for, when the user left
 * `behavior.scaleDown.stabilizationWindowSeconds` unset. Pure.
 *
 * The HPA waits 300 s before any scale-down because it cannot tell noise
 * from a fall; Knative follows the 60 s average and flaps on noise. Here the
 * load's own noise decides (load-estimate.ts): the band level ± margin ×
 * noise is what the load plausibly does next.
 *  - the panic-window average beyond the tolerance → up to it (as the HPA);
 *  - the whole band above capacity, and the panic window too → up to the
 *    panic-window average without waiting for the tolerance: a steady rise
 *    is not noise;
 *  - the band's top and the panic window both fit in fewer replicas → down
 *    to them at once: a clear fall needs no waiting window;
 *  - otherwise hold: capacity is within the noise.
 * Until the estimate exists (too few uninterrupted readings) only the first
 * rule can act.
 */
export type ConfidenceRule = "ScaleUp" | "ConfidentScaleUp" | "ConfidentScaleDown" | "WithinNoise" | "CollectingHistory";

export interface ConfidenceInput {
  estimate: LoadEstimate | undefined;
  /** Average QPS of the panic window. */
  panicQPS: number;
  currentReplicas: number;
  targetQPSPerReplica: number;
  tolerance: number;
  margin: number;
}

export interface ConfidenceProposal {
  rule: ConfidenceRule;
  /** QPS to provision for; undefined keeps the current replicas. */
  qps?: number;
}

export function confidentProposal(input: ConfidenceInput): ConfidenceProposal {
  const { estimate, panicQPS, currentReplicas, targetQPSPerReplica: target, tolerance, margin } = input;
  const capacity = currentReplicas * target;
  if (panicQPS > capacity * (1 + tolerance)) return { rule: "ScaleUp", qps: panicQPS };
  if (!estimate) return { rule: "CollectingHistory" };
  const low = estimate.level - margin * estimate.noise;
  const high = estimate.level + margin * estimate.noise;
  if (panicQPS > capacity && low > capacity) return { rule: "ConfidentScaleUp", qps: panicQPS };
  const cover = Math.max(panicQPS, high);
  if (cover <= capacity - target) return { rule: "ConfidentScaleDown", qps: cover };
  return { rule: "WithinNoise" };
}
