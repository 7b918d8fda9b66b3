/**
 * Metric exposition without servers: Prometheus text and OpenMetrics from
 * one registry, exemplars only in OpenMetrics, and no corruption of one
 * format by scrapes of the other (prom-client renames counters in place when
 * a registry is switched to OpenMetrics; we never switch).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Counter, Gauge, Registry } from "prom-client";
import { OPENMETRICS_TEXT, PROMETHEUS_TEXT, renderMetrics, wantsOpenMetrics } from "../../services/lib/exposition.js";
import { LabeledHistogram } from "../../services/lib/labeled-histogram.js";
import { formatTraceparent, parseTraceparent } from "../../services/lib/telemetry.js";

function registry() {
  const r = new Registry();
  r.setDefaultLabels({ service: "test" });
  const requests = new Counter({ name: "hgp_test_requests_total", help: "Requests.", labelNames: ["code"], registers: [r] });
  requests.inc({ code: "200" }, 3);
  new Gauge({ name: "hgp_test_queue_entries", help: "Queue.", registers: [r] }).set(7);
  const latency = new LabeledHistogram({ name: "hgp_test_duration_seconds", help: "Latency.", labelNames: ["route"], buckets: [0.01, 0.1, 1], registers: [r] });
  const child = latency.child("/x");
  child.observe(0.005);
  child.observe(0.05, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
  child.observe(5);
  return r;
}

const OM_ACCEPT = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

describe("exposition", () => {
  test("negotiates OpenMetrics only when asked", () => {
    assert.equal(wantsOpenMetrics(OM_ACCEPT), true);
    assert.equal(wantsOpenMetrics("text/plain;version=0.0.4"), false);
    assert.equal(wantsOpenMetrics(undefined), false);
  });

  test("Prometheus text: cumulative buckets, default labels, no exemplars", async () => {
    const { contentType, body } = await renderMetrics(registry(), "text/plain");
    assert.equal(contentType, PROMETHEUS_TEXT);
    assert.match(body, /^# TYPE hgp_test_requests_total counter$/m);
    assert.match(body, /^hgp_test_requests_total\{code="200",service="test"\} 3$/m);
    assert.match(body, /^hgp_test_duration_seconds_bucket\{route="\/x",le="0.01",service="test"\} 1$/m);
    assert.match(body, /^hgp_test_duration_seconds_bucket\{route="\/x",le="0.1",service="test"\} 2$/m);
    assert.match(body, /^hgp_test_duration_seconds_bucket\{route="\/x",le="\+Inf",service="test"\} 3$/m);
    assert.match(body, /^hgp_test_duration_seconds_count\{route="\/x",service="test"\} 3$/m);
    assert.match(body, /^hgp_test_duration_seconds_sum\{route="\/x",service="test"\} 5.055$/m);
    assert.doesNotMatch(body, /trace_id/);
  });

  test("OpenMetrics: counter families without _total, exemplars on the traced bucket, # EOF", async () => {
    const { contentType, body } = await renderMetrics(registry(), OM_ACCEPT);
    assert.equal(contentType, OPENMETRICS_TEXT);
    assert.match(body, /^# TYPE hgp_test_requests counter$/m);
    assert.match(body, /^hgp_test_requests_total\{code="200",service="test"\} 3$/m);
    assert.match(
      body,
      /^hgp_test_duration_seconds_bucket\{route="\/x",le="0.1",service="test"\} 2 # \{trace_id="0af7651916cd43dd8448eb211c80319c",span_id="b7ad6b7169203331"\} 0.05 \d+(\.\d+)?$/m,
    );
    assert.equal((body.match(/ # \{/g) ?? []).length, 1, "only the traced observation has an exemplar");
    assert.ok(body.endsWith("# EOF\n"));
  });

  test("scrapes of both formats, even concurrent, leave each other intact", async () => {
    const r = registry();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => renderMetrics(r, i % 2 ? OM_ACCEPT : "text/plain")));
    for (const [i, { contentType, body }] of results.entries()) {
      if (i % 2) {
        assert.equal(contentType, OPENMETRICS_TEXT);
        assert.match(body, /^hgp_test_requests_total\{/m);
        assert.doesNotMatch(body, /_total_total/);
      } else {
        assert.equal(contentType, PROMETHEUS_TEXT);
        assert.match(body, /^# TYPE hgp_test_requests_total counter$/m);
        assert.doesNotMatch(body, /# EOF/);
      }
    }
    assert.equal(r.contentType, PROMETHEUS_TEXT, "the registry itself is never switched");
  });
});

describe("traceparent", () => {
  test("parses and formats W3C trace context", () => {
    const sc = parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")!;
    assert.deepEqual(sc, { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", traceFlags: 1, isRemote: true });
    assert.equal(formatTraceparent(sc), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    assert.equal(parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")!.traceFlags, 0);
  });

  test("rejects malformed values", () => {
    for (const bad of [
      undefined,
      "",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
      "00-00000000000000000000000000000000-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
      "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
      "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
    ]) {
      assert.equal(parseTraceparent(bad), undefined, String(bad));
    }
  });
});
