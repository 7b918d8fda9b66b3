import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decide, initialState, recordScale, type DecisionState, type Observation, type Recommendation } from "../../services/autoscaler/decide.js";
import { specFrom } from "../../services/autoscaler/spec.js";
import type { AutoscalerSpec } from "../../services/autoscaler/types.js";

/** Drives the decision function like the controller does: scale to the recommendation every tick. */
class Driver {
  state: DecisionState = initialState();
  now = 1_000_000;
  last!: Recommendation;
  constructor(
    readonly spec: AutoscalerSpec,
    public current: number,
    readonly tickMs = 2000,
  ) {}

  tick(observation: Observation | number): Recommendation {
    const obs: Observation = typeof observation === "number" ? { ok: true, qps: observation } : observation;
    const { recommendation, state } = decide(this.state, {
      spec: this.spec,
      currentReplicas: this.current,
      observation: obs,
      now: this.now,
    });
    this.state = state;
    if (recommendation.desiredReplicas !== this.current) {
      this.state = recordScale(this.state, this.current, recommendation.desiredReplicas, this.now, this.spec);
      this.current = recommendation.desiredReplicas;
    }
    this.now += this.tickMs;
    this.last = recommendation;
    return recommendation;
  }

  /** Ticks for `seconds` at a constant QPS; returns the replica counts after each tick. */
  run(seconds: number, qps: number | Observation): number[] {
    const out: number[] = [];
    for (let t = 0; t < seconds * 1000; t += this.tickMs) {
      this.tick(qps);
      out.push(this.current);
    }
    return out;
  }
}

const base = { scaleTargetRef: { name: "counter" }, minReplicas: 1, maxReplicas: 100, targetQPSPerReplica: 100 };
/** A spec that reacts instantly: 1 s windows, no stabilization, no panic; rate policies as given. */
const instant = (extra: Record<string, unknown> = {}) =>
  specFrom({
    ...base,
    stableWindowSeconds: 1,
    panic: { enabled: false, windowSeconds: 1 },
    behavior: {
      scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: "Pods", value: 1000, periodSeconds: 1 }] },
      scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: "Percent", value: 100, periodSeconds: 1 }] },
    },
    ...extra,
  });

describe("decide: proportional rule and tolerance", () => {
  it("desired = ceil(QPS / targetQPSPerReplica)", () => {
    const d = new Driver(instant(), 1);
    assert.equal(d.tick(1001).desiredReplicas, 11);
    assert.equal(d.last.reason, "ScaleUp");
    assert.equal(d.tick(300).desiredReplicas, 3);
    assert.equal(d.last.reason, "ScaleDown");
  });

  it("keeps the current count while QPS is within 10 % of the target", () => {
    const d = new Driver(instant(), 10);
    assert.equal(d.tick(1090).desiredReplicas, 10);
    assert.equal(d.last.reason, "WithinTolerance");
    assert.equal(d.tick(910).desiredReplicas, 10);
    assert.equal(d.tick(1150).desiredReplicas, 12);
  });

  it("honours a per-resource tolerance", () => {
    const d = new Driver(instant({ tolerance: 0.3 }), 10);
    assert.equal(d.tick(1250).desiredReplicas, 10);
    assert.equal(d.tick(750).desiredReplicas, 10);
    assert.equal(d.tick(1350).desiredReplicas, 14);
    const strict = new Driver(instant({ tolerance: 0 }), 10);
    assert.equal(strict.tick(1001).desiredReplicas, 11);
  });

  it("exact multiples do not round up (floating point)", () => {
    const d = new Driver(instant({ targetQPSPerReplica: 0.1 }), 1);
    assert.equal(d.tick(0.3).desiredReplicas, 3);
  });

  it("zero QPS goes to minReplicas", () => {
    const d = new Driver(instant({ minReplicas: 2 }), 8);
    assert.equal(d.tick(0).desiredReplicas, 2);
    assert.equal(d.last.limitedBy, "TooFewReplicas");
  });
});

