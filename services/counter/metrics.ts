import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { LATENCY_BUCKETS } from "../lib/labeled-histogram.js";
import type { IncrementOp } from "./batch.js";

export function createCounterMetrics(
  registry: Registry,
  labels: { label: (counterType: string) => string; values: readonly string[] },
  backlog: () => Promise<{ length: number; oldestAgeSeconds: number }>,
) {
  const readBacklog = () => backlog().catch(() => undefined);
  const { label } = labels;
  const increments = new Counter({
    name: "highgopress_counter_increments_total",
    help: "Increments applied, by counter type.",
    labelNames: ["counter_type"],
    registers: [registry],
  });
  const deltaSum = new Counter({
    name: "highgopress_counter_delta_sum_total",
    help: "Sum of positive deltas applied, by counter type.",
    labelNames: ["counter_type"],
    registers: [registry],
  });
  const published = new Counter({
    name: "highgopress_outbox_events_published_total",
    help: "Outbox entries published to Kafka and acknowledged.",
    registers: [registry],
  });
  const failed = new Counter({
    name: "highgopress_outbox_publish_failures_total",
    help: "Outbox entries whose publish attempt failed (they are retried).",
    registers: [registry],
  });
  const publishDuration = new Histogram({
    name: "highgopress_kafka_publish_duration_seconds",
    help: "Kafka produce time of one relay batch (acks=all, one request per 512 KiB of events), from send to acknowledgement.",
    buckets: [...LATENCY_BUCKETS],
    registers: [registry],
  });
  const publishBatch = new Histogram({
    name: "highgopress_outbox_relay_batch_size",
    help: "Outbox entries published to Kafka per relay batch.",
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000],
    registers: [registry],
  });
  // Every type's series exists from the start: an idle counter's rate() is 0,
  // not "no data", so the autoscaler reads it (and its history starts) before the first write.
  for (const type of labels.values) {
    increments.inc({ counter_type: type }, 0);
    deltaSum.inc({ counter_type: type }, 0);
  }
  const notReplicated = new Counter({
    name: "highgopress_counter_unreplicated_batches_total",
    help: "Script calls applied on the primary that too few replicas confirmed within REDIS_WAIT_TIMEOUT_MS; their increments were answered 503 (in doubt).",
    registers: [registry],
  });
  new Gauge({
    name: "highgopress_outbox_entries",
    help: "Entries waiting in the outbox.",
    registers: [registry],
    async collect() {
      const b = await readBacklog();
      if (b) this.set(b.length);
    },
  });
  new Gauge({
    name: "highgopress_outbox_oldest_age_seconds",
    help: "Age of the oldest outbox entry.",
    registers: [registry],
    async collect() {
      const b = await readBacklog();
      if (b) this.set(b.oldestAgeSeconds);
    },
  });
  return {
    onIncrements(ops: readonly IncrementOp[]) {
      // One label look-up per type in the batch, not per op.
      const byType = new Map<string, [number, number]>();
      for (const op of ops) {
        const t = byType.get(op.counterType) ?? [0, 0];
        t[0] += 1;
        if (op.delta > 0) t[1] += op.delta;
        byType.set(op.counterType, t);
      }
      for (const [type, [n, d]] of byType) {
        const l = label(type);
        increments.inc({ counter_type: l }, n);
        if (d > 0) deltaSum.inc({ counter_type: l }, d);
      }
    },
    onPublished: (events: number, ms: number) => {
      published.inc(events);
      publishDuration.observe(ms / 1000);
      publishBatch.observe(events);
    },
    onFailed: (events: number) => failed.inc(events),
    onNotReplicated: () => notReplicated.inc(),
  };
}
