import type { Metric, Registry } from "prom-client";

/**
 * A Prometheus histogram for hot paths. prom-client's `observe(labels, v)`
 * builds a label object and a hash string on every call; here each label
 * combination is resolved once into a child that holds plain numbers, so an
 * observation is a bucket scan and three additions. Children are created up
 * front or on first use and kept (label values must come from bounded sets).
 *
 * Used where a label set is observed per request or per call and where
 * exemplars are wanted (HTTP and gRPC RED metrics, Redis calls): prom-client
 * records exemplars only for a histogram in a registry switched to
 * OpenMetrics, which the services' registries are not (exposition.ts says
 * why), and its cached labels() child took 0.6-1.4 µs per observation
 * against 12-33 ns here, 1.2-2.0 µs against 0.06-0.1 µs with an exemplar
 * (three runs of `node dist/bench/micro/histogram.js`, bench/README.md,
 * "Library or hand-written"). Histograms without labels or exemplars use
 * prom-client's Histogram (0.3-0.5 µs per observation).
 *
 * Exemplars (OpenMetrics): `observe(v, traceId, spanId)` keeps the latest
 * traced observation per bucket; prom-client's registry prints them when it
 * renders OpenMetrics (see exposition.ts).
 *
 * Registered into prom-client registries as a custom metric: it implements
 * what Registry.metrics() and getMetricsAsJSON() read (`name`, `help`,
 * `type`, `aggregator`, `get()`, `reset()`).
 */
export interface HistogramOptions<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  buckets: readonly number[];
  registers: Registry[];
}

interface Exemplar {
  labelSet: { trace_id: string; span_id: string };
  value: number;
  timestamp: number;
}

export class HistogramChild {
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  exemplars: Array<Exemplar | undefined> | undefined;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records `value`; with trace ids also as the bucket's exemplar. */
  observe(value: number, traceId?: string, spanId?: string): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
    if (traceId !== undefined) {
      (this.exemplars ??= new Array(bounds.length + 1))[i] = {
        labelSet: { trace_id: traceId, span_id: spanId ?? "" },
        value,
        timestamp: Date.now() / 1000,
      };
    }
  }
}

export class LabeledHistogram<L extends string = string> {
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  private readonly bounds: readonly number[];
  private children = new Map<string, HistogramChild>();

  constructor(options: HistogramOptions<L>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.bounds = [...options.buckets].sort((a, b) => a - b);
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  /** The child for these label values (in labelNames order); cache it. */
  child(...values: string[]): HistogramChild {
    if (values.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label values (${this.labelNames.join(", ")}), got ${values.length}`);
    }
    const key = values.join("\u0000");
    let child = this.children.get(key);
    if (!child) {
      const labels: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i]!));
      child = new HistogramChild(this.bounds, labels);
      this.children.set(key, child);
    }
    return child;
  }

  /** Forgets every child; children handed out before keep counting unseen. */
  reset(): void {
    this.children = new Map();
  }

  async get() {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string; exemplar?: Exemplar }> = [];
    for (const child of this.children.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        cumulative += child.counts[i]!;
        const le = i < this.bounds.length ? this.bounds[i]! : "+Inf";
        values.push({
          labels: { ...child.labels, le },
          value: cumulative,
          metricName: `${this.name}_bucket`,
          exemplar: child.exemplars?.[i],
        });
      }
      values.push({ labels: { ...child.labels }, value: child.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...child.labels }, value: child.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

/** Latency buckets in seconds, 250 µs to 10 s. */
export const LATENCY_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
/** Finer buckets for Redis calls, 50 µs to 2.5 s. */
export const REDIS_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5] as const;