describe("decide: stable window", () => {
  it("rises as soon as the panic window sees more load", () => {
    const spec = specFrom({ ...base, panic: { enabled: false }, behavior: { scaleDown: { stabilizationWindowSeconds: 0 } } });
    const d = new Driver(spec, 5);
    d.run(60, 500);
    assert.equal(d.current, 5);
    d.tick(1500); // panic window (6 s): (500 + 500 + 1500) / 3 = 833 → 9; stable window still 533
    assert.equal(d.current, 9);
    assert.equal(d.last.reason, "ScaleUp");
  });

  it("falls only as fast as the stable window average", () => {
    const spec = specFrom({ ...base, panic: { enabled: false }, behavior: { scaleDown: { stabilizationWindowSeconds: 0 } } });
    const d = new Driver(spec, 10);
    d.run(60, 1000);
    const series = d.run(60, 500);
    assert.equal(series[0], 10, "(29 x 1000 + 500) / 30 = 983: within tolerance of 10");
    for (let i = 1; i < series.length; i++) assert.ok(series[i]! <= series[i - 1]!, "monotone");
    assert.ok(series[10]! >= 8, `still high after 22 s: ${series.join(",")}`);
    assert.equal(d.current, 5);
  });

  it("a step below the panic threshold is followed as the stable average catches up", () => {
    const spec = specFrom({ ...base, panic: { enabled: true }, behavior: { scaleDown: { stabilizationWindowSeconds: 0 } } });
    const d = new Driver(spec, 10);
    d.run(60, 1000);
    const series = d.run(70, 1800);
    assert.equal(d.last.panicMode, false);
    assert.ok(series[0]! < 18, "no jump at the first tick");
    assert.equal(d.current, 18, "reaches ceil(1800/100) once the window is full");
    for (let i = 1; i < series.length; i++) assert.ok(series[i]! >= series[i - 1]!, "monotone");
  });
});

describe("decide: panic mode (Knative)", () => {
  const spec = specFrom({ ...base, maxReplicas: 50 });

  it("enters panic when the panic window wants >= 2x the current replicas and skips scale-up rate policies", () => {
    const d = new Driver(spec, 2);
    d.run(60, 200);
    assert.equal(d.current, 2);
    d.tick(2000); // panic window (6 s) holds 200, 200, 2000 → 800 QPS → 8 replicas = 4x
    assert.equal(d.last.panicMode, true);
    assert.equal(d.last.reason, "PanicScaleUp");
    assert.equal(d.current, 8, "beyond the HPA default rate (2 → 6)");
    d.tick(2000);
    assert.equal(d.current, 14);
    d.tick(2000);
    assert.equal(d.current, 20);
  });

  it("never scales down in panic and leaves panic one stable window after the condition last held", () => {
    const d = new Driver(specFrom({ ...base, behavior: { scaleDown: { stabilizationWindowSeconds: 0 } } }), 2);
    d.run(60, 200);
    d.run(6, 2000);
    assert.equal(d.current, 20);
    assert.equal(d.last.panicMode, true);
    // The 2000 ticks are T, T+2, T+4. The condition last held at T+4: 20
    // replicas wanted against the 2 serving (the 18 added within the 6 s panic
    // window are not). At T+6 the spike ends: 14 wanted against 8 serving.
    // Demand falls to 2 replicas but panic holds the count.
    const during = d.run(60, 200); // T+6 .. T+64
    assert.ok(during.every((n) => n === 20), `held at 20 during panic, got ${during.join(",")}`);
    assert.equal(d.last.panicMode, true);
    d.tick(200); // T+66
    assert.equal(d.last.panicMode, false, "panic ends one stable window after the condition last held");
    assert.ok(d.current < 20);
    d.run(60, 200);
    assert.equal(d.current, 2);
  });

  it("a threshold of 3 ignores a 2.5x spike", () => {
    const d = new Driver(specFrom({ ...base, panic: { threshold: 3 } }), 4);
    d.run(60, 400);
    d.tick(2500);
    assert.equal(d.last.panicMode, false);
  });

  it("panic disabled: the same spike is cut by the HPA scale-up rate policies", () => {
    const d = new Driver(specFrom({ ...base, panic: { enabled: false } }), 2);
    d.run(60, 200);
    d.tick(2000); // wants 8
    assert.equal(d.last.panicMode, false);
    assert.equal(d.current, 6, "max(2 + 4 pods, 2 x 200 %)");
    assert.equal(d.last.limitedBy, "ScaleUpLimit");
    d.run(14, 2000);
    assert.equal(d.current, 6, "no second step within the 15 s period");
  });
});

