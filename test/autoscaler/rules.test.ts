import assert from "node:assert/strict";
import { ConfigError } from "../../services/lib/config.js";
import { describe, it } from "node:test";
import { addedWithin, limitRate, recordScaleEvent, scaleDownLimit, scaleUpLimit, stabilize } from "../../services/autoscaler/behavior.js";
import { buildConditions, mergeConditions } from "../../services/autoscaler/conditions.js";
import { confidentProposal, type ConfidenceInput } from "../../services/autoscaler/confidence.js";
import { loadConfig } from "../../services/autoscaler/config.js";
import { decide, initialState, type Recommendation } from "../../services/autoscaler/decide.js";
import { tickEvents } from "../../services/autoscaler/events.js";
import { fallbackAction } from "../../services/autoscaler/fallback.js";
import { leaseAction } from "../../services/autoscaler/leader-election.js";
import { estimateLoad } from "../../services/autoscaler/load-estimate.js";
import { addSample, windowAverage, type QpsSample } from "../../services/autoscaler/metric-window.js";
import { panicReplicas, updatePanic } from "../../services/autoscaler/panic.js";
import { parseInstantQuery, renderQuery } from "../../services/autoscaler/prometheus.js";
import { DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP, normalizeSpec, specFrom } from "../../services/autoscaler/spec.js";
import { buildStatus, statusNeedsWrite } from "../../services/autoscaler/status.js";
import type { ScalingRules } from "../../services/autoscaler/types.js";

describe("spec: defaults and validation", () => {
  it("fills every default with HPA v2 and Knative values", () => {
    const spec = specFrom({ scaleTargetRef: { name: "counter" }, maxReplicas: 10, targetQPSPerReplica: 500 });
    assert.equal(spec.minReplicas, 1);
    assert.equal(spec.tolerance, 0.1);
    assert.equal(spec.stableWindowSeconds, 60);
    assert.deepEqual(spec.panic, { enabled: true, windowSeconds: 6, threshold: 2 });
    assert.deepEqual(spec.behavior.scaleUp, DEFAULT_SCALE_UP);
    assert.deepEqual(spec.behavior.scaleDown, DEFAULT_SCALE_DOWN);
    assert.deepEqual(spec.confidence, { enabled: true, historySeconds: 300, margin: 4.5 });
    assert.deepEqual(spec.fallback, { mode: "hold", replicas: undefined, failureThreshold: 3 });
    assert.equal(spec.paused, false);
    assert.deepEqual(spec.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "counter" });
  });

  it("rejects min > max, target <= 0, fixed fallback without replicas, and lists every problem", () => {
    const r = normalizeSpec({
      scaleTargetRef: {},
      minReplicas: 5,
      maxReplicas: 2,
      targetQPSPerReplica: 0,
      fallback: { mode: "fixed" },
      behavior: { scaleUp: { selectPolicy: "Sometimes", policies: [] } },
      panic: { windowSeconds: 120 },
    });
    assert.equal(r.ok, false);
    if (r.ok) return;
    const text = r.errors.join("\n");
    for (const needle of [
      "scaleTargetRef.name is required",
      "minReplicas (5) must not exceed maxReplicas (2)",
      "targetQPSPerReplica must be a number greater than 0",
      "fallback.replicas is required",
      "selectPolicy must be one of Max, Min, Disabled",
      "policies must be a list of 1 to 10",
      "panic.windowSeconds (120) must not exceed stableWindowSeconds (60)",
    ]) {
      assert.ok(text.includes(needle), `missing '${needle}' in:\n${text}`);
    }
  });

  it("rejects non-objects and wrong types", () => {
    assert.equal(normalizeSpec(null).ok, false);
    assert.equal(normalizeSpec({ scaleTargetRef: { name: "x" }, maxReplicas: "3", targetQPSPerReplica: 1 }).ok, false);
    assert.equal(normalizeSpec({ scaleTargetRef: { name: "x" }, maxReplicas: 3, targetQPSPerReplica: 1, tolerance: 1 }).ok, false);
    assert.equal(normalizeSpec({ scaleTargetRef: { name: "x", kind: "StatefulSet" }, maxReplicas: 3, targetQPSPerReplica: 1 }).ok, false);
  });

  it("confidence is off exactly when the user sets the scale-down window; its history must span two stable windows", () => {
    const make = (extra: Record<string, unknown>) => normalizeSpec({ scaleTargetRef: { name: "c" }, maxReplicas: 3, targetQPSPerReplica: 1, ...extra });
    const enabled = (extra: Record<string, unknown>) => {
      const r = make(extra);
      assert.ok(r.ok, JSON.stringify(r));
      return r.spec.confidence.enabled;
    };
    assert.equal(enabled({ behavior: { scaleDown: { stabilizationWindowSeconds: 300 } } }), false);
    assert.equal(enabled({ behavior: { scaleDown: { stabilizationWindowSeconds: 0 } } }), false);
    assert.equal(enabled({ behavior: { scaleDown: { selectPolicy: "Min" }, scaleUp: { stabilizationWindowSeconds: 30 } } }), true);
    assert.equal(enabled({ behavior: { scaleDown: { stabilizationWindowSeconds: null } } }), true);
    const short = make({ stableWindowSeconds: 200 });
    assert.equal(short.ok, false);
    if (!short.ok) assert.match(short.errors.join("\n"), /confidence.historySeconds \(300\) must be at least twice stableWindowSeconds \(200\)/);
    assert.equal(make({ confidence: { margin: -1 } }).ok, false);
    assert.equal(make({ confidence: { historySeconds: 120, margin: 0 } }).ok, true);
  });

  it("keeps user policies and fills the other fields of a direction", () => {
    const spec = specFrom({
      scaleTargetRef: { name: "c" },
      maxReplicas: 3,
      targetQPSPerReplica: 1,
      behavior: { scaleDown: { policies: [{ type: "Pods", value: 1, periodSeconds: 60 }] } },
    });
    assert.equal(spec.behavior.scaleDown.stabilizationWindowSeconds, 300);
    assert.deepEqual(spec.behavior.scaleDown.policies, [{ type: "Pods", value: 1, periodSeconds: 60 }]);
  });
});

