import assert from "node:assert/strict";
import { test } from "node:test";
import { planBatch, resolveResults, type IncrementOp } from "../../services/counter/batch.js";

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
  assert.deepEqual(
    results.map((r) => r.currentValue),
    [11, 5, 13, 12],
  );
  assert.ok(results.every((r) => !r.duplicate));
});

test("every post-increment value in a batch of one counter is distinct and consecutive", () => {
  const ops = Array.from({ length: 100 }, () => op("hot", 1));
  const results = resolveResults(planBatch(ops), [1100], []);
  assert.deepEqual(
    results.map((r) => r.currentValue),
    Array.from({ length: 100 }, (_, i) => 1001 + i),
  );
});

test("idempotent operations are kept apart and answered from the script's outcome", () => {
  const plan = planBatch([op("a", 1), op("a", 3, "req-1"), op("a", 1)]);
  assert.equal(plan.groups[0]!.sum, 2);
  assert.equal(plan.idempotent.length, 1);
  assert.equal(plan.idempotent[0]!.fingerprint, "a:like:3");
  const results = resolveResults(plan, [20], [{ value: 7, duplicate: true }]);
  assert.deepEqual(results, [
    { currentValue: 19, duplicate: false },
    { currentValue: 7, duplicate: true },
    { currentValue: 20, duplicate: false },
  ]);
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