describe("decide: stabilization windows (HPA behavior)", () => {
  it("a scale-down window set by the user holds the count for that long (HPA), whatever the confidence", () => {
    const spec = specFrom({ ...base, stableWindowSeconds: 1, panic: { windowSeconds: 1 }, behavior: { scaleDown: { stabilizationWindowSeconds: 300 } } });
    assert.equal(spec.confidence.enabled, false);
    const d = new Driver(spec, 1);
    d.tick(1000);
    assert.equal(d.current, 10);
    const down = d.run(298, 100);
    assert.ok(down.every((n) => n === 10), "held for 300 s");
    assert.equal(d.last.reason, "ScaleDownStabilized");
    d.run(4, 100);
    assert.equal(d.current, 1);
  });

  it("the first decision seeds the window with the current count, so a restart does not drop replicas", () => {
    const d = new Driver(specFrom({ ...base, behavior: { scaleDown: { stabilizationWindowSeconds: 30 } } }), 10);
    assert.equal(d.tick(0).desiredReplicas, 10);
    assert.equal(d.last.reason, "ScaleDownStabilized");
    d.run(28, 0);
    assert.equal(d.current, 10);
    d.run(4, 0);
    assert.equal(d.current, 1);
  });

  it("scale-down takes the highest recommendation of the window", () => {
    const spec = instant({ behavior: { scaleDown: { stabilizationWindowSeconds: 10 } } });
    const d = new Driver(spec, 10);
    d.run(12, 1000);
    d.tick(500);
    d.tick(700);
    d.tick(300);
    assert.equal(d.current, 10);
    d.run(6, 300);
    assert.equal(d.current, 7, "700 recommended 8 s ago is still in the window");
    d.run(4, 300);
    assert.equal(d.current, 3);
  });

  it("scale-up stabilization takes the lowest recommendation of its window", () => {
    const spec = instant({ behavior: { scaleUp: { stabilizationWindowSeconds: 10, policies: [{ type: "Pods", value: 100, periodSeconds: 1 }] } } });
    const d = new Driver(spec, 2);
    d.run(20, 200);
    d.tick(1000);
    assert.equal(d.current, 2);
    assert.equal(d.last.reason, "ScaleUpStabilized");
    d.run(6, 1000);
    assert.equal(d.current, 2);
    d.run(2, 1000); // the last 200-QPS recommendation left the 10 s window
    assert.equal(d.current, 10);
  });
});