describe("behavior: HPA stabilization and rate limits", () => {
  const up: ScalingRules = { ...DEFAULT_SCALE_UP, stabilizationWindowSeconds: 0 };
  const down: ScalingRules = { ...DEFAULT_SCALE_DOWN, stabilizationWindowSeconds: 60 };

  it("stabilize keeps the max of the scale-down window and prunes old entries", () => {
    const history = [
      { at: 0, replicas: 9 },
      { at: 50_000, replicas: 7 },
    ];
    const s = stabilize(history, 3, 9, up, down, 100_000);
    assert.equal(s.replicas, 7, "9 left the window (cutoff 40 s); 7 remains");
    assert.equal(s.stabilized, "down");
    assert.deepEqual(s.recommendations, [
      { at: 50_000, replicas: 7 },
      { at: 100_000, replicas: 3 },
    ]);
  });

  it("scale-up limit counts earlier scale-ups of the period", () => {
    const events = [{ at: 10_000, change: 4 }];
    assert.equal(scaleUpLimit(6, events, DEFAULT_SCALE_UP, 20_000), 6, "period start 2: max(2+4, 2*2)");
    assert.equal(scaleUpLimit(6, events, DEFAULT_SCALE_UP, 25_001), 12, "event left the 15 s period");
  });

  it("scale-down limit counts earlier scale-downs of the period", () => {
    const rules: ScalingRules = { stabilizationWindowSeconds: 0, selectPolicy: "Max", policies: [{ type: "Pods", value: 2, periodSeconds: 30 }] };
    assert.equal(scaleDownLimit(8, [{ at: 0, change: -2 }], rules, 10_000), 8);
    assert.equal(limitRate(8, 1, [{ at: 0, change: -2 }], up, rules, 10_000, { min: 1, max: 10 }).replicas, 8);
    assert.equal(limitRate(8, 1, [], up, rules, 10_000, { min: 1, max: 10 }).replicas, 6);
  });

  it("scale events are kept for the panic window too, and count the replicas added within it", () => {
    const oneSecond: ScalingRules = { stabilizationWindowSeconds: 0, selectPolicy: "Max", policies: [{ type: "Pods", value: 4, periodSeconds: 1 }] };
    const events = recordScaleEvent([{ at: 0, change: 3 }], 5, 4, 5000, oneSecond, oneSecond, 6);
    assert.deepEqual(events, [{ at: 0, change: 3 }, { at: 5000, change: -1 }]);
    assert.deepEqual(recordScaleEvent(events, 4, 4, 5000, oneSecond, oneSecond), [{ at: 5000, change: -1 }], "without keepSeconds: the 1 s period");
    assert.equal(addedWithin(events, 6, 5000), 3);
    assert.equal(addedWithin(events, 6, 6000), 0);
  });

  it("ignoreScaleUpPolicies still clamps to max", () => {
    const r = limitRate(2, 50, [], up, down, 0, { min: 1, max: 20, ignoreScaleUpPolicies: true });
    assert.deepEqual(r, { replicas: 20, limitedBy: "TooManyReplicas" });
  });
});

