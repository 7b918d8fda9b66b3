import assert from "node:assert/strict";
import { test } from "node:test";
import { Coalescer, OverloadedError } from "../../services/gateway/coalescer.js";

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

/** A one-slot coalescer whose calls the test answers by hand. */
function manualCoalescer(maxWaitMs?: number) {
  const calls: { items: number[]; done: ReturnType<typeof deferred<number[]>> }[] = [];
  const c = new Coalescer<number, number>({
    maxBatch: 100,
    maxInFlight: 1,
    maxQueued: 100,
    maxWaitMs,
    send: (items) => {
      const done = deferred<number[]>();
      calls.push({ items, done });
      return done.promise;
    },
  });
  return { c, calls };
}

test("an idle coalescer sends a lone request at once, as a batch of one", async () => {
  const batches: number[][] = [];
  const c = new Coalescer<number, number>({ maxBatch: 100, maxInFlight: 1, maxQueued: 100, send: async (b) => (batches.push(b), b.map((x) => x * 2)) });
  assert.equal(await c.submit(21), 42);
  assert.deepEqual(batches, [[21]]);
});

test("requests arriving while a call is in flight ride together in the next call", async () => {
  const { c, calls } = manualCoalescer();
  const first = c.submit(1);
  await new Promise((r) => setImmediate(r));
  const rest = [2, 3, 4].map((n) => c.submit(n));
  await new Promise((r) => setImmediate(r));
  assert.equal(calls.length, 1, "nothing else is sent while the only slot is busy");
  calls[0]!.done.resolve([10]);
  assert.equal(await first, 10);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls[1]!.items, [2, 3, 4]);
  calls[1]!.done.resolve([20, 30, 40]);
  assert.deepEqual(await Promise.all(rest), [20, 30, 40]);
});

test("batches are capped at maxBatch", async () => {
  const sizes: number[] = [];
  const c = new Coalescer<number, number>({ maxBatch: 3, maxInFlight: 1, maxQueued: 100, send: async (b) => (sizes.push(b.length), b) });
  await Promise.all(Array.from({ length: 7 }, (_, i) => c.submit(i)));
  assert.deepEqual(sizes, [3, 3, 1]);
});

test("a failed call fails each request it carried, and only those", async () => {
  let n = 0;
  const c = new Coalescer<number, number>({
    maxBatch: 10,
    maxInFlight: 1,
    maxQueued: 100,
    send: async (b) => {
      if (n++ === 0) throw new Error("boom");
      return b;
    },
  });
  const failed = [c.submit(1), c.submit(2)];
  for (const p of failed) await assert.rejects(p, /boom/);
  assert.equal(await c.submit(3), 3);
});

test("beyond maxQueued, submit is refused with OverloadedError instead of growing", async () => {
  const gate = deferred<number[]>();
  const c = new Coalescer<number, number>({ maxBatch: 1, maxInFlight: 1, maxQueued: 2, send: () => gate.promise });
  const accepted = [c.submit(1), c.submit(2)];
  await assert.rejects(c.submit(3), OverloadedError);
  gate.resolve([1]);
  await Promise.allSettled(accepted);
});

test("an item that waited longer than maxWaitMs for a slot is refused, not sent; younger ones still go", async () => {
  const { c, calls } = manualCoalescer(30);
  const first = c.submit(1);
  await new Promise((r) => setImmediate(r));
  const stale = c.submit(2);
  await new Promise((r) => setTimeout(r, 60));
  const fresh = c.submit(3);
  calls[0]!.done.resolve([10]);
  assert.equal(await first, 10);
  await assert.rejects(stale, (err: unknown) => err instanceof OverloadedError && /waited more than 30 ms/.test(err.message));
  await new Promise((r) => setImmediate(r));
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[1]!.items, [3], "the stale item is not sent");
  calls[1]!.done.resolve([30]);
  assert.equal(await fresh, 30);
});

