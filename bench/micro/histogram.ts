/**
 * services/lib/labeled-histogram.ts against prom-client's Histogram on the
 * observation the gateway makes for every HTTP request (http-telemetry.ts:
 * three labels route, method, status_code; LATENCY_BUCKETS; the child
 * resolved once and cached), untraced and traced (an exemplar with the
 * trace and span ids). prom-client's labels() children cannot take an
 * exemplar, so its traced observation is histogram.observe({ labels, value,
 * exemplarLabels }) on a histogram with enableExemplars, which prom-client
 * only accepts in a registry whose content type is OpenMetrics (the
 * services' registries are not: lib/exposition.ts says why).
 *
 *   npm run build && node dist/bench/micro/histogram.js
 */
import { Histogram, Registry, type OpenMetricsContentType } from "prom-client";
import { LabeledHistogram, LATENCY_BUCKETS } from "../../services/lib/labeled-histogram.js";
import { compareCalls } from "./stats.js";

const LABELS = ["route", "method", "status_code"] as const;
const VALUES = ["/api/v1/counter/increment", "POST", "200"] as const;
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID = "00f067aa0ba902b7";
const options = (name: string, registry: Registry = new Registry()) => ({ name, help: "bench", labelNames: LABELS, buckets: [...LATENCY_BUCKETS], registers: [registry] });

// Latencies around a millisecond, spread over the buckets as the gateway's are.
const samples = Float64Array.from({ length: 4096 }, (_, i) => Math.exp(-7 + 3 * Math.sin(i * 12.9898) ** 2));

const ours = new LabeledHistogram(options("ours")).child(...VALUES);
const plain = new Histogram(options("plain"));
const plainChild = plain.labels(...VALUES);
const openMetrics = new Registry<OpenMetricsContentType>();
openMetrics.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
const withExemplars = new Histogram({ ...options("exemplars", openMetrics as unknown as Registry), enableExemplars: true });
const withExemplarsChild = withExemplars.labels(...VALUES);
const oursUnlabeled = new LabeledHistogram({ ...options("ours_unlabeled"), labelNames: [] }).child();
const plainUnlabeled = new Histogram({ ...options("plain_unlabeled"), labelNames: [] });
const labelObject = { route: VALUES[0], method: VALUES[1], status_code: VALUES[2] };
const exemplarLabels = { trace_id: TRACE_ID, span_id: SPAN_ID };

const loop = (observe: (v: number) => void) => (n: number) => {
  for (let i = 0; i < n; i++) observe(samples[i & 4095]!);
};

await compareCalls({
  title: "Histogram observation, untraced (every request)",
  reference: "LabeledHistogram child",
  iterations: 2_000_000,
  variants: {
    "LabeledHistogram child": loop((v) => ours.observe(v)),
    "prom-client labels() child": loop((v) => plainChild.observe(v)),
    "prom-client labels() child, enableExemplars": loop((v) => withExemplarsChild.observe(v)),
  },
});

await compareCalls({
  title: "Histogram observation without labels (analytics' event delay, per event)",
  reference: "LabeledHistogram child()",
  iterations: 2_000_000,
  variants: {
    "LabeledHistogram child()": loop((v) => oursUnlabeled.observe(v)),
    "prom-client observe(value)": loop((v) => plainUnlabeled.observe(v)),
  },
});

await compareCalls({
  title: "Histogram observation with an exemplar (traced requests)",
  reference: "LabeledHistogram child",
  iterations: 500_000,
  variants: {
    "LabeledHistogram child": loop((v) => ours.observe(v, TRACE_ID, SPAN_ID)),
    "prom-client observe({ labels, value, exemplarLabels })": loop((value) => withExemplars.observe({ labels: labelObject, value, exemplarLabels: exemplarLabels as never })),
  },
});
