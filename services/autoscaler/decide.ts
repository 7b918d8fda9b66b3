import {
  addedWithin,
  limitRate,
  recordScaleEvent,
  stabilize,
  type LimitReason,
  type ScaleEvent,
  type TimedRecommendation,
} from "./behavior.js";
import { confidentProposal } from "./confidence.js";
import { fallbackAction } from "./fallback.js";
import { estimateLoad } from "./load-estimate.js";
import { addSample, windowAverage, type QpsSample } from "./metric-window.js";
import { panicReplicas, updatePanic, type PanicState } from "./panic.js";
import type { AutoscalerSpec } from "./types.js";

/**
 * The replica decision, in the shape of Knative's `Scale(snapshot, now) →
 * Recommendation`: a snapshot (spec, current replicas, this tick's metric
 * reading) and the state carried from the previous tick go in; the desired
 * replicas, the reason and the next state come out. No I/O, no clock.
 *
 * Order of rules (HPA v2 `reconcileAutoscaler` + Knative KPA):
 *  1. paused → keep the current count;
 *  2. current = 0 → scaling disabled (HPA semantics: someone scaled to zero);
 *  3. current > max → max; current < min → min (no behavior applied);
 *  4. metric unavailable → fallback: hold, or `fallback.replicas` after N failures;
 *  5. the proposal, one of two rules:
 *     - confident scaling (confidence.ts), while the user left
 *       behavior.scaleDown.stabilizationWindowSeconds unset: up when the
 *       panic-window average leaves the tolerance or the load's whole noise
 *       band is above capacity; down as soon as the band's top fits in fewer
 *       replicas; no scale-down window while the metric is readable;
 *     - proportional (HPA), when the user set that window: demand = the
 *       larger of the stable-window (60 s) and panic-window (6 s) QPS averages
 *       — a rise counts as soon as the short window sees it, a fall only once
 *       the whole stable window is lower; desired = ceil(demand / target),
 *       kept at the current count when |demand / (target × current) − 1| ≤
 *       tolerance;
 *  6. panic (Knative): panic-window demand ≥ threshold × the replicas serving
 *     (those not added within the panic window: no pod starts that fast)
 *     starts panic; in panic the count is max(proposal, panic demand), never
 *     goes down, and the scale-up rate policies are skipped; panic ends one
 *     stable window after the condition last held;
 *  7. HPA behavior: stabilization windows, then rate policies, then min/max.
 */

export interface DecisionState {
  samples: QpsSample[];
  recommendations: TimedRecommendation[];
  scaleEvents: ScaleEvent[];
  panic: PanicState | null;
  consecutiveFailures: number;
  /** Start of the current run of readings without a failure (ms); null after a failure. */
  readingsSince: number | null;
  /** False until the first decision; then the scale-down window is seeded with the current count. */
  initialized: boolean;
}

export function initialState(): DecisionState {
  return { samples: [], recommendations: [], scaleEvents: [], panic: null, consecutiveFailures: 0, readingsSince: null, initialized: false };
}

export type Observation = { ok: true; qps: number } | { ok: false; error: string };

export interface Snapshot {
  spec: AutoscalerSpec;
  /** spec.replicas of the target's scale subresource. */
  currentReplicas: number;
  observation: Observation;
  /** Milliseconds. */
  now: number;
}

export type DecisionReason =
  | "Paused"
  | "ScalingDisabled"
  | "AboveMaxReplicas"
  | "BelowMinReplicas"
  | "MetricUnavailable"
  | "Fallback"
  | "ScaleUp"
  | "PanicScaleUp"
  | "ScaleDown"
  | "WithinTolerance"
  | "ScaleDownStabilized"
  | "ScaleUpStabilized"
  | "PanicHold"
  | "WithinNoise"
  | "CollectingHistory"
  | LimitReason
  | "Steady";

export interface Recommendation {
  desiredReplicas: number;
  currentReplicas: number;
  reason: DecisionReason;
  message: string;
  /** Set when rate policies or min/max cut the count (ScalingLimited). */
  limitedBy?: LimitReason;
  panicMode: boolean;
  /** This tick's reading, when there was one. */
  qps?: number;
  stableQPS?: number;
  panicQPS?: number;
  metricAvailable: boolean;
  metricError?: string;
  consecutiveFailures: number;
  /** A fallback (hold or fixed) is in force because the metric failed. */
  fallbackActive: boolean;
}

export interface Decision {
  recommendation: Recommendation;
  state: DecisionState;
}

const EPSILON = 1e-9;
const replicasFor = (qps: number, target: number): number => Math.max(0, Math.ceil(qps / target - EPSILON));
const fmt = (n: number | undefined): string => (n === undefined ? "n/a" : String(Math.round(n * 100) / 100));

