/**
 * Traces against the real Jaeger (scripts/jaeger.sh): one increment with a
 * known trace id becomes one trace from the HTTP request through the
 * coalesced gRPC call, the counter's Redis script, the outbox relay's Kafka
 * publish and the analytics consumer's apply; a coalesced batch links the
 * requests it carries; the Jaeger exporter works as well as OTLP.
 *
 * The stack samples no new traces (ratio 0): only requests that arrive with
 * a sampled traceparent are traced, exactly as a caller's decision is
 * honoured in production.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { eventually, freePorts, http, repoRoot, startStack, type Stack } from "../support/stack.js";
import {
  hex,
  JAEGER_THRIFT_URL,
  jaegerReachable,
  jaegerTrace,
  OTLP_URL,
  parentOf,
  serviceOf,
  tag,
  type JaegerSpan,
  type JaegerTrace,
} from "./support.js";

const tracingEnv = (exporter: "otlp" | "jaeger") => ({
  TRACING_EXPORTER: exporter,
  OTEL_EXPORTER_OTLP_ENDPOINT: OTLP_URL,
  OTEL_EXPORTER_JAEGER_ENDPOINT: JAEGER_THRIFT_URL,
  OTEL_TRACES_SAMPLER: "parentbased_traceidratio",
  OTEL_TRACES_SAMPLER_ARG: "0",
  OTEL_BSP_SCHEDULE_DELAY: "200",
  // One batch call in flight at a time, so concurrent requests surely meet in the coalescing queue.
  COALESCE_MAX_IN_FLIGHT: "1",
});

/** Waits until the trace holds spans matching every predicate (spans arrive per service, in batches). */
async function waitForTrace(traceId: string, complete: (t: JaegerTrace) => boolean, what: string): Promise<JaegerTrace> {
  return eventually(`Jaeger to hold ${what} (trace ${traceId})`, async () => {
    const t = await jaegerTrace(traceId);
    return t && complete(t) ? t : undefined;
  }, 30_000, 500);
}

function find(t: JaegerTrace, service: string, operation: RegExp): JaegerSpan {
  const span = t.spans.find((s) => serviceOf(t, s).includes(service) && operation.test(s.operationName));
  assert.ok(span, `no ${service} span named ${operation} in ${t.spans.map((s) => `${serviceOf(t, s)}:${s.operationName}`).join(", ")}`);
  return span;
}

function assertChild(child: JaegerSpan, parent: JaegerSpan | string, what: string): void {
  const ref = parentOf(child);
  const parentId = typeof parent === "string" ? parent : parent.spanID;
  assert.equal(ref?.spanID, parentId, `${what}: ${child.operationName} should be a child of ${typeof parent === "string" ? parent : parent.operationName}`);
}

const fullPath = (t: JaegerTrace) =>
  ["gateway", "counter", "analytics"].every((s) => t.spans.some((span) => serviceOf(t, span).includes(s))) &&
  t.spans.some((s) => /hgpApplyEvents/.test(s.operationName));

