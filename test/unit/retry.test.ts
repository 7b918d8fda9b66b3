import assert from "node:assert/strict";
import { test } from "node:test";
import { BACKOFF, backoffMs, retryDelayMs, withRetry } from "../../services/lib/retry.js";

const schedule = { attempts: 4, backoff: { initialMs: 100, maxMs: 300 }, minAttemptMs: 50 };

test("backoff ceilings double up to the cap, with full jitter", (t) => {
  const random = t.mock.method(Math, "random", () => 0.999);
  assert.equal(retryDelayMs(1, 10_000, schedule), 99);
  assert.equal(retryDelayMs(2, 10_000, schedule), 199);
  assert.equal(retryDelayMs(3, 10_000, schedule), 299, "capped at 300");
  random.mock.mockImplementation(() => 0);
  assert.equal(retryDelayMs(1, 10_000, schedule), 0);
});

test("no retry after the last attempt, or when the deadline leaves too little time", (t) => {
  const random = t.mock.method(Math, "random", () => 0.5);
  assert.equal(retryDelayMs(4, 10_000, schedule), undefined);
  assert.equal(retryDelayMs(1, 60, schedule), undefined, "60 ms left minus a 50 ms wait < 50 ms");
  random.mock.mockImplementation(() => 0);
  assert.equal(retryDelayMs(1, 60, schedule), 0);
});

test("every policy waits at most its ceiling, and a long outage settles at maxMs", (t) => {
  t.mock.method(Math, "random", () => 0.999);
  for (const [name, policy] of Object.entries(BACKOFF)) {
    assert.equal(backoffMs(1, policy), Math.floor(0.999 * policy.initialMs), `${name}: first wait`);
    assert.equal(backoffMs(2, policy), Math.floor(0.999 * Math.min(policy.maxMs, 2 * policy.initialMs)), `${name}: second wait`);
    assert.equal(backoffMs(100_000, policy), Math.floor(0.999 * policy.maxMs), `${name}: after many failures`);
  }
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
    { ...schedule, backoff: { initialMs: 1, maxMs: 2 }, deadlineMs: 1_000, retryable },
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
      { attempts: 10, backoff: { initialMs: 10, maxMs: 20 }, minAttemptMs: 30, deadlineMs: 200, retryable },
    ),
  );
  assert.ok(Date.now() - started < 260, `took ${Date.now() - started} ms`);
  assert.ok(budgets.length >= 2 && budgets.length <= 4, `attempts ${budgets.length}`);
  for (let i = 1; i < budgets.length; i++) assert.ok(budgets[i]! < budgets[i - 1]!, "budgets shrink");
});