describe("decide: confident scaling (scale-down window left unset)", () => {
  const spec = specFrom(base);
  /** Ticks through `seconds` of a load given per second of the run; returns the replicas after each tick. */
  const replay = (d: Driver, seconds: number, load: (t: number) => number): number[] => {
    const out: number[] = [];
    for (let t = 0; t < seconds; t += d.tickMs / 1000) {
      d.tick(load(t));
      out.push(d.current);
    }
    return out;
  };
  const reversals = (series: number[]): number => {
    let count = 0;
    let last = 0;
    for (let i = 1; i < series.length; i++) {
      const dir = Math.sign(series[i]! - series[i - 1]!);
      if (dir !== 0 && last !== 0 && dir !== last) count += 1;
      if (dir !== 0) last = dir;
    }
    return count;
  };

  it("is on by default, and off once the user sets behavior.scaleDown.stabilizationWindowSeconds (even to 300 or 0)", () => {
    assert.equal(spec.confidence.enabled, true);
    for (const window of [0, 300]) {
      assert.equal(specFrom({ ...base, behavior: { scaleDown: { stabilizationWindowSeconds: window } } }).confidence.enabled, false);
    }
  });

  it("follows a clear fall without the HPA's 300 s window", () => {
    const d = new Driver(spec, 10);
    d.run(300, 1000);
    assert.equal(d.current, 10);
    const series = d.run(60, 300);
    const first = series.findIndex((n) => n < 10);
    // The level is the median of the stable window: it moves once half the window saw the fall.
    assert.ok(first >= 14 && first <= 16, `first scale-down at tick ${first}: ${series.join(",")}`);
    assert.equal(d.current, 3);
    assert.equal(d.last.reason, "WithinNoise");
    assert.equal(reversals(series), 0);
  });

  it("holds the count while the load is noisy, as the HPA's window would", () => {
    // ±25 % around 1000 QPS, a new level every 10 s.
    const levels = [1000, 1250, 850, 1150, 750, 1200, 950, 1100, 800, 1250, 900, 1050, 1200, 780, 1150, 1000];
    const d = new Driver(spec, 13);
    const series = replay(d, 900, (t) => levels[Math.floor(t / 10) % levels.length]!);
    assert.ok(series.every((n) => n === 13), `kept 13 replicas: ${[...new Set(series)].join(",")}`);
    assert.equal(d.last.reason, "WithinNoise");
    assert.match(d.last.message, /QPS [\d.]+ ± 4.5 × [\d.]+ noise/);
  });

  it("follows a steady decline closely, one replica at a time", () => {
    const d = new Driver(spec, 20);
    d.run(300, 2000);
    const series = replay(d, 300, (t) => 2000 - 3 * t); // 2000 → 1100 QPS
    assert.equal(reversals(series), 0);
    assert.ok(d.current <= 12, `at most one replica above ceil(1100 / 100): ${d.current}`);
    assert.ok(series.every((n, i) => n >= Math.ceil((2000 - 3 * 2 * i) / 100)), "never below the load");
  });

  it("follows a clean rise a replica at a time instead of in tolerance-sized steps", () => {
    const d = new Driver(spec, 10);
    d.run(300, 1000);
    const load = (t: number) => 1000 + 2 * t; // 1000 → 1800 QPS over 400 s
    const series = replay(d, 400, load);
    assert.equal(reversals(series), 0);
    assert.ok(series[15]! >= 11, `11 replicas at 1060 QPS, where the HPA waits for 1100: ${series.join(",")}`);
    for (let i = 1; i < series.length; i++) assert.ok(series[i]! - series[i - 1]! <= 1, `one replica per step: ${series.join(",")}`);
    series.forEach((n, i) => assert.ok(n >= Math.ceil(load(2 * i) / 100) - 1, `at most one replica behind at ${2 * i} s: ${n}`));
    assert.equal(d.current, 18);
  });

  it("scales up on the panic window beyond the tolerance before it has any history", () => {
    const d = new Driver(spec, 10);
    d.tick(1000);
    assert.equal(d.last.reason, "CollectingHistory");
    d.tick(1400);
    assert.equal(d.current, 12, "panic window (1000 + 1400) / 2 = 1200");
  });

  it("scales down only after two stable windows of uninterrupted readings, counted again once the metric is lost", () => {
    const d = new Driver(spec, 10);
    const early = d.run(118, 200);
    assert.ok(early.every((n) => n === 10), "no scale-down within the first 120 s");
    assert.equal(d.last.reason, "CollectingHistory");
    assert.match(d.last.message, /no scale-down before 120 s of uninterrupted readings/);
    d.run(6, { ok: false, error: "timeout" });
    d.run(118, 200);
    assert.equal(d.current, 10, "failureThreshold (3) failed reads in a row restarted the count");
    d.run(4, 200);
    assert.equal(d.current, 2);
  });

  it("an isolated failed read does not restart the count of uninterrupted readings", () => {
    const d = new Driver(spec, 10);
    d.run(60, 200);
    d.run(4, { ok: false, error: "query returned no data (empty vector)" });
    assert.equal(d.current, 10, "held while the metric fails");
    const after = d.run(60, 200);
    assert.ok(after.slice(0, -2).every((n) => n === 10), `no scale-down before 120 s: ${after.join(",")}`);
    assert.equal(d.current, 2, "down 120 s after the first reading, two failed reads in between");
  });

  it("a fixed fallback below the current count still waits for the HPA's 300 s window", () => {
    const d = new Driver(specFrom({ ...base, fallback: { mode: "fixed", replicas: 2, failureThreshold: 1 } }), 8);
    d.run(200, 800);
    const blind = d.run(296, { ok: false, error: "timeout" });
    assert.ok(blind.every((n) => n === 8), "held while the window holds 8");
    assert.equal(d.last.reason, "Fallback");
    assert.match(d.last.message, /held at 8 by the 300 s scale-down stabilization window/);
    d.run(6, { ok: false, error: "timeout" });
    assert.equal(d.current, 2);
  });

  it("keeps the scale-down rate policies", () => {
    const d = new Driver(specFrom({ ...base, behavior: { scaleDown: { policies: [{ type: "Pods", value: 1, periodSeconds: 10 }] } } }), 10);
    assert.equal(d.spec.confidence.enabled, true, "policies alone leave the window unset");
    d.run(300, 1000);
    const series = d.run(60, 300);
    assert.equal(d.last.limitedBy, "ScaleDownLimit");
    for (let i = 1; i < series.length; i++) assert.ok(series[i - 1]! - series[i]! <= 1, "one pod per step");
    assert.ok(d.current > 3);
  });
});

