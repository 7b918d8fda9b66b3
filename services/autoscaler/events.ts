import type { TickOutcome } from "./conditions.js";
import type { AutoscalerStatus, Condition, ConditionType } from "./types.js";

/**
 * The Kubernetes Events one tick should record: every scale (as the HPA
 * does: SuccessfulRescale / FailedRescale) and every change of state an
 * operator wants to see in `kubectl describe` (metric lost and back,
 * fallback, panic, invalid spec, HPA conflict). Repeating states do not
 * repeat events. Pure.
 */
export interface EventDraft {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

const find = (s: AutoscalerStatus | undefined, type: ConditionType): Condition | undefined =>
  s?.conditions?.find((c) => c.type === type);

function turned(prev: AutoscalerStatus | undefined, next: AutoscalerStatus, type: ConditionType, status: string, reason?: string): Condition | undefined {
  const now = find(next, type);
  if (!now || now.status !== status || (reason !== undefined && now.reason !== reason)) return undefined;
  const before = find(prev, type);
  if (before && before.status === now.status && before.reason === now.reason) return undefined;
  return now;
}

export function tickEvents(prev: AutoscalerStatus | undefined, next: AutoscalerStatus, outcome: TickOutcome): EventDraft[] {
  const events: EventDraft[] = [];
  const r = outcome.recommendation;
  if (outcome.scaled && r) {
    events.push({ type: "Normal", reason: "SuccessfulRescale", message: `New size: ${r.desiredReplicas}; reason: ${r.reason}: ${r.message}` });
  }
  if (outcome.scaleError && r) {
    events.push({ type: "Warning", reason: "FailedRescale", message: `New size: ${r.desiredReplicas}; error: ${outcome.scaleError}` });
  }
  for (const reason of ["InvalidSpec", "HPAConflict", "FailedGetScale"]) {
    const c = turned(prev, next, "Ready", "False", reason);
    if (c) events.push({ type: "Warning", reason, message: c.message });
  }
  const lost = turned(prev, next, "MetricAvailable", "False");
  if (lost) events.push({ type: "Warning", reason: "FailedGetMetric", message: lost.message });
  const back = turned(prev, next, "MetricAvailable", "True");
  if (back && find(prev, "MetricAvailable")?.status === "False") {
    events.push({ type: "Normal", reason: "MetricRecovered", message: `the metric is available again: ${back.message}` });
  }
  const fb = turned(prev, next, "Fallback", "True");
  if (fb) events.push({ type: "Warning", reason: "FallbackActive", message: `${fb.reason}: ${fb.message}` });
  if (next.panicMode && !prev?.panicMode) {
    events.push({ type: "Normal", reason: "PanicMode", message: `entering panic mode: ${r?.message ?? ""}` });
  }
  return events;
}
