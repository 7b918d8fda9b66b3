import { buildConditions, mergeConditions, type TickOutcome } from "./conditions.js";
import type { AutoscalerStatus } from "./types.js";

/**
 * The `status` the controller writes after a tick, and whether it is worth a
 * write: every change except the QPS reading is written at once; a QPS-only
 * change is written when it moved by more than 5 % or `qpsRefreshMs` passed,
 * so a steady autoscaler does not write its status every 2 s. Pure.
 */
export function buildStatus(
  previous: AutoscalerStatus | undefined,
  outcome: TickOutcome,
  generation: number | undefined,
  nowIso: string,
): AutoscalerStatus {
  const r = outcome.recommendation;
  const status: AutoscalerStatus = {
    observedGeneration: generation,
    currentQPS: r?.qps !== undefined ? Math.round(r.qps * 1000) / 1000 : previous?.currentQPS,
    currentReplicas: r?.currentReplicas ?? previous?.currentReplicas,
    desiredReplicas: r?.desiredReplicas ?? previous?.desiredReplicas,
    lastScaleTime: outcome.scaled ? nowIso : previous?.lastScaleTime,
    panicMode: r?.panicMode ?? false,
    conditions: mergeConditions(previous?.conditions, buildConditions(outcome), nowIso),
  };
  for (const key of Object.keys(status) as (keyof AutoscalerStatus)[]) {
    if (status[key] === undefined) delete status[key];
  }
  return status;
}

const significant = (s: AutoscalerStatus | undefined) =>
  JSON.stringify({
    ...s,
    currentQPS: undefined,
    conditions: s?.conditions?.map((c) => [c.type, c.status, c.reason]),
  });

export function statusNeedsWrite(
  written: AutoscalerStatus | undefined,
  next: AutoscalerStatus,
  lastWriteMs: number,
  nowMs: number,
  qpsRefreshMs: number,
): boolean {
  if (!written) return true;
  if (significant(written) !== significant(next)) return true;
  const a = written.currentQPS;
  const b = next.currentQPS;
  if (a === b) return false;
  if (a === undefined || b === undefined) return true;
  const moved = Math.abs(a - b) > 0.05 * Math.max(Math.abs(a), 1e-9);
  return moved || nowMs - lastWriteMs >= qpsRefreshMs;
}