describe("traces in Jaeger", { timeout: 180_000 }, () => {
  let stack: Stack;

  before(async () => {
    assert.ok(await jaegerReachable(), "Jaeger's query API does not answer; start it with scripts/jaeger.sh start (make test does)");
    stack = await startStack({ env: tracingEnv("otlp") });
  });
  after(async () => {
    await stack?.stop();
  });

  test("one increment with a known trace id is one trace from HTTP to the analytics apply", async () => {
    const traceId = hex(16);
    const callerSpan = hex(8);
    const res = await http(
      "POST",
      `${stack.gatewayUrl}/api/v1/counter/increment`,
      { resource_id: "traced-1", counter_type: stack.counterType("like") },
      { traceparent: `00-${traceId}-${callerSpan}-01` },
    );
    assert.equal(res.status, 200);

    const t = await waitForTrace(traceId, fullPath, "gateway, counter and analytics spans");
    assert.equal(t.traceID, traceId);
    const httpSpan = find(t, "gateway", /^POST \/api\/v1\/counter\/increment$/);
    assertChild(httpSpan, callerSpan, "the gateway continues the caller's trace");
    assert.equal(tag(httpSpan, "span.kind"), "server");
    assert.equal(tag(httpSpan, "http.route"), "/api/v1/counter/increment");
    assert.equal(Number(tag(httpSpan, "http.response.status_code")), 200);

    const batchCall = find(t, "gateway", /CounterService\/BatchIncrementCounters$/);
    assertChild(batchCall, httpSpan, "the coalesced call");
    assert.equal(tag(batchCall, "span.kind"), "client");
    assert.equal(tag(batchCall, "rpc.system"), "grpc");

    const server = find(t, "counter", /CounterService\/BatchIncrementCounters$/);
    assertChild(server, batchCall, "the counter's server span");
    assert.equal(tag(server, "span.kind"), "server");

    const redis = find(t, "counter", /^redis EVALSHA hgpIncrement$/);
    assertChild(redis, server, "the Redis script");
    assert.equal(tag(redis, "db.system"), "redis");

    const publish = find(t, "counter", /^publish counter-events/);
    assertChild(publish, redis, "the relay publish (context carried in the outbox entry)");
    assert.equal(tag(publish, "span.kind"), "producer");
    assert.equal(tag(publish, "messaging.system"), "kafka");

    const consume = find(t, "analytics", /^process counter-events/);
    assertChild(consume, publish, "the analytics consumer (context carried in the Kafka header)");
    assert.equal(tag(consume, "span.kind"), "consumer");
    assert.equal(tag(consume, "messaging.system"), "kafka");

    const apply = find(t, "analytics", /^redis EVALSHA hgpApplyEvents$/);
    assertChild(apply, consume, "the analytics apply script");
  });

  test("a coalesced batch call links every traced request it carries", async () => {
    const n = 20;
    const traces = Array.from({ length: n }, () => hex(16));
    const type = stack.counterType("view");
    // Sent together, they meet in the gateway's coalescing queue and ride in shared batch calls.
    const answers = await Promise.all(
      traces.map((traceId, i) =>
        http("POST", `${stack.gatewayUrl}/api/v1/counter/increment`, { resource_id: `linked-${i}`, counter_type: type }, { traceparent: `00-${traceId}-${hex(8)}-01` }),
      ),
    );
    assert.ok(answers.every((a) => a.status === 200));
    const got = await Promise.all(
      traces.map((id) => waitForTrace(id, (t) => t.spans.some((s) => /^POST /.test(s.operationName)), "the request span")),
    );
    // Each request's trace either holds the batch call (it was the parent) or is linked from one.
    const batchSpans = got.flatMap((t) => t.spans.filter((s) => /BatchIncrementCounters$/.test(s.operationName) && tag(s, "span.kind") === "client"));
    await eventually("every request to be carried by a traced batch call", async () => {
      const all = await Promise.all(traces.map((id) => jaegerTrace(id)));
      const batches = all.flatMap((t) => (t ? t.spans.filter((s) => /BatchIncrementCounters$/.test(s.operationName) && tag(s, "span.kind") === "client") : []));
      const linked = new Set(batches.flatMap((b) => b.references.filter((r) => r.refType === "FOLLOWS_FROM").map((r) => r.traceID)));
      const parents = new Set(batches.map((b) => b.traceID));
      return traces.every((id) => parents.has(id) || linked.has(id)) ? true : undefined;
    }, 20_000, 500);
    assert.ok(batchSpans.length < n, `expected coalescing (fewer batch calls than requests), got ${batchSpans.length} for ${n}`);
    const withLinks = batchSpans.filter((b) => b.references.some((r) => r.refType === "FOLLOWS_FROM"));
    assert.ok(withLinks.length > 0, "a batch that carried several traced requests links them");
    for (const b of withLinks) {
      const links = b.references.filter((r) => r.refType === "FOLLOWS_FROM");
      assert.equal(Number(tag(b, "highgopress.batch.traced_requests")), links.length + 1);
      for (const l of links) assert.ok(traces.includes(l.traceID), "links point at the requests' own traces");
    }
  });

  test("a traceparent whose sampled flag is clear is not traced", async () => {
    const traceId = hex(16);
    await http("POST", `${stack.gatewayUrl}/api/v1/counter/increment`, { resource_id: "untraced", counter_type: stack.counterType("like") }, {
      traceparent: `00-${traceId}-${hex(8)}-00`,
    });
    const probe = hex(16);
    await http("POST", `${stack.gatewayUrl}/api/v1/counter/increment`, { resource_id: "traced-probe", counter_type: stack.counterType("like") }, {
      traceparent: `00-${probe}-${hex(8)}-01`,
    });
    // Once a later sampled request has arrived in full, the unsampled one had its chance to show up.
    await waitForTrace(probe, fullPath, "the probe's full path");
    assert.equal(await jaegerTrace(traceId), undefined, "the caller said not sampled; nothing may be recorded");
  });

  test("health checks, probes and metric scrapes are never traced, even with a sampled traceparent", async () => {
    const untraced = new Map<string, string>();
    for (const path of ["/api/v1/health", "/healthz", "/readyz", "/metrics"]) {
      const traceId = hex(16);
      const res = await http("GET", `${stack.gatewayUrl}${path}`, undefined, { traceparent: `00-${traceId}-${hex(8)}-01` });
      assert.ok(res.status === 200 || (path === "/readyz" && res.status === 503), `${path} answered ${res.status}`);
      untraced.set(path, traceId);
    }
    const probe = hex(16);
    await http("POST", `${stack.gatewayUrl}/api/v1/counter/increment`, { resource_id: "traced-probe-2", counter_type: stack.counterType("like") }, {
      traceparent: `00-${probe}-${hex(8)}-01`,
    });
    await waitForTrace(probe, fullPath, "the probe's full path");
    for (const [path, traceId] of untraced) assert.equal(await jaegerTrace(traceId), undefined, `${path} was traced`);
  });
});