test("a wrong number of results is an error, not a silent mismatch", async () => {
  const c = new Coalescer<number, number>({ maxBatch: 10, maxInFlight: 1, maxQueued: 10, send: async () => [1] });
  const results = await Promise.allSettled([c.submit(1), c.submit(2)]);
  assert.ok(results.every((r) => r.status === "rejected"));
});

test("drained resolves once nothing is queued or in flight", async () => {
  const gate = deferred<number[]>();
  const c = new Coalescer<number, number>({ maxBatch: 10, maxInFlight: 1, maxQueued: 10, send: () => gate.promise });
  const p = c.submit(1);
  let drained = false;
  const d = c.drained().then(() => (drained = true));
  await new Promise((r) => setImmediate(r));
  assert.equal(drained, false);
  gate.resolve([1]);
  await p;
  await d;
  assert.equal(drained, true);
});

test("onBatch reports each batch's size and its items' summed wait for a call slot", async () => {
  const reported: Array<[number, number]> = [];
  const calls: Array<ReturnType<typeof deferred<number[]>>> = [];
  const c = new Coalescer<number, number>({
    maxBatch: 100,
    maxInFlight: 1,
    maxQueued: 100,
    onBatch: (size, waitedMs) => reported.push([size, waitedMs]),
    send: (items) => {
      const done = deferred<number[]>();
      calls.push(done);
      return done.promise;
    },
  });
  const first = c.submit(1);
  await new Promise((r) => setImmediate(r));
  const rest = [2, 3].map((n) => c.submit(n));
  await new Promise((r) => setTimeout(r, 50));
  calls[0]!.resolve([1]);
  await first;
  await new Promise((r) => setImmediate(r));
  calls[1]!.resolve([2, 3]);
  await Promise.all(rest);
  assert.deepEqual(reported.map(([size]) => size), [1, 2]);
  assert.ok(reported[0]![1] < 20, `a lone item waits for nothing, reported ${reported[0]![1]} ms`);
  // Two items each waited the ~50 ms the first call was in flight.
  assert.ok(reported[1]![1] >= 2 * 45 && reported[1]![1] < 2 * 1_000, `summed wait ${reported[1]![1]} ms`);
});

test("a run of items travels as one unit next to single items and is answered with its slice, errors included", async () => {
  const { c, calls } = manualCoalescer();
  const first = c.submit(1);
  await new Promise((r) => setImmediate(r));
  const single = c.submit(2);
  const run = c.submitRun([3, 4, 5]);
  const after = c.submit(6);
  await new Promise((r) => setImmediate(r));
  calls[0]!.done.resolve([10]);
  await first;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls[1]!.items, [2, 3, 4, 5, 6]);
  const refused = new Error("refused");
  calls[1]!.done.resolve([20, 30, refused as unknown as number, 50, 60]);
  assert.deepEqual(await run, [30, refused, 50]);
  assert.equal(await single, 20);
  assert.equal(await after, 60);
});

test("a run is never split: a batch takes whole runs up to maxBatch, a larger run goes alone", async () => {
  const batches: number[][] = [];
  const c = new Coalescer<number, number>({ maxBatch: 4, maxInFlight: 1, maxQueued: 100, send: async (b) => (batches.push(b), b) });
  const answers = await Promise.all([c.submitRun([1, 2, 3, 4, 5, 6]), c.submitRun([7, 8]), c.submitRun([9, 10]), c.submitRun([11])]);
  assert.deepEqual(answers, [[1, 2, 3, 4, 5, 6], [7, 8], [9, 10], [11]]);
  assert.deepEqual(batches, [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10], [11]]);
});

test("a run counts each item against maxQueued, and a failed call rejects the run as a whole", async () => {
  const gate = deferred<number[]>();
  const c = new Coalescer<number, number>({ maxBatch: 10, maxInFlight: 1, maxQueued: 3, send: () => gate.promise });
  const inFlight = c.submit(0);
  await new Promise((r) => setImmediate(r));
  const queued = c.submitRun([1, 2]);
  await assert.rejects(c.submitRun([3, 4]), OverloadedError);
  gate.reject(new Error("counter down"));
  await assert.rejects(inFlight, /counter down/);
  await assert.rejects(queued, /counter down/);
});
