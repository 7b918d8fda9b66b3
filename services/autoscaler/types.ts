/**
 * The CounterAutoscaler custom resource (autoscaling.highgopress.io/v1alpha1)
 * as the controller sees it: the API coordinates, the normalized spec every
 * decision works on, and the status it writes back.
 */
export const GROUP = "autoscaling.highgopress.io";
export const VERSION = "v1alpha1";
export const PLURAL = "counterautoscalers";
export const KIND = "CounterAutoscaler";
export const API_VERSION = `${GROUP}/${VERSION}`;

export type SelectPolicy = "Max" | "Min" | "Disabled";
export type PolicyType = "Pods" | "Percent";

/** One HPA v2 rate policy: at most `value` pods (or percent) per `periodSeconds`. */
export interface ScalingPolicy {
  type: PolicyType;
  value: number;
  periodSeconds: number;
}

/** HPA v2 `HPAScalingRules` for one direction. */
export interface ScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: SelectPolicy;
  policies: ScalingPolicy[];
}

export interface ScaleTargetRef {
  apiVersion: string;
  kind: "Deployment";
  name: string;
}

export interface MetricSpec {
  /** Prometheus base URL; empty means the controller's PROMETHEUS_URL. */
  prometheusURL?: string;
  /** Instant PromQL query returning QPS; empty means the controller's default query. */
  query?: string;
}

export interface PanicSpec {
  enabled: boolean;
  /** Short averaging window whose demand triggers panic (Knative: 6 s). */
  windowSeconds: number;
  /** Panic when panic-window demand >= threshold x current replicas (Knative: 2.0). */
  threshold: number;
}

/** Confident scaling (confidence.ts, load-estimate.ts). */
export interface ConfidenceSpec {
  /**
   * True when the user left behavior.scaleDown.stabilizationWindowSeconds
   * unset; a window the user sets decides scale-down as in the HPA instead.
   */
  enabled: boolean;
  /** How far back the load's trend and noise are measured. */
  historySeconds: number;
  /** Headroom kept above the load's level, in noise standard deviations. */
  margin: number;
}

export type FallbackMode = "hold" | "fixed";

export interface FallbackSpec {
  /** hold: keep the current replicas; fixed: go to `replicas` after `failureThreshold` failures. */
  mode: FallbackMode;
  replicas?: number;
  failureThreshold: number;
}

/** The spec with every default applied; what the decision function reads. */
export interface AutoscalerSpec {
  scaleTargetRef: ScaleTargetRef;
  minReplicas: number;
  maxReplicas: number;
  targetQPSPerReplica: number;
  tolerance: number;
  /**
   * Averaging window of the stable (non-panic) decision (Knative: 60 s); with
   * confidence, the window the load's level and changes are measured over.
   */
  stableWindowSeconds: number;
  metric: MetricSpec;
  /**
   * HPA v2 behavior. scaleDown.stabilizationWindowSeconds is 300 (the HPA
   * default) when unset; with confidence enabled it then only holds while the
   * metric is unavailable (fixed fallback).
   */
  behavior: { scaleUp: ScalingRules; scaleDown: ScalingRules };
  confidence: ConfidenceSpec;
  panic: PanicSpec;
  fallback: FallbackSpec;
  paused: boolean;
}

export type ConditionType =
  | "Ready"
  | "ScalingActive"
  | "AbleToScale"
  | "ScalingLimited"
  | "MetricAvailable"
  | "Fallback";

export interface Condition {
  type: ConditionType;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface AutoscalerStatus {
  observedGeneration?: number;
  currentQPS?: number;
  currentReplicas?: number;
  desiredReplicas?: number;
  lastScaleTime?: string;
  panicMode?: boolean;
  conditions?: Condition[];
}

export interface CounterAutoscaler {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
  };
  spec?: unknown;
  status?: AutoscalerStatus;
}