describe("decide: panic counts the replicas serving", () => {
  it("a step the metric is still catching up with panics against the replicas that were there before it", () => {
    const d = new Driver(specFrom({ ...base, maxReplicas: 50 }), 2);
    d.run(60, 200);
    // A 10 s Prometheus rate catching up with a step to 2000 QPS.
    d.tick(380); // panic window 260 → 3 replicas: 1.5x, no panic
    assert.equal(d.current, 3);
    assert.equal(d.last.panicMode, false);
    d.tick(740); // 440 → 5: 2.5x the 2 serving (1.7x the 3 asked for)
    assert.equal(d.last.panicMode, true);
    assert.equal(d.current, 5);
    d.tick(1100); // 740 → 8: without panic the HPA rate policies would stop at max(2 + 4, 2 × 2) = 6
    assert.equal(d.current, 8);
  });
});

describe("decide: rate policies (HPA behavior)", () => {
  const withUp = (selectPolicy: string) =>
    instant({
      behavior: {
        scaleUp: {
          selectPolicy,
          policies: [
            { type: "Pods", value: 4, periodSeconds: 15 },
            { type: "Percent", value: 100, periodSeconds: 15 },
          ],
        },
        scaleDown: { stabilizationWindowSeconds: 0 },
      },
    });

  it("selectPolicy Max picks the larger change: 2 → 6 → 12 → 24, one step per 15 s", () => {
    const d = new Driver(withUp("Max"), 2);
    d.tick(5000);
    assert.equal(d.current, 6);
    assert.equal(d.last.limitedBy, "ScaleUpLimit");
    const wait = d.run(14, 5000);
    assert.ok(wait.every((n) => n === 6), `no change within the period: ${wait.join(",")}`);
    d.run(2, 5000);
    assert.equal(d.current, 12);
    d.run(16, 5000);
    assert.equal(d.current, 24);
  });

  it("selectPolicy Min picks the smaller change", () => {
    const d = new Driver(withUp("Min"), 2);
    d.tick(5000);
    assert.equal(d.current, 4, "min(2+4, 2*2)");
    d.run(16, 5000);
    assert.equal(d.current, 8);
    d.run(16, 5000);
    assert.equal(d.current, 12, "min(8+4, 16)");
  });

  it("selectPolicy Disabled never scales in that direction", () => {
    const d = new Driver(withUp("Disabled"), 2);
    d.tick(5000);
    assert.equal(d.current, 2);
    assert.equal(d.last.limitedBy, "ScaleUpDisabled");
    const down = new Driver(instant({ behavior: { scaleDown: { stabilizationWindowSeconds: 0, selectPolicy: "Disabled" } } }), 8);
    down.tick(100);
    assert.equal(down.current, 8);
    assert.equal(down.last.limitedBy, "ScaleDownDisabled");
  });

  it("scale-down Pods policy removes at most N pods per period", () => {
    const spec = instant({
      behavior: { scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: "Pods", value: 2, periodSeconds: 10 }] } },
    });
    const d = new Driver(spec, 10);
    d.tick(100);
    assert.equal(d.current, 8);
    assert.equal(d.last.limitedBy, "ScaleDownLimit");
    d.run(8, 100);
    assert.equal(d.current, 8);
    d.run(2, 100);
    assert.equal(d.current, 6);
  });

  it("scale-down Percent policy rounds down the remaining pods", () => {
    const spec = instant({
      behavior: { scaleDown: { stabilizationWindowSeconds: 0, policies: [{ type: "Percent", value: 50, periodSeconds: 10 }] } },
    });
    const d = new Driver(spec, 9);
    d.tick(100);
    assert.equal(d.current, 4, "HPA: limit = int32(9 * (1 - 0.5)) = 4");
  });

  it("panic skips the scale-up rate policies but not selectPolicy Disabled", () => {
    const d = new Driver(specFrom({ ...base, behavior: { scaleUp: { selectPolicy: "Disabled" } } }), 2);
    d.run(10, 200);
    d.tick(5000);
    assert.equal(d.last.panicMode, true);
    assert.equal(d.current, 2);
  });
});

