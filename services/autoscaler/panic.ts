/**
 * Knative KPA panic mode (knative/serving pkg/autoscaler/scaling/autoscaler.go):
 * panic starts when the panic-window demand reaches `threshold` x the replicas
 * serving (Knative: ready pods), is extended every tick the condition still
 * holds, and ends one stable window after it last held. While panicking the
 * count never goes down: it is the highest count wanted since the panic
 * began. Pure.
 */
export interface PanicState {
  /** When panic began (ms). */
  since: number;
  /** Last tick the panic condition held (ms). */
  lastOver: number;
  /** Highest count recommended during this panic. */
  maxReplicas: number;
}

export interface PanicInput {
  state: PanicState | null;
  /** Unrounded demand of the panic window in replicas (panic QPS / target per replica). */
  panicDemand: number;
  /**
   * Replicas already serving. Knative counts ready pods; the decision knows
   * only what it asked for, so the caller leaves out those added within the
   * panic window. Comparing with the full count would let a step the
   * controller is still catching up with look like less than the threshold,
   * and the scale-up rate policies would cut the next step.
   */
  servingReplicas: number;
  threshold: number;
  stableWindowSeconds: number;
  now: number;
}

/** Returns the new panic state; null means stable mode. */
export function updatePanic(input: PanicInput): PanicState | null {
  const { state, now } = input;
  const over = Math.ceil(input.panicDemand - 1e-9) / Math.max(1, input.servingReplicas) >= input.threshold;
  if (over) {
    return state ? { ...state, lastOver: now } : { since: now, lastOver: now, maxReplicas: 0 };
  }
  if (state && state.lastOver + input.stableWindowSeconds * 1000 < now) return null;
  return state;
}

/** In panic the count is the largest wanted so far and never below the current one. */
export function panicReplicas(state: PanicState, wanted: number, current: number): { replicas: number; state: PanicState } {
  const maxReplicas = Math.max(state.maxReplicas, wanted);
  return { replicas: Math.max(maxReplicas, current), state: { ...state, maxReplicas } };
}