export function decide(previous: DecisionState, snapshot: Snapshot): Decision {
  const { spec, currentReplicas: current, observation, now } = snapshot;
  const { scaleUp, scaleDown } = spec.behavior;
  let state: DecisionState = previous.initialized
    ? { ...previous }
    : { ...previous, initialized: true, recommendations: [{ at: now, replicas: current }] };

  // Record the reading first so that every path keeps the windows current.
  let qps: number | undefined;
  let metricError: string | undefined;
  if (observation.ok) {
    qps = observation.qps;
    const keepSeconds = spec.confidence.enabled ? spec.confidence.historySeconds : spec.stableWindowSeconds;
    state.samples = addSample(state.samples, { at: now, qps }, keepSeconds);
    state.consecutiveFailures = 0;
    state.readingsSince ??= now;
  } else {
    metricError = observation.error;
    state.consecutiveFailures += 1;
    // One missed read is a gap the history spans (its estimate only has a
    // sample less); the history counts as broken where the metric counts as
    // lost, at failureThreshold failures in a row.
    if (state.consecutiveFailures >= spec.fallback.failureThreshold) state.readingsSince = null;
  }
  const stableQPS = windowAverage(state.samples, now, spec.stableWindowSeconds);
  const panicQPS = windowAverage(state.samples, now, spec.panic.windowSeconds);

  const base = {
    currentReplicas: current,
    qps,
    stableQPS: observation.ok ? stableQPS : undefined,
    panicQPS: observation.ok ? panicQPS : undefined,
    metricAvailable: observation.ok,
    metricError,
    consecutiveFailures: state.consecutiveFailures,
    fallbackActive: false,
    panicMode: state.panic !== null,
  };
  const keep = (reason: DecisionReason, message: string, desired = current): Decision => ({
    recommendation: { ...base, desiredReplicas: desired, reason, message },
    state,
  });

  if (spec.paused) return keep("Paused", "autoscaling is paused (spec.paused); replicas are left as they are");
  if (current === 0) {
    return keep("ScalingDisabled", "scaling is disabled since the replica count of the target is zero");
  }
  if (current > spec.maxReplicas) {
    return keep("AboveMaxReplicas", `current replicas ${current} above maxReplicas ${spec.maxReplicas}`, spec.maxReplicas);
  }
  if (current < spec.minReplicas) {
    return keep("BelowMinReplicas", `current replicas ${current} below minReplicas ${spec.minReplicas}`, spec.minReplicas);
  }

  let desired: number;
  let reasonHint: DecisionReason | undefined;
  let message: string;
  let panicking = false;

  if (!observation.ok) {
    const action = fallbackAction(spec.fallback, state.consecutiveFailures);
    if (action.kind === "hold") {
      base.fallbackActive = spec.fallback.mode === "hold";
      const why =
        action.reason === "Hold"
          ? "holding the current replicas (fallback.mode hold)"
          : `holding the current replicas until ${spec.fallback.failureThreshold} consecutive failures (now ${state.consecutiveFailures})`;
      return keep("MetricUnavailable", `metric unavailable (${observation.error}); ${why}`);
    }
    base.fallbackActive = true;
    desired = action.replicas;
    reasonHint = "Fallback";
    message = `metric unavailable for ${state.consecutiveFailures} consecutive reads (${observation.error}); using fallback.replicas ${action.replicas}`;
  } else {
    const target = spec.targetQPSPerReplica;
    const proposal = spec.confidence.enabled
      ? confident(spec, state, current, panicQPS ?? 0, now)
      : proportional(spec, current, stableQPS ?? 0, panicQPS ?? 0);

    state.panic = spec.panic.enabled
      ? updatePanic({
          state: state.panic,
          panicDemand: (panicQPS ?? 0) / target,
          servingReplicas: current - addedWithin(state.scaleEvents, spec.panic.windowSeconds, now),
          threshold: spec.panic.threshold,
          stableWindowSeconds: spec.stableWindowSeconds,
          now,
        })
      : null;

    if (state.panic) {
      panicking = true;
      const wanted = Math.max(proposal.replicas, replicasFor(panicQPS ?? 0, target));
      const p = panicReplicas(state.panic, wanted, current);
      state.panic = p.state;
      desired = p.replicas;
      message = `${proposal.reading}; panic mode`;
    } else {
      desired = proposal.replicas;
      reasonHint = proposal.kept;
      message = proposal.reading + (proposal.note ? ` (${proposal.note})` : "");
    }
  }
  base.panicMode = panicking;

  // Confident scaling replaces the scale-down window while there are readings
  // to be confident about; without them (fixed fallback) the window holds.
  const downRules = spec.confidence.enabled && observation.ok ? { ...scaleDown, stabilizationWindowSeconds: 0 } : scaleDown;
  const stabilized = stabilize(state.recommendations, desired, current, scaleUp, downRules, now);
  state.recommendations = stabilized.recommendations;
  const limited = limitRate(current, stabilized.replicas, state.scaleEvents, scaleUp, scaleDown, now, {
    min: spec.minReplicas,
    max: spec.maxReplicas,
    ignoreScaleUpPolicies: panicking,
  });
  const final = limited.replicas;

  let reason: DecisionReason;
  if (reasonHint === "Fallback") reason = "Fallback";
  else if (final > current) reason = panicking ? "PanicScaleUp" : "ScaleUp";
  else if (final < current) reason = "ScaleDown";
  else if (stabilized.stabilized === "down") reason = "ScaleDownStabilized";
  else if (stabilized.stabilized === "up") reason = "ScaleUpStabilized";
  else if (limited.limitedBy) reason = limited.limitedBy;
  else if (panicking) reason = "PanicHold";
  else reason = reasonHint ?? "Steady";

  if (stabilized.stabilized === "down" && final !== desired) {
    message += `; recommendation ${desired} held at ${stabilized.replicas} by the ${scaleDown.stabilizationWindowSeconds} s scale-down stabilization window`;
  } else if (stabilized.stabilized === "up" && final !== desired) {
    message += `; recommendation ${desired} held at ${stabilized.replicas} by the ${scaleUp.stabilizationWindowSeconds} s scale-up stabilization window`;
  }
  if (limited.limitedBy) message += `; limited to ${final} (${limited.limitedBy})`;
  message += `; ${current} → ${final} replicas`;

  return {
    recommendation: { ...base, desiredReplicas: final, reason, message, limitedBy: limited.limitedBy },
    state,
  };
}

