import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { Recommendation } from "./decide.js";

/**
 * The autoscaler's own Prometheus metrics. Labels are the namespace and name
 * of the CounterAutoscaler only, so the series count is bounded by the number
 * of CounterAutoscalers; a deleted one has its series removed.
 */
const LABELS = ["namespace", "name"] as const;
type Labels = { namespace: string; name: string };

/** The spec bounds a decision was made within (dashboards plot QPS against them; alerts fire at max). */
export interface SpecLimits {
  minReplicas: number;
  maxReplicas: number;
  targetQPSPerReplica: number;
}

export interface AutoscalerMetrics {
  observe(labels: Labels, r: Recommendation, tickSeconds: number, limits?: SpecLimits): void;
  metricError(labels: Labels): void;
  scaled(labels: Labels): void;
  scaleError(labels: Labels): void;
  setLeader(leading: boolean): void;
  forget(labels: Labels): void;
}

export function createAutoscalerMetrics(registry: Registry): AutoscalerMetrics {
  const registers = [registry];
  const desired = new Gauge({
    name: "highgopress_autoscaler_desired_replicas",
    help: "Replicas the autoscaler wants for the target after all rules.",
    labelNames: LABELS,
    registers,
  });
  const current = new Gauge({
    name: "highgopress_autoscaler_current_replicas",
    help: "spec.replicas of the target's scale subresource at the last tick.",
    labelNames: LABELS,
    registers,
  });
  const qps = new Gauge({
    name: "highgopress_autoscaler_observed_qps",
    help: "Last QPS read from Prometheus for the target.",
    labelNames: LABELS,
    registers,
  });
  const panic = new Gauge({
    name: "highgopress_autoscaler_panic_mode",
    help: "1 while the autoscaler is in panic mode (Knative-style), else 0.",
    labelNames: LABELS,
    registers,
  });
  const fallback = new Gauge({
    name: "highgopress_autoscaler_fallback_active",
    help: "1 while the metric is unavailable and the fallback (hold or fixed) is in force.",
    labelNames: LABELS,
    registers,
  });
  const minReplicas = new Gauge({
    name: "highgopress_autoscaler_min_replicas",
    help: "spec.minReplicas of the CounterAutoscaler.",
    labelNames: LABELS,
    registers,
  });
  const maxReplicas = new Gauge({
    name: "highgopress_autoscaler_max_replicas",
    help: "spec.maxReplicas of the CounterAutoscaler.",
    labelNames: LABELS,
    registers,
  });
  const targetQps = new Gauge({
    name: "highgopress_autoscaler_target_qps_per_replica",
    help: "spec.targetQPSPerReplica of the CounterAutoscaler.",
    labelNames: LABELS,
    registers,
  });
  const latency = new Histogram({
    name: "highgopress_autoscaler_decision_duration_seconds",
    help: "Duration of one tick: scale read, metric query, decision and scale write.",
    labelNames: LABELS,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  });
  const metricErrors = new Counter({
    name: "highgopress_autoscaler_metric_errors_total",
    help: "Failed metric reads (Prometheus unreachable, query error, no data).",
    labelNames: LABELS,
    registers,
  });
  const scales = new Counter({
    name: "highgopress_autoscaler_scale_events_total",
    help: "Changes of the target's replicas made by the autoscaler.",
    labelNames: LABELS,
    registers,
  });
  const scaleErrors = new Counter({
    name: "highgopress_autoscaler_scale_errors_total",
    help: "Failed writes of the target's scale subresource.",
    labelNames: LABELS,
    registers,
  });
  const leader = new Gauge({
    name: "highgopress_autoscaler_leader",
    help: "1 while this instance holds the leader lease.",
    registers,
  });
  const all = [desired, current, qps, panic, fallback, minReplicas, maxReplicas, targetQps, latency, metricErrors, scales, scaleErrors];

  return {
    observe(labels, r, tickSeconds, limits) {
      if (limits) {
        minReplicas.set(labels, limits.minReplicas);
        maxReplicas.set(labels, limits.maxReplicas);
        targetQps.set(labels, limits.targetQPSPerReplica);
      }
      desired.set(labels, r.desiredReplicas);
      current.set(labels, r.currentReplicas);
      if (r.qps !== undefined) qps.set(labels, r.qps);
      panic.set(labels, r.panicMode ? 1 : 0);
      fallback.set(labels, r.fallbackActive ? 1 : 0);
      latency.observe(labels, tickSeconds);
      // Make the counters visible at 0 from the first tick.
      metricErrors.inc(labels, 0);
      scales.inc(labels, 0);
      scaleErrors.inc(labels, 0);
    },
    metricError: (labels) => metricErrors.inc(labels),
    scaled: (labels) => scales.inc(labels),
    scaleError: (labels) => scaleErrors.inc(labels),
    setLeader: (leading) => leader.set(leading ? 1 : 0),
    forget(labels) {
      for (const m of all) m.remove(labels);
    },
  };
}