describe("decide: min/max clamping", () => {
  it("clamps the recommendation to maxReplicas", () => {
    const d = new Driver(instant({ maxReplicas: 10 }), 2);
    d.tick(100_000);
    assert.equal(d.current, 10);
    assert.equal(d.last.limitedBy, "TooManyReplicas");
  });

  it("brings a target above maxReplicas down to it at once", () => {
    const d = new Driver(specFrom({ ...base, maxReplicas: 5 }), 9);
    const r = d.tick(100_000);
    assert.equal(r.desiredReplicas, 5);
    assert.equal(r.reason, "AboveMaxReplicas");
  });

  it("brings a target below minReplicas up to it at once", () => {
    const d = new Driver(specFrom({ ...base, minReplicas: 3 }), 1);
    const r = d.tick(0);
    assert.equal(r.desiredReplicas, 3);
    assert.equal(r.reason, "BelowMinReplicas");
  });

  it("min = max pins the count whatever the load", () => {
    const d = new Driver(specFrom({ ...base, minReplicas: 4, maxReplicas: 4 }), 4);
    for (const qps of [0, 10_000, 400, 1]) {
      d.tick(qps);
      assert.equal(d.current, 4);
    }
    d.tick({ ok: false, error: "down" });
    assert.equal(d.current, 4);
  });
});