describe("the Jaeger exporter (TRACING_EXPORTER=jaeger)", { timeout: 120_000 }, () => {
  let stack: Stack;

  before(async () => {
    assert.ok(await jaegerReachable(), "Jaeger's query API does not answer; start it with scripts/jaeger.sh start (make test does)");
    stack = await startStack({ env: tracingEnv("jaeger") });
  });
  after(async () => {
    await stack?.stop();
  });

  test("delivers the same trace through Jaeger's thrift collector", async () => {
    const traceId = hex(16);
    const res = await http("POST", `${stack.gatewayUrl}/api/v1/counter/increment`, { resource_id: "jaeger-exp", counter_type: stack.counterType("like") }, {
      traceparent: `00-${traceId}-${hex(8)}-01`,
    });
    assert.equal(res.status, 200);
    const t = await waitForTrace(traceId, fullPath, "gateway, counter and analytics spans");
    const server = find(t, "counter", /CounterService\/BatchIncrementCounters$/);
    assertChild(find(t, "counter", /^redis EVALSHA hgpIncrement$/), server, "the Redis script");
  });
});

describe("scripts/jaeger.sh when another program holds Jaeger's extra ports", { timeout: 90_000 }, () => {
  test("starts anyway, on free ports for them, and answers queries", async () => {
    // The test Jaeger holds them all (health check, own metrics, sampling, query gRPC, the UDP agent).
    assert.ok(await jaegerReachable(), "Jaeger's query API does not answer; start it with scripts/jaeger.sh start (make test does)");
    const [ui, otlpGrpc, otlpHttp, thrift] = await freePorts(4);
    const run = mkdtempSync(join(tmpdir(), "hgp-jaeger-"));
    const script = join(repoRoot, "scripts/jaeger.sh");
    const env = {
      ...process.env,
      HIGHGOPRESS_RUN: run,
      JAEGER_UI_PORT: String(ui),
      JAEGER_OTLP_GRPC_PORT: String(otlpGrpc),
      JAEGER_OTLP_HTTP_PORT: String(otlpHttp),
      JAEGER_THRIFT_HTTP_PORT: String(thrift),
    };
    try {
      const r = spawnSync("bash", [script, "start"], { env, encoding: "utf8", timeout: 60_000 });
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
      const health = process.env.JAEGER_HEALTH_PORT ?? "13133";
      assert.match(r.stderr, new RegExp(`tcp port ${health} \\(JAEGER_HEALTH_PORT\\) is taken by another program; Jaeger listens on \\d+ for it instead`));
      const res = await fetch(`http://127.0.0.1:${ui}/api/services`);
      assert.equal(res.status, 200, "the new Jaeger's query API");
    } finally {
      spawnSync("bash", [script, "stop"], { env, stdio: "ignore" });
      rmSync(run, { recursive: true, force: true });
    }
  });
});
