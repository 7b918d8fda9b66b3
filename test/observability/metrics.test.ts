/**
 * /metrics of every service after a short mixed load: the metrics the issue
 * asks for exist, names and labels follow Prometheus conventions (units in
 * names, _total only on counters, bounded labels, never a resource id), and
 * OpenMetrics scrapes carry exemplars with trace ids on latency histograms.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Registry } from "prom-client";
import { createAutoscalerMetrics } from "../../services/autoscaler/metrics.js";
import { startStack, type Stack } from "../support/stack.js";
import { mixedLoad, OTLP_URL } from "./support.js";

interface Family {
  name: string;
  type: string;
  help: string;
  samples: Array<{ name: string; labels: Record<string, string>; value: string }>;
}

/** Parses Prometheus text exposition 0.0.4 into families. */
export function parseText(body: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: "untyped", help: "", samples: [] }));
    return f;
  };
  let current: Family | undefined;
  for (const line of body.split("\n")) {
    if (line === "") continue;
    let m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (m) {
      current = family(m[2]!);
      if (m[1] === "HELP") current.help = m[3]!;
      else current.type = m[3]!;
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `unparseable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const lm of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]!] = lm[2]!;
    const owner = current && (m[1] === current.name || m[1]!.startsWith(`${current.name}_`)) ? current : family(m[1]!);
    owner.samples.push({ name: m[1]!, labels, value: m[4]! });
  }
  return families;
}

const BOUNDED_COUNTER_TYPES = new Set(["like", "view", "follow", "share", "comment", "other"]);
const FORBIDDEN_LABELS = new Set(["resource_id", "user_id", "request_id", "idempotency_key", "url", "path", "trace_id", "span_id", "event_id", "key", "id"]);
/** prom-client's default gauges named like counters (upstream names, kept so community dashboards work). */
const UPSTREAM_EXCEPTIONS = new Set(["nodejs_active_resources_total", "nodejs_active_handles_total", "nodejs_active_requests_total"]);
const UNIT_SUFFIX = /_(seconds|bytes|size|messages|entries|replicas|qps|ratio|info)$/;

/** Every convention violation in one service's exposition. */
export function lint(service: string, families: Map<string, Family>, resourceIds: string[]): string[] {
  const problems: string[] = [];
  const bad = (f: Family, what: string) => problems.push(`${service}: ${f.name}: ${what}`);
  for (const f of families.values()) {
    if (!/^[a-z_][a-z0-9_]*$/.test(f.name)) bad(f, "name must be snake_case [a-z0-9_] (colons are for recording rules)");
    if (!f.help) bad(f, "has no HELP");
    if (f.type === "untyped") bad(f, "has no TYPE");
    const ours = !/^(process|nodejs)_/.test(f.name);
    if (ours && !f.name.startsWith("highgopress_")) bad(f, "must be prefixed highgopress_");
    if (f.type === "counter" && !f.name.endsWith("_total")) bad(f, "is a counter, so its name must end in _total");
    if (f.type !== "counter" && f.name.endsWith("_total") && !UPSTREAM_EXCEPTIONS.has(f.name)) bad(f, "ends in _total but is a " + f.type);
    if (/_(ms|milliseconds|millis|us|microseconds|ns|nanoseconds|minutes|hours|kb|mb|percent)(_|$)/.test(f.name)) bad(f, "uses a non-base unit; use seconds, bytes or a ratio");
    if (/(duration|latency|delay|_age_|_time_|elapsed)/.test(f.name) && !/_seconds(_total)?$/.test(f.name)) bad(f, "measures time, so its name must end in _seconds");
    if (/(memory|heap|_bytes_)/.test(f.name) && !/_bytes(_total)?$/.test(f.name)) bad(f, "measures memory, so its name must end in _bytes");
    if ((f.type === "histogram" || f.type === "summary") && ours && !UNIT_SUFFIX.test(f.name)) bad(f, "histogram name must end in its unit (_seconds, _bytes, _size ...)");
    const values = new Map<string, Set<string>>();
    for (const s of f.samples) {
      if (f.type === "histogram" && !/_(bucket|sum|count)$/.test(s.name)) bad(f, `histogram sample ${s.name} is not _bucket/_sum/_count`);
      for (const [label, value] of Object.entries(s.labels)) {
        if (!/^[a-z_][a-z0-9_]*$/.test(label) || label.startsWith("__")) bad(f, `label ${label} is not snake_case`);
        if (FORBIDDEN_LABELS.has(label)) bad(f, `label ${label} is unbounded`);
        if (label === "le" && f.type !== "histogram") bad(f, "le label outside a histogram");
        if (label === "counter_type" && !BOUNDED_COUNTER_TYPES.has(value)) bad(f, `counter_type="${value}" is not one of the configured types or "other"`);
        if (label === "route" && value !== "unmatched" && !value.startsWith("/")) bad(f, `route="${value}" is not a route pattern`);
        for (const id of resourceIds) if (value.includes(id)) bad(f, `label ${label}="${value}" contains a resource id`);
        if (!values.has(label)) values.set(label, new Set());
        values.get(label)!.add(value);
      }
    }
    for (const [label, set] of values) {
      if (label !== "le" && label !== "quantile" && set.size > 40) bad(f, `label ${label} has ${set.size} values (unbounded?)`);
    }
  }
  return problems;
}

const REQUIRED: Record<string, string[]> = {
  gateway: [
    "highgopress_http_server_request_duration_seconds",
    "highgopress_grpc_client_handling_seconds",
    "highgopress_gateway_coalesced_batch_size",
    "nodejs_eventloop_lag_seconds",
    "nodejs_heap_size_used_bytes",
    "nodejs_gc_duration_seconds",
  ],
  counter: [
    "highgopress_grpc_server_handling_seconds",
    "highgopress_counter_increments_total",
    "highgopress_counter_delta_sum_total",
    "highgopress_redis_command_duration_seconds",
    "highgopress_redis_command_errors_total",
    "highgopress_outbox_entries",
    "highgopress_outbox_oldest_age_seconds",
    "highgopress_outbox_events_published_total",
    "highgopress_outbox_publish_failures_total",
    "highgopress_kafka_publish_duration_seconds",
    "nodejs_eventloop_lag_seconds",
  ],
  analytics: [
    "highgopress_grpc_server_handling_seconds",
    "highgopress_analytics_events_applied_total",
    "highgopress_analytics_events_deduplicated_total",
    "highgopress_analytics_consumer_lag_messages",
    "highgopress_analytics_event_delay_seconds",
    "highgopress_redis_command_duration_seconds",
    "nodejs_eventloop_lag_seconds",
  ],
};

const OM_ACCEPT = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

describe("metrics of every service", { timeout: 180_000 }, () => {
  let stack: Stack;
  let urls: Record<string, string>;
  const texts: Record<string, string> = {};

  before(async () => {
    // Every request traced, so exemplars are certain; the exporter target does not matter here.
    stack = await startStack({ env: { TRACING_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_ENDPOINT: OTLP_URL, OTEL_TRACES_SAMPLER_ARG: "1" } });
    urls = {
      gateway: `${stack.gatewayUrl}/metrics`,
      counter: `http://127.0.0.1:${stack.ports.counterMetrics}/metrics`,
      analytics: `http://127.0.0.1:${stack.ports.analyticsMetrics}/metrics`,
    };
    const load = await mixedLoad(stack.gatewayUrl, stack.counterType, 4_000, 4);
    assert.ok((load.byStatus[200] ?? 0) > 50, `load should mostly succeed: ${JSON.stringify(load.byStatus)}`);
    // Let the relay publish and analytics apply what was written.
    await new Promise((r) => setTimeout(r, 2_000));
    for (const [service, url] of Object.entries(urls)) texts[service] = await (await fetch(url)).text();
  });
  after(async () => {
    await stack?.stop();
  });

  for (const service of ["gateway", "counter", "analytics"]) {
    test(`${service}: required metrics exist and follow the naming and label conventions`, () => {
      const families = parseText(texts[service]!);
      for (const name of REQUIRED[service]!) assert.ok(families.has(name), `${service} does not export ${name}`);
      const problems = lint(service, families, ["obs-", "linked-", "traced-", stack.runId]);
      assert.deepEqual(problems, []);
    });
  }

  test("gateway: HTTP metrics are per route pattern, method and status; 404s are 'unmatched'", () => {
    const f = parseText(texts.gateway!).get("highgopress_http_server_request_duration_seconds")!;
    const counts = f.samples.filter((s) => s.name.endsWith("_count"));
    const routes = new Set(counts.map((s) => s.labels.route));
    for (const r of ["/api/v1/counter/increment", "/api/v1/counter/:resource_id/:counter_type", "/api/v1/analytics/top", "unmatched"]) {
      assert.ok(routes.has(r), `no series for route ${r}: ${[...routes].join(", ")}`);
    }
    const statuses = new Set(counts.map((s) => s.labels.status_code));
    for (const code of ["200", "400", "404"]) assert.ok(statuses.has(code), `no series for status ${code}`);
  });

  test("counter: increments of unlisted counter types are counted as 'other'", () => {
    const f = parseText(texts.counter!).get("highgopress_counter_increments_total")!;
    const counted = new Set(f.samples.filter((s) => Number(s.value) > 0).map((s) => s.labels.counter_type));
    assert.ok(counted.has("other") && counted.has("like"), [...counted].join(", "));
  });

  test("OpenMetrics scrapes carry exemplars with trace ids on the latency histograms; text scrapes stay plain", async () => {
    for (const [service, family] of [
      ["gateway", "highgopress_http_server_request_duration_seconds"],
      ["gateway", "highgopress_grpc_client_handling_seconds"],
      ["counter", "highgopress_grpc_server_handling_seconds"],
      ["counter", "highgopress_redis_command_duration_seconds"],
    ] as const) {
      const res = await fetch(urls[service]!, { headers: { accept: OM_ACCEPT } });
      assert.match(res.headers.get("content-type") ?? "", /^application\/openmetrics-text; version=1.0.0/);
      const body = await res.text();
      assert.ok(body.endsWith("# EOF\n"), `${service}: OpenMetrics must end with # EOF`);
      const exemplar = new RegExp(`^${family}_bucket\\{[^}]*\\} \\d+ # \\{trace_id="[0-9a-f]{32}",span_id="[0-9a-f]{16}"\\} [0-9.e-]+ \\d+(\\.\\d+)?$`, "m");
      assert.match(body, exemplar, `${service}: ${family} has no exemplar`);
      assert.match(body, /^# TYPE highgopress_\w+ counter$/m);
      assert.doesNotMatch(body, /^# TYPE \w+_total counter$/m, "OpenMetrics counter families are named without _total");
    }
    // A text scrape right after: counters keep _total, no exemplars, no # EOF.
    const text = await (await fetch(urls.counter!, { headers: { accept: "text/plain;version=0.0.4" } })).text();
    assert.match(text, /^# TYPE highgopress_counter_increments_total counter$/m);
    assert.doesNotMatch(text, / # \{trace_id=/);
    assert.doesNotMatch(text, /# EOF/);
  });
});

describe("autoscaler metrics", () => {
  test("follow the same conventions", async () => {
    const registry = new Registry();
    const m = createAutoscalerMetrics(registry);
    m.observe(
      { namespace: "ns", name: "counter" },
      { desiredReplicas: 2, currentReplicas: 1, reason: "Steady", message: "", panicMode: false, qps: 12, metricAvailable: true, consecutiveFailures: 0, fallbackActive: false } as never,
      0.01,
      { minReplicas: 1, maxReplicas: 5, targetQPSPerReplica: 10 },
    );
    m.setLeader(true);
    const families = parseText(await registry.metrics());
    assert.deepEqual(lint("autoscaler", families, []), []);
    for (const name of ["highgopress_autoscaler_desired_replicas", "highgopress_autoscaler_max_replicas", "highgopress_autoscaler_target_qps_per_replica", "highgopress_autoscaler_panic_mode"]) {
      assert.ok(families.has(name), name);
    }
  });
});