describe("decide: metric failures and fallback", () => {
  it("hold (default) keeps the current count while the metric is unavailable", () => {
    const d = new Driver(instant(), 6);
    const r = d.tick({ ok: false, error: "connection refused" });
    assert.equal(r.desiredReplicas, 6);
    assert.equal(r.reason, "MetricUnavailable");
    assert.equal(r.metricAvailable, false);
    assert.equal(r.fallbackActive, true);
    d.run(600, { ok: false, error: "connection refused" });
    assert.equal(d.current, 6);
    assert.equal(d.last.consecutiveFailures, 301);
  });

  it("a missing series (empty result) counts as a failure, not as zero QPS", () => {
    const d = new Driver(instant(), 6);
    d.tick({ ok: false, error: "query returned no data" });
    assert.equal(d.current, 6);
  });

  it("fixed goes to fallback.replicas after failureThreshold consecutive failures", () => {
    const d = new Driver(instant({ fallback: { mode: "fixed", replicas: 7, failureThreshold: 3 } }), 4);
    const down = { ok: false as const, error: "HTTP 503" };
    assert.equal(d.tick(down).desiredReplicas, 4);
    assert.equal(d.last.fallbackActive, false);
    assert.equal(d.tick(down).desiredReplicas, 4);
    assert.equal(d.tick(down).desiredReplicas, 7);
    assert.equal(d.last.reason, "Fallback");
    assert.equal(d.last.fallbackActive, true);
    // The metric comes back: normal decisions resume and the failure count resets.
    d.tick(200);
    assert.equal(d.current, 2);
    assert.equal(d.last.consecutiveFailures, 0);
    // A single failure after recovery does not trigger the fallback again.
    d.tick(down);
    assert.equal(d.current, 2);
  });

  it("fixed fallback obeys min/max", () => {
    const d = new Driver(instant({ maxReplicas: 5, fallback: { mode: "fixed", replicas: 9, failureThreshold: 1 } }), 2);
    d.tick({ ok: false, error: "timeout" });
    assert.equal(d.current, 5);
  });

  it("fixed fallback below the current count respects scale-down stabilization", () => {
    const spec = specFrom({
      ...base,
      fallback: { mode: "fixed", replicas: 2, failureThreshold: 1 },
      behavior: { scaleDown: { stabilizationWindowSeconds: 20 } },
    });
    const d = new Driver(spec, 8);
    d.run(20, 800);
    d.tick({ ok: false, error: "timeout" });
    assert.equal(d.current, 8);
    d.run(22, { ok: false, error: "timeout" });
    assert.equal(d.current, 2);
  });
});

describe("decide: paused, disabled, purity", () => {
  it("paused leaves the replicas alone", () => {
    const d = new Driver(instant({ paused: true }), 3);
    assert.equal(d.tick(10_000).desiredReplicas, 3);
    assert.equal(d.last.reason, "Paused");
    assert.equal(d.tick(0).desiredReplicas, 3);
  });

  it("a target at zero replicas is left alone (scaling disabled, as HPA)", () => {
    const d = new Driver(instant(), 0);
    assert.equal(d.tick(10_000).desiredReplicas, 0);
    assert.equal(d.last.reason, "ScalingDisabled");
  });

  it("does not mutate its input state", () => {
    const d = new Driver(specFrom(base), 2);
    d.run(20, 300);
    const frozen = structuredClone(d.state);
    const deepFreeze = (o: unknown): void => {
      if (o && typeof o === "object") {
        Object.freeze(o);
        for (const v of Object.values(o)) deepFreeze(v);
      }
    };
    deepFreeze(d.state);
    decide(d.state, { spec: d.spec, currentReplicas: 2, observation: { ok: true, qps: 5000 }, now: d.now });
    decide(d.state, { spec: d.spec, currentReplicas: 2, observation: { ok: false, error: "x" }, now: d.now });
    assert.deepEqual(d.state, frozen);
  });

  it("reports the QPS readings and the averages", () => {
    const d = new Driver(specFrom(base), 2);
    d.tick(100);
    d.tick(300);
    assert.equal(d.last.qps, 300);
    assert.equal(d.last.stableQPS, 200);
    assert.equal(d.last.panicQPS, 200);
    assert.match(d.last.message, /target 100 per replica/);
  });
});