describe("panic, windows, fallback", () => {
  it("window averages only count samples inside the window", () => {
    let samples = addSample([], { at: 1000, qps: 10 }, 60);
    samples = addSample(samples, { at: 5000, qps: 30 }, 60);
    assert.equal(windowAverage(samples, 5000, 60), 20);
    assert.equal(windowAverage(samples, 5000, 3), 30);
    assert.equal(windowAverage(samples, 100_000, 6), undefined);
    assert.equal(addSample(samples, { at: 62_000, qps: 1 }, 60).length, 2, "the 1 s sample expired");
  });

  it("panic starts at the threshold, is extended while it holds, ends a stable window later", () => {
    const base = { panicDemand: 4, servingReplicas: 2, threshold: 2, stableWindowSeconds: 60 };
    const p1 = updatePanic({ ...base, state: null, now: 0 });
    assert.deepEqual(p1, { since: 0, lastOver: 0, maxReplicas: 0 });
    assert.ok(updatePanic({ ...base, panicDemand: 3.1, servingReplicas: 2, state: null, now: 0 }), "Knative rounds the demand up: ceil(3.1) / 2 = 2");
    assert.equal(updatePanic({ ...base, panicDemand: 3, servingReplicas: 2, state: null, now: 0 }), null);
    const p2 = updatePanic({ ...base, state: p1, now: 10_000 });
    assert.equal(p2?.lastOver, 10_000);
    const calm = { ...base, panicDemand: 1 };
    assert.ok(updatePanic({ ...calm, state: p2, now: 70_000 }), "still within 60 s of the last over");
    assert.equal(updatePanic({ ...calm, state: p2, now: 70_001 }), null);
    assert.deepEqual(panicReplicas({ since: 0, lastOver: 0, maxReplicas: 9 }, 5, 7).replicas, 9);
  });

  it("fallback actions", () => {
    assert.deepEqual(fallbackAction({ mode: "hold", failureThreshold: 1 }, 100), { kind: "hold", reason: "Hold" });
    assert.deepEqual(fallbackAction({ mode: "fixed", replicas: 3, failureThreshold: 2 }, 1), { kind: "hold", reason: "BelowFailureThreshold" });
    assert.deepEqual(fallbackAction({ mode: "fixed", replicas: 3, failureThreshold: 2 }, 2), { kind: "fixed", replicas: 3 });
  });
});

