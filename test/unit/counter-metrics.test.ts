import assert from "node:assert/strict";
import { test } from "node:test";
import { Registry } from "prom-client";
import { createCounterMetrics } from "../../services/counter/metrics.js";
import { counterTypeLabeler } from "../../services/lib/metrics.js";

const incrementSeries = async (registry: Registry) =>
  (await registry.getSingleMetricAsString("highgopress_counter_increments_total"))
    .split("\n")
    .filter((l) => !l.startsWith("#") && l.length > 0);

test("a fresh counter exposes every listed type and 'other' at 0, so an idle counter's rate is 0 rather than no data", async () => {
  const registry = new Registry();
  createCounterMetrics(registry, counterTypeLabeler(["like", "view"]), async () => ({ length: 0, oldestAgeSeconds: 0 }));
  assert.deepEqual((await incrementSeries(registry)).sort(), [
    'highgopress_counter_increments_total{counter_type="like"} 0',
    'highgopress_counter_increments_total{counter_type="other"} 0',
    'highgopress_counter_increments_total{counter_type="view"} 0',
  ]);
});

test("increments of unlisted types count as 'other'; listed types under their own name", async () => {
  const registry = new Registry();
  const metrics = createCounterMetrics(registry, counterTypeLabeler(["like"]), async () => ({ length: 0, oldestAgeSeconds: 0 }));
  metrics.onIncrements([
    { resourceId: "a", counterType: "like", delta: 1 },
    { resourceId: "b", counterType: "like", delta: 2 },
    { resourceId: "c", counterType: "bookmark", delta: 1 },
  ]);
  assert.deepEqual((await incrementSeries(registry)).sort(), [
    'highgopress_counter_increments_total{counter_type="like"} 2',
    'highgopress_counter_increments_total{counter_type="other"} 1',
  ]);
});
