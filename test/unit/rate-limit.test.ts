import assert from "node:assert/strict";
import { test } from "node:test";
import { createClientRateLimiter, take, type Bucket } from "../../services/gateway/rate-limit.js";

const limit = { ratePerSecond: 10, burst: 5 };

test("a full bucket allows a burst, then refuses with the wait until the next token", () => {
  const b: Bucket = { tokens: 5, updatedMs: 0 };
  for (let i = 0; i < 5; i++) assert.equal(take(b, 0, limit), 0, `request ${i + 1} of the burst`);
  assert.equal(take(b, 0, limit), 100, "at 10/s the next token is 100 ms away");
  assert.equal(take(b, 40, limit), 60);
  assert.equal(take(b, 100, limit), 0, "one token refilled after 100 ms");
  assert.equal(take(b, 100, limit), 100);
});

test("refill is capped at the burst", () => {
  const b: Bucket = { tokens: 0, updatedMs: 0 };
  take(b, 3_600_000, limit);
  assert.equal(b.tokens, 4, "an hour idle refills to the burst of 5, minus the one taken");
});

test("the sustained rate is the configured rate", () => {
  const b: Bucket = { tokens: 5, updatedMs: 0 };
  let allowed = 0;
  for (let t = 0; t < 10_000; t += 10) if (take(b, t, limit) === 0) allowed++;
  // 10 s at 10/s plus the initial burst of 5.
  assert.ok(allowed >= 104 && allowed <= 105, `allowed ${allowed}`);
});

test("a clock going backwards never adds tokens", () => {
  const b: Bucket = { tokens: 0, updatedMs: 1_000 };
  assert.ok(take(b, 500, limit) > 0);
  assert.equal(b.tokens, 0);
});

test("clients have separate buckets", () => {
  const rl = createClientRateLimiter({ ratePerSecond: 1, burst: 2 }, 100);
  assert.equal(rl.check("a", 0), 0);
  assert.equal(rl.check("a", 0), 0);
  assert.ok(rl.check("a", 0) > 0);
  assert.equal(rl.check("b", 0), 0, "another client is not limited by a's use");
});

test("the client map is bounded, and idle clients are swept", () => {
  const rl = createClientRateLimiter({ ratePerSecond: 1, burst: 1 }, 3);
  for (const c of ["a", "b", "c", "d", "e"]) rl.check(c, 0);
  assert.equal(rl.size, 3, "never more than maxClients buckets");
  rl.check("x", 500);
  rl.sweep(1_000);
  assert.equal(rl.size, 1, "only the bucket not yet refilled remains");
  assert.ok(rl.check("x", 1_000) > 0, "the kept bucket still limits its client");
});
