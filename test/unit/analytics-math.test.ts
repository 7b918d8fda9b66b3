import assert from "node:assert/strict";
import { test } from "node:test";
import { countKey, HOUR_MS, hourId, legacyCountKey, rangeHours, rankKey, sumKey } from "../../services/analytics/buckets.js";
import { seriesStats } from "../../services/analytics/stats.js";
import { clusterLayout, STANDALONE } from "../../services/lib/redis-shards.js";

const t0 = Date.UTC(2026, 10, 22, 14, 37, 12);

test("hour ids and bucket keys are UTC hours", () => {
  assert.equal(hourId(t0), "2026112214");
  assert.equal(rankKey(STANDALONE, 0, "like", t0), "rank:like:2026112214");
  assert.equal(countKey(STANDALONE, 0, "like", t0), "rankc:like:2026112214");
  assert.equal(legacyCountKey(STANDALONE, 0, "like", t0), "rankn:like:2026112214");
  assert.equal(sumKey(STANDALONE, 0, "like", t0), "ranks:like:2026112214");
});

test("in cluster mode a bucket's keys carry its shard's hash tag", () => {
  const layout = clusterLayout(12);
  const tag = layout.tags[5]!;
  assert.equal(rankKey(layout, 5, "like", t0), `rank:{${tag}}:like:2026112214`);
  assert.equal(sumKey(layout, 5, "like", t0), `ranks:{${tag}}:like:2026112214`);
});

test("a range is the current hour and the hours before it, oldest first", () => {
  const hours = rangeHours("24h", t0);
  assert.equal(hours.length, 24);
  assert.equal(hours[23], Date.UTC(2026, 10, 22, 14));
  assert.equal(hours[0], Date.UTC(2026, 10, 21, 15));
  assert.equal(rangeHours("1h", t0).length, 1);
  assert.equal(rangeHours("7d", t0).length, 168);
  assert.equal(rangeHours("30d", t0).length, 720);
  assert.ok(hours.every((h, i) => i === 0 || h - hours[i - 1]! === HOUR_MS));
});

test("stats: total, average per hour, peak and its hour", () => {
  const points = [5, 0, 9, 2].map((value, i) => ({ hourStartMs: i * HOUR_MS, value: BigInt(value), incrementCount: value }));
  const s = seriesStats(points);
  assert.equal(s.total, 16n);
  assert.equal(s.incrementCount, 16);
  assert.equal(s.avgPerHour, 4);
  assert.equal(s.peak, 9n);
  assert.equal(s.peakHourStartMs, 2 * HOUR_MS);
});

test("trend compares the second half of the range with the first", () => {
  const series = (values: number[]) => values.map((value, i) => ({ hourStartMs: i * HOUR_MS, value: BigInt(value), incrementCount: 1 }));
  assert.equal(seriesStats(series([1, 1, 5, 5])).trend, "up");
  assert.equal(seriesStats(series([5, 5, 1, 1])).trend, "down");
  assert.equal(seriesStats(series([20, 20, 20, 21])).trend, "flat");
  assert.equal(seriesStats(series([0, 0, 0, 3])).trend, "up");
  assert.equal(seriesStats(series([7])).trend, "flat", "one hour has no halves to compare");
  assert.equal(seriesStats([]).total, 0n);
});

test("sums stay exact past 2^53", () => {
  const s = seriesStats([9007199254740993n, 2n].map((value, i) => ({ hourStartMs: i * HOUR_MS, value, incrementCount: 1 })));
  assert.equal(s.total, 9007199254740995n);
  assert.equal(s.peak, 9007199254740993n);
});
