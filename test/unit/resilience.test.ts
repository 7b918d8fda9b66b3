import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { fromDownstream } from "../../services/gateway/errors.js";
import { createBreaker, createBulkhead, isCircuitOpen, isRetryable } from "../../services/gateway/resilience.js";

const grpcError = (code: grpc.status) => Object.assign(new Error(`code ${code}`), { code, details: `code ${code}`, metadata: new grpc.Metadata() });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("the breaker opens after consecutive transport failures, fails fast, then closes after a good trial", async () => {
  const states: string[] = [];
  const breaker = createBreaker({ consecutiveFailures: 3, halfOpenAfterMs: 100, onStateChange: (s) => states.push(s) });
  let calls = 0;
  const failing = () => breaker.execute(async () => (calls++, Promise.reject(grpcError(grpc.status.UNAVAILABLE))));
  for (let i = 0; i < 3; i++) await assert.rejects(failing(), /code 14/);
  assert.equal(breaker.state(), "open");
  const err = await failing().catch((e) => e);
  assert.ok(isCircuitOpen(err), "an open circuit refuses without calling");
  assert.equal(calls, 3);
  const mapped = fromDownstream(err, "counter");
  assert.equal(mapped.statusCode, 503);
  assert.match(mapped.message, /circuit open/);

  await sleep(120);
  assert.equal(await breaker.execute(async () => "back"), "back", "the trial call goes through");
  assert.equal(breaker.state(), "closed");
  assert.deepEqual(states, ["open", "half-open", "closed"]);
});

test("half-open lets one trial call through: calls meanwhile wait for it, a failed trial reopens at once", async () => {
  const states: string[] = [];
  const breaker = createBreaker({ consecutiveFailures: 1, halfOpenAfterMs: 50, onStateChange: (s) => states.push(s) });
  await assert.rejects(breaker.execute(() => Promise.reject(grpcError(grpc.status.UNAVAILABLE))));
  await sleep(70);
  // A failing trial: the call that waited behind it is refused without being made.
  let waiterCalled = false;
  let failTrial!: () => void;
  const trial = breaker.execute(() => new Promise((_, reject) => (failTrial = () => reject(grpcError(grpc.status.UNAVAILABLE)))));
  const waiter = breaker.execute(async () => ((waiterCalled = true), "late"));
  assert.equal(breaker.state(), "half-open");
  failTrial();
  await assert.rejects(trial, /code 14/);
  assert.ok(isCircuitOpen(await waiter.catch((e) => e)), "the waiting call is refused by the reopened circuit");
  assert.equal(waiterCalled, false);
  assert.equal(breaker.state(), "open");
  // A good trial: the waiting call then runs.
  await sleep(70);
  let passTrial!: () => void;
  const trial2 = breaker.execute(() => new Promise<string>((resolve) => (passTrial = () => resolve("trial"))));
  const waiter2 = breaker.execute(async () => "after");
  passTrial();
  assert.equal(await trial2, "trial");
  assert.equal(await waiter2, "after");
  assert.equal(breaker.state(), "closed");
  assert.deepEqual(states, ["open", "half-open", "open", "half-open", "closed"]);
});

test("bad input and conflicts never open the breaker", async () => {
  const breaker = createBreaker({ consecutiveFailures: 2, halfOpenAfterMs: 1_000 });
  for (const code of [grpc.status.INVALID_ARGUMENT, grpc.status.ALREADY_EXISTS, grpc.status.INVALID_ARGUMENT]) {
    await assert.rejects(breaker.execute(() => Promise.reject(grpcError(code))));
  }
  assert.equal(breaker.state(), "closed");
});

test("only UNAVAILABLE is retried (a deadline or bad input is not)", () => {
  assert.equal(isRetryable(grpcError(grpc.status.UNAVAILABLE)), true);
  assert.equal(isRetryable(grpcError(grpc.status.DEADLINE_EXCEEDED)), false);
  assert.equal(isRetryable(grpcError(grpc.status.INVALID_ARGUMENT)), false);
  assert.equal(isRetryable(new Error("plain")), false);
});

test("the bulkhead refuses calls beyond its limit with a 429", async () => {
  const bh = createBulkhead(2);
  const release: Array<() => void> = [];
  const hold = () => bh.execute(() => new Promise<void>((r) => release.push(r)));
  const held = [hold(), hold()];
  const err = await hold().catch((e) => e);
  assert.equal(fromDownstream(err, "analytics").statusCode, 429);
  release.forEach((r) => r());
  await Promise.all(held);
  const again = hold();
  release.at(-1)!();
  await again;
});
