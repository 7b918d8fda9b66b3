import assert from "node:assert/strict";
import { test } from "node:test";
import { retryDelayMs, withRetry } from "../../services/lib/retry.js";

const schedule = { attempts: 4, baseMs: 100, capMs: 300, minAttemptMs: 50 };

test("backoff ceilings double up to the cap, with full jitter", () => {
  assert.equal(retryDelayMs(1, 10_000, schedule, () => 0.999), 99);
  assert.equal(retryDelayMs(2, 10_000, schedule, () => 0.999), 199);
  assert.equal(retryDelayMs(3, 10_000, schedule, () => 0.999), 299, "capped at 300");
  assert.equal(retryDelayMs(1, 10_000, schedule, () => 0), 0);
});

test("no retry after the last attempt, or when the deadline leaves too little time", () => {
  assert.equal(retryDelayMs(4, 10_000, schedule, () => 0.5), undefined);
  assert.equal(retryDelayMs(1, 60, schedule, () => 0.5), undefined, "60 ms left minus a 50 ms wait < 50 ms");
  assert.equal(retryDelayMs(1, 60, schedule, () => 0), 0);
});

const unavailable = () => Object.assign(new Error("unavailable"), { code: 14 });
const retryable = (e: unknown) => (e as { code?: number }).code === 14;

test("retries transient failures and returns the first success", async () => {
  let calls = 0;
  const value = await withRetry(
    async () => {
      if (++calls < 3) throw unavailable();
      return "ok";
    },
    { ...schedule, baseMs: 1, capMs: 2, deadlineMs: 1_000, retryable },
  );
  assert.equal(value, "ok");
  assert.equal(calls, 3);
});

test("never retries a failure that is not retryable", async () => {
  let calls = 0;
  await assert.rejects(
    withRetry(
      async () => {
        calls++;
        throw Object.assign(new Error("bad input"), { code: 3 });
      },
      { ...schedule, deadlineMs: 1_000, retryable },
    ),
    /bad input/,
  );
  assert.equal(calls, 1);
});

test("each attempt gets only what is left of the deadline, and the total stays within it", async () => {
  const budgets: number[] = [];
  const started = Date.now();
  await assert.rejects(
    withRetry(
      async (left) => {
        budgets.push(left);
        await new Promise((r) => setTimeout(r, 40));
        throw unavailable();
      },
      { attempts: 10, baseMs: 10, capMs: 20, minAttemptMs: 30, deadlineMs: 200, retryable },
    ),
  );
  assert.ok(Date.now() - started < 260, `took ${Date.now() - started} ms`);
  assert.ok(budgets.length >= 2 && budgets.length <= 4, `attempts ${budgets.length}`);
  for (let i = 1; i < budgets.length; i++) assert.ok(budgets[i]! < budgets[i - 1]!, "budgets shrink");
});