describe("load estimate and confident scaling", () => {
  /** One sample every 2 s over `seconds`, ending at `now` = seconds × 1000. */
  const samples = (seconds: number, qps: (t: number) => number): QpsSample[] =>
    Array.from({ length: seconds / 2 + 1 }, (_, i) => ({ at: i * 2000, qps: qps(i * 2) }));

  it("a steady decline: the trend, the level now (not half a window ago) and no noise", () => {
    const e = estimateLoad(samples(300, (t) => 3000 - 3 * t), 300_000, 60, 300);
    assert.ok(e);
    assert.ok(Math.abs(e.slope + 3) < 1e-9, `slope ${e.slope}`);
    assert.ok(Math.abs(e.level - 2100) < 1e-6, `level ${e.level}; a 60 s average would say 2190`);
    assert.ok(e.noise < 1e-6);
  });

  it("a spike that ended moves neither the level nor the noise", () => {
    const e = estimateLoad(samples(300, (t) => (t >= 150 && t < 180 ? 3000 : 500)), 300_000, 60, 300);
    assert.deepEqual(e, { level: 500, slope: 0, noise: 0 });
  });

  it("a bending trend is not noise; load that goes up and down is", () => {
    const curve = estimateLoad(samples(300, (t) => 1000 + 2000 * Math.exp(-t / 100)), 300_000, 60, 300)!;
    const levels = [1000, 1250, 850, 1150, 750, 1200, 950, 1100, 800, 1250, 900, 1050, 1200, 780, 1150, 1000];
    const noisy = estimateLoad(samples(300, (t) => levels[Math.floor(t / 10) % levels.length]!), 300_000, 60, 300)!;
    assert.ok(curve.noise < 30, `decay: noise ${curve.noise}`);
    assert.ok(noisy.noise > 150, `noise ${noisy.noise}`);
  });

  it("needs a change over a whole window and a sample of the last one", () => {
    assert.equal(estimateLoad(samples(58, () => 100), 58_000, 60, 300), undefined);
    assert.ok(estimateLoad(samples(60, () => 100), 60_000, 60, 300));
    assert.equal(estimateLoad(samples(300, () => 100), 400_000, 60, 300), undefined);
  });

  it("the five rules of the proposal", () => {
    const at10: ConfidenceInput = { estimate: undefined, panicQPS: 1000, currentReplicas: 10, targetQPSPerReplica: 100, tolerance: 0.1, margin: 4 };
    const est = (level: number, noise: number) => ({ level, noise, slope: 0 });
    assert.deepEqual(confidentProposal({ ...at10, panicQPS: 1150 }), { rule: "ScaleUp", qps: 1150 });
    assert.deepEqual(confidentProposal({ ...at10, panicQPS: 500 }), { rule: "CollectingHistory" });
    assert.deepEqual(confidentProposal({ ...at10, panicQPS: 1050, estimate: est(1080, 5) }), { rule: "ConfidentScaleUp", qps: 1050 });
    assert.deepEqual(confidentProposal({ ...at10, panicQPS: 1050, estimate: est(1080, 25) }), { rule: "WithinNoise" }, "1080 − 4 × 25 is below 1000");
    assert.deepEqual(confidentProposal({ ...at10, panicQPS: 600, estimate: est(600, 50) }), { rule: "ConfidentScaleDown", qps: 800 });
    assert.deepEqual(confidentProposal({ ...at10, panicQPS: 850, estimate: est(600, 50) }), { rule: "ConfidentScaleDown", qps: 850 }, "the panic window too");
    assert.deepEqual(confidentProposal({ ...at10, panicQPS: 600, estimate: est(600, 80) }), { rule: "WithinNoise" }, "600 + 4 × 80 needs 10 replicas");
  });
});

