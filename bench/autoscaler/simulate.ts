/**
 * Autoscaler simulation: replays QPS traces through this project's decision
 * function, a model of the Kubernetes HPA and a model of Knative's KPA, on
 * the same simulated cluster, and prints one table per trace.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/autoscaler/simulate.js [--seed N] [--startup S] [--margin M] [--history S] [--json]
 *
 * --margin and --history replace the defaults of `confidence` in "ours", to
 * compare other choices (seeds.ts runs the same over many seeds).
 *
 * Cluster model (identical for every autoscaler): one-second steps; a new pod
 * serves traffic `startup` seconds after it is asked for (default 10 s; a
 * trace may fix its own, as the flash crowd's 30 s);
 * removed pods stop at once; the metric every autoscaler reads is the mean
 * QPS of the last 10 s (a Prometheus rate over a short window), or nothing
 * during a metric outage. Capacity = ready pods × 100 QPS.
 */
import { specFrom } from "../../services/autoscaler/spec.js";
import { HpaModel } from "./hpa-model.js";
import { KpaModel } from "./kpa-model.js";
import { OursModel } from "./ours-model.js";
import type { SimAutoscaler } from "./sim-types.js";
import { traces, type Trace } from "./traces.js";

const TARGET = 100;
const MIN = 1;
const MAX = 50;
const METRIC_WINDOW = 10;

export interface SimResult {
  trace: string;
  autoscaler: string;
  /** Seconds from the step until ready capacity first covers the load; null if never. */
  timeToCapacity: number | null | undefined;
  /** Σ max(0, QPS/target − ready pods) over seconds. */
  underPodSeconds: number;
  /** Σ max(0, asked-for pods − QPS/target) over seconds. */
  overPodSeconds: number;
  scaleChanges: number;
  /** Changes of direction (up then down or down then up): flapping. */
  reversals: number;
  peakReplicas: number;
}

export function simulate(trace: Trace, autoscaler: SimAutoscaler, startupSeconds: number): SimResult {
  const initial = Math.max(MIN, Math.ceil(trace.qps[0]! / TARGET));
  let readyAt: number[] = Array.from({ length: initial }, () => -Infinity);
  let spec = initial;
  let changes = 0;
  let reversals = 0;
  let lastDirection = 0;
  let under = 0;
  let over = 0;
  let peak = spec;
  let timeToCapacity: number | null | undefined = trace.stepAt === undefined ? undefined : null;
  for (let t = 0; t < trace.qps.length; t++) {
    const qps = trace.qps[t]!;
    const ready = readyAt.filter((r) => r <= t).length;
    if (t % autoscaler.periodSeconds === 0) {
      let metric: number | undefined;
      if (!trace.metricDown?.(t)) {
        const from = Math.max(0, t - METRIC_WINDOW + 1);
        const window = trace.qps.slice(from, t + 1);
        metric = window.reduce((a, b) => a + b, 0) / window.length;
      }
      const desired = autoscaler.step({ now: t, metric, specReplicas: spec, readyReplicas: ready });
      if (desired !== spec) {
        changes += 1;
        const direction = Math.sign(desired - spec);
        if (lastDirection !== 0 && direction !== lastDirection) reversals += 1;
        lastDirection = direction;
        if (desired > spec) {
          for (let i = spec; i < desired; i++) readyAt.push(t + startupSeconds);
        } else {
          readyAt.sort((a, b) => a - b);
          readyAt = readyAt.slice(0, desired); // the newest (least ready) pods go first
        }
        spec = desired;
        peak = Math.max(peak, spec);
      }
    }
    const readyNow = readyAt.filter((r) => r <= t).length;
    const need = qps / TARGET;
    under += Math.max(0, need - readyNow);
    over += Math.max(0, spec - need);
    if (trace.stepAt !== undefined && t >= trace.stepAt && timeToCapacity === null && readyNow * TARGET >= qps) {
      timeToCapacity = t - trace.stepAt;
    }
  }
  return {
    trace: trace.name,
    autoscaler: autoscaler.name,
    timeToCapacity,
    underPodSeconds: Math.round(under),
    overPodSeconds: Math.round(over),
    scaleChanges: changes,
    reversals,
    peakReplicas: peak,
  };
}

export interface ConfidenceChoice {
  margin?: number;
  historySeconds?: number;
}

export function autoscalersFor(trace: Trace, confidence: ConfidenceChoice = {}): SimAutoscaler[] {
  const base = { scaleTargetRef: { name: "counter" }, minReplicas: MIN, maxReplicas: MAX, targetQPSPerReplica: TARGET };
  const chosen = Object.entries(confidence).filter(([, v]) => v !== undefined);
  const name = chosen.length === 0 ? "ours (defaults)" : `ours (${chosen.map(([k, v]) => `${k} ${v}`).join(", ")})`;
  const list: SimAutoscaler[] = [
    new OursModel(name, specFrom({ ...base, confidence: Object.fromEntries(chosen) })),
    new OursModel("ours (scale-down window set: 300 s)", specFrom({ ...base, behavior: { scaleDown: { stabilizationWindowSeconds: 300 } } })),
    new HpaModel(TARGET, MIN, MAX),
    new KpaModel(TARGET, MIN, MAX),
  ];
  if (trace.metricDown) {
    list.splice(2, 0, new OursModel("ours (fallback fixed 25 after 3 failures)", specFrom({ ...base, fallback: { mode: "fixed", replicas: 25, failureThreshold: 3 } })));
  }
  return list;
}

function table(trace: Trace, results: SimResult[]): string {
  const lines = [
    `### ${trace.name} — ${trace.description}`,
    "",
    "| autoscaler | time to capacity after step (s) | under-provisioning (pod·s) | over-provisioning (pod·s) | scale changes | direction reversals | peak replicas |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of results) {
    const ttc = r.timeToCapacity === undefined ? "–" : r.timeToCapacity === null ? "never" : String(r.timeToCapacity);
    lines.push(`| ${r.autoscaler} | ${ttc} | ${r.underPodSeconds} | ${r.overPodSeconds} | ${r.scaleChanges} | ${r.reversals} | ${r.peakReplicas} |`);
  }
  return lines.join("\n");
}

/** The number after `name` on the command line, or undefined without the option. */
export function optionalArg(name: string): number | undefined {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v)) throw new Error(`${name} needs a number`);
  return v;
}

export const confidenceArgs = (): ConfidenceChoice => ({ margin: optionalArg("--margin"), historySeconds: optionalArg("--history") });

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const seed = optionalArg("--seed") ?? 42;
  const startup = optionalArg("--startup") ?? 10;
  const confidence = confidenceArgs();
  const all: SimResult[] = [];
  const out: string[] = [
    `Simulation: target ${TARGET} QPS/replica, min ${MIN}, max ${MAX}, pod startup ${startup} s unless the trace says otherwise, metric = mean QPS of the last ${METRIC_WINDOW} s, seed ${seed}.`,
    "",
  ];
  for (const trace of traces(seed)) {
    const results = autoscalersFor(trace, confidence).map((a) => simulate(trace, a, trace.startupSeconds ?? startup));
    all.push(...results);
    out.push(table(trace, results), "");
  }
  if (process.argv.includes("--json")) console.log(JSON.stringify(all, null, 2));
  else console.log(out.join("\n"));
}
