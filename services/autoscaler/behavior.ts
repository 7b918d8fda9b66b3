import type { ScalingRules } from "./types.js";

/**
 * HPA v2 `behavior`, ported from the Kubernetes horizontal pod autoscaler
 * (pkg/controller/podautoscaler/horizontal.go):
 * `stabilizeRecommendationWithBehaviors` and
 * `convertDesiredReplicasWithBehaviorRate`. Pure: the recommendation and
 * scale-event histories come in as values and the new history goes out.
 * Times are milliseconds.
 */

export interface TimedRecommendation {
  at: number;
  replicas: number;
}

/** A change of the target's replicas made by this autoscaler: + up, - down. */
export interface ScaleEvent {
  at: number;
  change: number;
}

export interface Stabilized {
  replicas: number;
  /** The history with this tick's unstabilized recommendation recorded. */
  recommendations: TimedRecommendation[];
  /** True when the window held the count above (down) or below (up) the recommendation. */
  stabilized: "up" | "down" | false;
}

/**
 * The "safest" count over the stabilization windows: never more than the
 * lowest recommendation in the scale-up window, never less than the highest
 * in the scale-down window, starting from the current count.
 */
export function stabilize(
  history: readonly TimedRecommendation[],
  desired: number,
  current: number,
  up: ScalingRules,
  down: ScalingRules,
  now: number,
): Stabilized {
  const upCutoff = now - up.stabilizationWindowSeconds * 1000;
  const downCutoff = now - down.stabilizationWindowSeconds * 1000;
  let upRecommendation = desired;
  let downRecommendation = desired;
  for (const rec of history) {
    if (rec.at > upCutoff) upRecommendation = Math.min(rec.replicas, upRecommendation);
    if (rec.at > downCutoff) downRecommendation = Math.max(rec.replicas, downRecommendation);
  }
  let replicas = current;
  if (replicas < upRecommendation) replicas = upRecommendation;
  if (replicas > downRecommendation) replicas = downRecommendation;

  const oldest = Math.min(upCutoff, downCutoff);
  const recommendations = history.filter((rec) => rec.at > oldest);
  recommendations.push({ at: now, replicas: desired });

  let stabilized: Stabilized["stabilized"] = false;
  if (replicas !== desired) stabilized = replicas > desired ? "down" : "up";
  return { replicas, recommendations, stabilized };
}

/** Net replicas added (positive events) or removed (negative) within the last period. */
function changeInPeriod(events: readonly ScaleEvent[], periodSeconds: number, now: number, sign: 1 | -1): number {
  const cutoff = now - periodSeconds * 1000;
  let total = 0;
  for (const e of events) {
    if (e.at > cutoff && Math.sign(e.change) === sign) total += Math.abs(e.change);
  }
  return total;
}

/** Replicas this autoscaler added within the last `seconds`. */
export function addedWithin(events: readonly ScaleEvent[], seconds: number, now: number): number {
  return changeInPeriod(events, seconds, now, 1);
}

/** Replicas at the start of the policy's period: the current count with that period's changes undone. */
function replicasAtPeriodStart(current: number, events: readonly ScaleEvent[], periodSeconds: number, now: number): number {
  return current - changeInPeriod(events, periodSeconds, now, 1) + changeInPeriod(events, periodSeconds, now, -1);
}

/** Highest count the scale-up policies allow now (HPA `calculateScaleUpLimitWithScalingRules`). */
export function scaleUpLimit(current: number, events: readonly ScaleEvent[], rules: ScalingRules, now: number): number {
  if (rules.selectPolicy === "Disabled") return current;
  const pick = rules.selectPolicy === "Min" ? Math.min : Math.max;
  let result = rules.selectPolicy === "Min" ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  for (const policy of rules.policies) {
    const periodStart = replicasAtPeriodStart(current, events, policy.periodSeconds, now);
    const proposed =
      policy.type === "Pods"
        ? periodStart + policy.value
        : Math.ceil(periodStart * (1 + policy.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

/** Lowest count the scale-down policies allow now (HPA `calculateScaleDownLimitWithBehaviors`). */
export function scaleDownLimit(current: number, events: readonly ScaleEvent[], rules: ScalingRules, now: number): number {
  if (rules.selectPolicy === "Disabled") return current;
  const pick = rules.selectPolicy === "Min" ? Math.max : Math.min;
  let result = rules.selectPolicy === "Min" ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  for (const policy of rules.policies) {
    const periodStart = replicasAtPeriodStart(current, events, policy.periodSeconds, now);
    const proposed =
      policy.type === "Pods"
        ? periodStart - policy.value
        : Math.floor(periodStart * (1 - policy.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

export type LimitReason = "ScaleUpLimit" | "ScaleDownLimit" | "TooManyReplicas" | "TooFewReplicas" | "ScaleUpDisabled" | "ScaleDownDisabled";

export interface RateLimited {
  replicas: number;
  /** Why the count was cut, when it was. */
  limitedBy?: LimitReason;
}

export interface RateOptions {
  min: number;
  max: number;
  /** Skip the scale-up rate policies (panic mode); selectPolicy Disabled still holds. */
  ignoreScaleUpPolicies?: boolean;
}

/** Applies the rate policies of the direction of travel, then min/max (HPA order). */
export function limitRate(
  current: number,
  desired: number,
  events: readonly ScaleEvent[],
  up: ScalingRules,
  down: ScalingRules,
  now: number,
  options: RateOptions,
): RateLimited {
  if (desired > current) {
    if (up.selectPolicy === "Disabled") return { replicas: current, limitedBy: "ScaleUpDisabled" };
    let limit = options.ignoreScaleUpPolicies ? Number.MAX_SAFE_INTEGER : scaleUpLimit(current, events, up, now);
    if (limit < current) limit = current;
    const maxAllowed = Math.min(options.max, limit);
    const reason: LimitReason = options.max > limit ? "ScaleUpLimit" : "TooManyReplicas";
    if (desired > maxAllowed) return { replicas: maxAllowed, limitedBy: reason };
  } else if (desired < current) {
    if (down.selectPolicy === "Disabled") return { replicas: current, limitedBy: "ScaleDownDisabled" };
    let limit = scaleDownLimit(current, events, down, now);
    if (limit > current) limit = current;
    const minAllowed = Math.max(options.min, limit);
    const reason: LimitReason = options.min < limit ? "ScaleDownLimit" : "TooFewReplicas";
    if (desired < minAllowed) return { replicas: minAllowed, limitedBy: reason };
  }
  return { replicas: desired };
}

/** Records a scale change and drops events older than the longest policy period (and than `keepSeconds`). */
export function recordScaleEvent(
  events: readonly ScaleEvent[],
  from: number,
  to: number,
  now: number,
  up: ScalingRules,
  down: ScalingRules,
  keepSeconds = 0,
): ScaleEvent[] {
  const longest = Math.max(1, keepSeconds, ...up.policies.map((p) => p.periodSeconds), ...down.policies.map((p) => p.periodSeconds));
  const kept = events.filter((e) => e.at > now - longest * 1000);
  if (to !== from) kept.push({ at: now, change: to - from });
  return kept;
}