describe("prometheus response parsing", () => {
  it("sums a vector, reads a scalar, refuses empty/NaN/errors", () => {
    assert.deepEqual(
      parseInstantQuery({ status: "success", data: { resultType: "vector", result: [{ value: [1, "1.5"] }, { value: [1, "2.5"] }] } }),
      { ok: true, qps: 4 },
    );
    assert.deepEqual(parseInstantQuery({ status: "success", data: { resultType: "scalar", result: [1, "7"] } }), { ok: true, qps: 7 });
    assert.equal(parseInstantQuery({ status: "success", data: { resultType: "vector", result: [] } }).ok, false);
    assert.equal(parseInstantQuery({ status: "success", data: { resultType: "vector", result: [{ value: [1, "NaN"] }] } }).ok, false);
    const err = parseInstantQuery({ status: "error", errorType: "bad_data", error: "parse error" });
    assert.deepEqual(err, { ok: false, error: "Prometheus query failed: bad_data: parse error" });
    assert.equal(parseInstantQuery({ status: "success", data: { resultType: "matrix", result: [] } }).ok, false);
  });

  it("renders ${namespace}, ${target} and ${name}", () => {
    assert.equal(
      renderQuery('sum(rate(x{namespace="${namespace}",deployment="${target}",cas="${name}"}[1m]))', { namespace: "ns", target: "counter", name: "c1" }),
      'sum(rate(x{namespace="ns",deployment="counter",cas="c1"}[1m]))',
    );
  });
});

describe("lease rules", () => {
  it("create, renew, acquire a free or expired lease, otherwise wait", () => {
    assert.equal(leaseAction(null, "a", 0, 0), "create");
    assert.equal(leaseAction({ holder: "a", leaseDurationSeconds: 15 }, "a", 0, 100_000), "renew");
    assert.equal(leaseAction({ leaseDurationSeconds: 1 }, "a", 0, 0), "acquire");
    assert.equal(leaseAction({ holder: "b", leaseDurationSeconds: 15 }, "a", 0, 15_000), "wait");
    assert.equal(leaseAction({ holder: "b", leaseDurationSeconds: 15 }, "a", 0, 15_001), "acquire");
  });
});

