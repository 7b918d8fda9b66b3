import type { Recommendation } from "./decide.js";
import type { Condition, ConditionType } from "./types.js";

/**
 * The status conditions of a CounterAutoscaler, derived from what one tick
 * saw and did. Pure: the same outcome always gives the same conditions;
 * `mergeConditions` keeps lastTransitionTime when a status did not change.
 */
export interface TickOutcome {
  specErrors?: string[];
  /** Name of an HPA that already targets the same Deployment. */
  hpaConflict?: string;
  /** Reading the target's scale subresource failed. */
  targetError?: string;
  recommendation?: Recommendation;
  /** Writing the scale subresource failed. */
  scaleError?: string;
  /** The target was scaled this tick. */
  scaled?: boolean;
}

export type ConditionDraft = Omit<Condition, "lastTransitionTime">;

const c = (type: ConditionType, status: Condition["status"], reason: string, message: string): ConditionDraft => ({
  type,
  status,
  reason,
  message,
});

export const CONDITION_TYPES: readonly ConditionType[] = [
  "Ready",
  "ScalingActive",
  "AbleToScale",
  "ScalingLimited",
  "MetricAvailable",
  "Fallback",
];

export function buildConditions(outcome: TickOutcome): ConditionDraft[] {
  if (outcome.specErrors && outcome.specErrors.length > 0) {
    const msg = `invalid spec: ${outcome.specErrors.join("; ")}`;
    return [
      c("Ready", "False", "InvalidSpec", msg),
      c("ScalingActive", "False", "InvalidSpec", msg),
      c("AbleToScale", "Unknown", "InvalidSpec", msg),
      c("ScalingLimited", "Unknown", "InvalidSpec", msg),
      c("MetricAvailable", "Unknown", "InvalidSpec", msg),
      c("Fallback", "Unknown", "InvalidSpec", msg),
    ];
  }
  if (outcome.hpaConflict) {
    const msg = `HorizontalPodAutoscaler ${outcome.hpaConflict} already scales this Deployment; refusing to fight it (delete one of the two)`;
    return [
      c("Ready", "False", "HPAConflict", msg),
      c("ScalingActive", "False", "HPAConflict", msg),
      c("AbleToScale", "False", "HPAConflict", msg),
      c("ScalingLimited", "Unknown", "HPAConflict", msg),
      c("MetricAvailable", "Unknown", "HPAConflict", msg),
      c("Fallback", "Unknown", "HPAConflict", msg),
    ];
  }
  if (outcome.targetError || !outcome.recommendation) {
    const msg = `the scale subresource of the target could not be read: ${outcome.targetError ?? "unknown error"}`;
    return [
      c("Ready", "False", "FailedGetScale", msg),
      c("ScalingActive", "False", "FailedGetScale", msg),
      c("AbleToScale", "False", "FailedGetScale", msg),
      c("ScalingLimited", "Unknown", "FailedGetScale", msg),
      c("MetricAvailable", "Unknown", "FailedGetScale", msg),
      c("Fallback", "Unknown", "FailedGetScale", msg),
    ];
  }

  const r = outcome.recommendation;
  const out: ConditionDraft[] = [];

  if (outcome.scaleError) out.push(c("Ready", "False", "FailedRescale", `scaling failed: ${outcome.scaleError}`));
  else if (r.reason === "Paused") out.push(c("Ready", "True", "Paused", r.message));
  else if (r.fallbackActive) out.push(c("Ready", "True", "Fallback", r.message));
  else out.push(c("Ready", "True", "Reconciled", r.message));

  if (r.reason === "Paused") out.push(c("ScalingActive", "False", "Paused", r.message));
  else if (r.reason === "ScalingDisabled") out.push(c("ScalingActive", "False", "ScalingDisabled", r.message));
  else if (!r.metricAvailable) out.push(c("ScalingActive", "False", "FailedGetMetric", r.message));
  else out.push(c("ScalingActive", "True", "ValidMetricFound", r.message));

  if (outcome.scaleError) out.push(c("AbleToScale", "False", "FailedUpdateScale", outcome.scaleError));
  else if (outcome.scaled) out.push(c("AbleToScale", "True", "SucceededRescale", r.message));
  else if (r.reason === "ScaleDownStabilized") out.push(c("AbleToScale", "True", "ScaleDownStabilized", r.message));
  else out.push(c("AbleToScale", "True", "ReadyForNewScale", "the last scale time was sufficiently old to permit a new scale"));

  if (r.limitedBy) out.push(c("ScalingLimited", "True", r.limitedBy, r.message));
  else if (r.reason === "AboveMaxReplicas") out.push(c("ScalingLimited", "True", "TooManyReplicas", r.message));
  else if (r.reason === "BelowMinReplicas") out.push(c("ScalingLimited", "True", "TooFewReplicas", r.message));
  else out.push(c("ScalingLimited", "False", "DesiredWithinRange", "the desired count is within the acceptable range"));

  if (r.metricAvailable) out.push(c("MetricAvailable", "True", "QuerySucceeded", `QPS ${r.qps}`));
  else out.push(c("MetricAvailable", "False", "QueryFailed", `${r.metricError ?? "query failed"} (${r.consecutiveFailures} consecutive failures)`));

  if (r.metricAvailable) out.push(c("Fallback", "False", "MetricAvailable", "the metric is available; no fallback"));
  else if (r.reason === "Fallback") out.push(c("Fallback", "True", "FixedReplicas", r.message));
  else if (r.fallbackActive) out.push(c("Fallback", "True", "Hold", r.message));
  else out.push(c("Fallback", "False", "BelowFailureThreshold", r.message));

  return out;
}

/** New conditions with lastTransitionTime carried over from `old` when the status is unchanged. */
export function mergeConditions(old: readonly Condition[] | undefined, drafts: readonly ConditionDraft[], nowIso: string): Condition[] {
  return drafts.map((d) => {
    const prev = old?.find((o) => o.type === d.type);
    const lastTransitionTime = prev && prev.status === d.status ? prev.lastTransitionTime : nowIso;
    return { ...d, lastTransitionTime };
  });
}
