import assert from "node:assert/strict";
import { test } from "node:test";
import { isRefused, offsetValue, planBatch, resolveResults, type IncrementOp, type OpResult } from "../../services/counter/batch.js";

const value = (r: OpResult) => (isRefused(r) ? r.refused : r.currentValue);
const op = (resourceId: string, delta: number, requestId?: string): IncrementOp => ({ resourceId, counterType: "like", delta, requestId });

test("deltas for the same counter are summed into one group, in first-seen order", () => {
  const plan = planBatch([op("a", 1), op("b", 5), op("a", 2), op("a", -1)]);
  assert.deepEqual(
    plan.groups.map((g) => [g.resourceId, g.sum, g.count]),
    [
      ["a", 2, 3],
      ["b", 5, 1],
    ],
  );
});

test("each caller gets the value it would have seen had the increments run one by one", () => {
  const ops = [op("a", 1), op("b", 5), op("a", 2), op("a", -1)];
  const plan = planBatch(ops);
  // Counter a stood at 10 before the batch (10 + 2 = 12), b at 0 (0 + 5 = 5).
  const results = resolveResults(plan, [12, 5], []);
  assert.deepEqual(results.map(value), ["11", "5", "13", "12"]);
  assert.ok(results.every((r) => !isRefused(r) && !r.duplicate));
});

test("every post-increment value in a batch of one counter is distinct and consecutive", () => {
  const ops = Array.from({ length: 100 }, () => op("hot", 1));
  const results = resolveResults(planBatch(ops), [1100], []);
  assert.deepEqual(
    results.map(value),
    Array.from({ length: 100 }, (_, i) => String(1001 + i)),
  );
});

test("idempotent operations are kept apart and answered from the script's outcome", () => {
  const plan = planBatch([op("a", 1), op("a", 3, "req-1"), op("a", 1)]);
  assert.equal(plan.groups[0]!.sum, 2);
  assert.equal(plan.idempotent.length, 1);
  assert.equal(plan.idempotent[0]!.fingerprint, "a:like:3");
  const results = resolveResults(plan, [20], [{ value: 7, duplicate: true }]);
  assert.deepEqual(results, [
    { currentValue: "19", duplicate: false },
    { currentValue: "7", duplicate: true },
    { currentValue: "20", duplicate: false },
  ]);
});

test("values beyond 2^53 come back exact: the script answers them as decimal strings", () => {
  const plan = planBatch([op("big", 1), op("big", 1), op("small", 1)]);
  // big stood at 2^53 - 1 = 9007199254740991; small at 41.
  const results = resolveResults(plan, ["9007199254740993", 42], []);
  assert.deepEqual(results.map(value), ["9007199254740992", "9007199254740993", "42"]);
  assert.equal(offsetValue(9007199254740990, 5), "9007199254740995");
  assert.equal(offsetValue("9223372036854775807", -1), "9223372036854775806");
  assert.equal(offsetValue(-9007199254740991, -1), "-9007199254740992");
});

test("a refused counter fails only its own operations", () => {
  const plan = planBatch([op("ok", 1), op("bad", 1), op("ok", 1), op("bad", 2, "req-9"), op("other", 3, "req-10")]);
  const results = resolveResults(plan, [7, { refused: "not_a_counter" }, 0], [{ refused: "not_a_counter" }, { value: 3, duplicate: false }]);
  assert.deepEqual(results.map(value), ["6", "not_a_counter", "7", "not_a_counter", "3"]);
});

test("an empty batch plans nothing", () => {
  const plan = planBatch([]);
  assert.deepEqual(plan.groups, []);
  assert.deepEqual(resolveResults(plan, [], []), []);
});

test("counters differing only by type are different groups", () => {
  const plan = planBatch([
    { resourceId: "a", counterType: "like", delta: 1 },
    { resourceId: "a", counterType: "view", delta: 1 },
  ]);
  assert.equal(plan.groups.length, 2);
});