describe("status, conditions and events", () => {
  const spec = specFrom({ scaleTargetRef: { name: "c" }, maxReplicas: 4, targetQPSPerReplica: 100 });
  const rec = (qps: number | undefined, current = 1): Recommendation =>
    decide(initialState(), {
      spec,
      currentReplicas: current,
      observation: qps === undefined ? { ok: false, error: "down" } : { ok: true, qps },
      now: 0,
    }).recommendation;

  it("a scale writes Ready, AbleToScale SucceededRescale, lastScaleTime and a SuccessfulRescale event", () => {
    const r = rec(300, 2);
    const status = buildStatus(undefined, { recommendation: r, scaled: true }, 3, "2024-01-01T00:00:00Z");
    assert.equal(status.observedGeneration, 3);
    assert.equal(status.desiredReplicas, 3);
    assert.equal(status.currentQPS, 300);
    assert.equal(status.lastScaleTime, "2024-01-01T00:00:00Z");
    const byType = Object.fromEntries(status.conditions!.map((c) => [c.type, c]));
    assert.equal(byType.Ready?.status, "True");
    assert.equal(byType.AbleToScale?.reason, "SucceededRescale");
    assert.equal(byType.MetricAvailable?.status, "True");
    assert.equal(byType.Fallback?.status, "False");
    const events = tickEvents(undefined, status, { recommendation: r, scaled: true });
    assert.equal(events[0]?.reason, "SuccessfulRescale");
    assert.match(events[0]!.message, /^New size: 3; reason: ScaleUp/);
  });

  it("metric loss sets MetricAvailable False and Fallback True once, with one event each", () => {
    const ok = buildStatus(undefined, { recommendation: rec(100) }, 1, "t0");
    const lost = buildStatus(ok, { recommendation: rec(undefined) }, 1, "t1");
    const byType = Object.fromEntries(lost.conditions!.map((c) => [c.type, c]));
    assert.equal(byType.MetricAvailable?.status, "False");
    assert.equal(byType.Fallback?.status, "True");
    assert.equal(byType.Fallback?.reason, "Hold");
    assert.equal(byType.ScalingActive?.reason, "FailedGetMetric");
    assert.equal(byType.MetricAvailable?.lastTransitionTime, "t1");
    assert.equal(byType.Ready?.lastTransitionTime, "t0", "unchanged status keeps its transition time");
    const events = tickEvents(ok, lost, { recommendation: rec(undefined) });
    assert.deepEqual(events.map((e) => e.reason), ["FailedGetMetric", "FallbackActive"]);
    const again = buildStatus(lost, { recommendation: rec(undefined) }, 1, "t2");
    assert.deepEqual(tickEvents(lost, again, { recommendation: rec(undefined) }), []);
    const back = buildStatus(again, { recommendation: rec(100) }, 1, "t3");
    assert.deepEqual(tickEvents(again, back, { recommendation: rec(100) }).map((e) => e.reason), ["MetricRecovered"]);
  });

  it("invalid spec and HPA conflict", () => {
    const bad = buildConditions({ specErrors: ["spec.maxReplicas is required"] });
    assert.equal(bad[0]?.reason, "InvalidSpec");
    const conflict = buildConditions({ hpaConflict: "counter-hpa" });
    assert.equal(conflict.find((c) => c.type === "AbleToScale")?.status, "False");
    assert.match(conflict[0]!.message, /counter-hpa/);
    const status = buildStatus(undefined, { hpaConflict: "counter-hpa" }, 1, "t");
    assert.deepEqual(tickEvents(undefined, status, { hpaConflict: "counter-hpa" }).map((e) => e.reason), ["HPAConflict"]);
  });

  it("limits show in ScalingLimited", () => {
    const r = rec(100_000);
    const c = buildConditions({ recommendation: r }).find((x) => x.type === "ScalingLimited");
    assert.equal(c?.status, "True");
    assert.equal(c?.reason, "TooManyReplicas");
  });

  it("status writes: changes at once, QPS-only changes when they move 5 % or after the refresh period", () => {
    const a = buildStatus(undefined, { recommendation: rec(100) }, 1, "t");
    const b = { ...a, currentQPS: 102 };
    assert.equal(statusNeedsWrite(undefined, a, 0, 0, 10_000), true);
    assert.equal(statusNeedsWrite(a, b, 0, 1000, 10_000), false);
    assert.equal(statusNeedsWrite(a, b, 0, 10_000, 10_000), true);
    assert.equal(statusNeedsWrite(a, { ...a, currentQPS: 110 }, 0, 1000, 10_000), true);
    assert.equal(statusNeedsWrite(a, { ...a, desiredReplicas: 2 }, 0, 1000, 10_000), true);
    assert.equal(statusNeedsWrite(a, mergeBack(a), 0, 1000, 10_000), false);
  });

  const mergeBack = (s: ReturnType<typeof buildStatus>) => ({
    ...s,
    conditions: mergeConditions(s.conditions, s.conditions!.map(({ lastTransitionTime: _t, ...rest }) => ({ ...rest, message: "other" })), "later"),
  });
});

describe("config", () => {
  it("defaults and validation", () => {
    const c = loadConfig({});
    assert.equal(c.metricsPort, 9103);
    assert.equal(c.tickMs, 2000);
    assert.equal(c.prometheusURL, "http://127.0.0.1:9090");
    assert.equal(c.leaseName, "highgopress-autoscaler");
    assert.equal(c.leaseNamespace, "default");
    assert.equal(loadConfig({ WATCH_NAMESPACE: "hgp" }).leaseNamespace, "hgp");
    assert.throws(() => loadConfig({ METRICS_PORT: "x", PROMETHEUS_URL: "localhost" }), /METRICS_PORT[\s\S]*PROMETHEUS_URL/);
    assert.throws(() => loadConfig({ LEASE_DURATION_SECONDS: "5", LEASE_RENEW_DEADLINE_SECONDS: "5" }), (err: unknown) => err instanceof ConfigError && /must be less than/.test(err.message));
  });
});