/** Call after the target was actually scaled, so the rate policies and the panic condition count the change. */
export function recordScale(state: DecisionState, from: number, to: number, now: number, spec: AutoscalerSpec): DecisionState {
  return {
    ...state,
    scaleEvents: recordScaleEvent(state.scaleEvents, from, to, now, spec.behavior.scaleUp, spec.behavior.scaleDown, spec.panic.windowSeconds),
  };
}

/** The count the reading asks for, before panic, stabilization and rate policies. */
interface Proposal {
  replicas: number;
  /** The reading, for the message. */
  reading: string;
  /** Why the proposal moves or keeps the count, when the reading alone does not say. */
  note?: string;
  /** The reason when the count is kept. */
  kept?: DecisionReason;
}

/** HPA rule: rise fast, fall slowly — a rise counts as soon as the panic window sees it, a fall only once the whole stable window is lower. */
function proportional(spec: AutoscalerSpec, current: number, stableQPS: number, panicQPS: number): Proposal {
  const target = spec.targetQPSPerReplica;
  const demand = Math.max(stableQPS, panicQPS);
  const withinTolerance = Math.abs(demand / (target * current) - 1) <= spec.tolerance;
  const reading =
    `QPS ${fmt(stableQPS)} over ${spec.stableWindowSeconds} s, ${fmt(panicQPS)} over ${spec.panic.windowSeconds} s; ` +
    `target ${fmt(target)} per replica`;
  return withinTolerance
    ? { replicas: current, reading, note: `within tolerance ${spec.tolerance}`, kept: "WithinTolerance" }
    : { replicas: replicasFor(demand, target), reading };
}

/**
 * Confident scaling (confidence.ts). The estimate needs two stable windows of
 * uninterrupted readings: one to measure a change over, one of changes to
 * measure the noise on.
 */
function confident(spec: AutoscalerSpec, state: DecisionState, current: number, panicQPS: number, now: number): Proposal {
  const target = spec.targetQPSPerReplica;
  const { historySeconds, margin } = spec.confidence;
  const enough = state.readingsSince !== null && now - state.readingsSince >= 2 * spec.stableWindowSeconds * 1000;
  const estimate = enough ? estimateLoad(state.samples, now, spec.stableWindowSeconds, historySeconds) : undefined;
  const p = confidentProposal({ estimate, panicQPS, currentReplicas: current, targetQPSPerReplica: target, tolerance: spec.tolerance, margin });
  const band = estimate ? `${fmt(estimate.level)} ± ${margin} × ${fmt(estimate.noise)} noise (trend ${fmt(estimate.slope)}/s over ${historySeconds} s), ` : "";
  const reading = `QPS ${band}${fmt(panicQPS)} over ${spec.panic.windowSeconds} s; target ${fmt(target)} per replica`;
  const replicas = p.qps === undefined ? current : replicasFor(p.qps, target);
  switch (p.rule) {
    case "ScaleUp":
      return { replicas, reading, note: `beyond tolerance ${spec.tolerance}` };
    case "ConfidentScaleUp":
      return { replicas, reading, note: "the whole noise band is above capacity" };
    case "ConfidentScaleDown":
      return { replicas, reading, note: "the noise band's top fits in fewer replicas" };
    case "WithinNoise":
      return { replicas, reading, note: "capacity is within the noise band", kept: "WithinNoise" };
    case "CollectingHistory":
      return { replicas, reading, note: `no scale-down before ${2 * spec.stableWindowSeconds} s of uninterrupted readings`, kept: "CollectingHistory" };
  }
}
