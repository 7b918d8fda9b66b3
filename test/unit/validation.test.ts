import assert from "node:assert/strict";
import { test } from "node:test";
import { counterKey } from "../../services/counter/store.js";
import { STANDALONE } from "../../services/lib/redis-shards.js";
import { incrementProblem, isTimeRange, isValidDelta, isValidId, MAX_ABS_DELTA } from "../../services/lib/validation.js";

test("identifiers: 1-128 characters of A-Z a-z 0-9 _ . -", () => {
  for (const ok of ["a", "A-z_0.9", "x".repeat(128), "article-123", "like"]) assert.ok(isValidId(ok), ok);
  for (const bad of ["", "x".repeat(129), "a:b", "a b", "a/b", "é", "a\u0000", "👍", 12, null, undefined, ["a"]]) {
    assert.ok(!isValidId(bad), JSON.stringify(bad));
  }
});

test("delta: a safe integer within ±1e9", () => {
  for (const ok of [0, 1, -1, MAX_ABS_DELTA, -MAX_ABS_DELTA]) assert.ok(isValidDelta(ok), String(ok));
  for (const bad of [MAX_ABS_DELTA + 1, -MAX_ABS_DELTA - 1, 1.5, Number.NaN, Infinity, "1", 2 ** 60, null]) {
    assert.ok(!isValidDelta(bad), String(bad));
  }
});

test("time ranges are the four the API names", () => {
  for (const ok of ["1h", "24h", "7d", "30d"]) assert.ok(isTimeRange(ok));
  for (const bad of ["1d", "", "24H", undefined]) assert.ok(!isTimeRange(bad));
});

test("incrementProblem names the offending field", () => {
  assert.equal(incrementProblem({ resourceId: "a", counterType: "like", delta: 1 }), undefined);
  assert.match(incrementProblem({ resourceId: "a:b", counterType: "like", delta: 1 })!, /^resource_id/);
  assert.match(incrementProblem({ resourceId: "a", counterType: "", delta: 1 })!, /^counter_type/);
  assert.match(incrementProblem({ resourceId: "a", counterType: "like", delta: 1e10 })!, /^delta/);
});

test("counter keys follow the original layout and cannot collide", () => {
  assert.equal(counterKey(STANDALONE, "article_1", "like"), "counter:article_1:like");
  // With ':' forbidden in identifiers, the split point of a key is unambiguous.
  const pairs = [
    ["a", "b.c"],
    ["a.b", "c"],
    ["a_b", "c"],
  ] as const;
  const keys = new Set(pairs.map(([r, t]) => counterKey(STANDALONE, r, t)));
  assert.equal(keys.size, pairs.length);
});
