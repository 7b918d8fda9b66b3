import assert from "node:assert/strict";
import { test } from "node:test";
import { createReplicaGate, ShardHeldError } from "../../services/counter/replica-gate.js";
import { NotReplicatedError } from "../../services/lib/redis.js";

const inDoubt = () => new NotReplicatedError(0, { replicas: 1, timeoutMs: 250 });

test("one call per shard in flight; other shards do not wait", async () => {
  const gate = createReplicaGate(2, 1_000);
  const order: string[] = [];
  let release!: () => void;
  const first = gate.run(0, () => new Promise<void>((r) => (release = r)).then(() => void order.push("a1")));
  const second = gate.run(0, async () => void order.push("a2"));
  await gate.run(1, async () => void order.push("b1"));
  assert.deepEqual(order, ["b1"], "shard 1 ran while shard 0's first call was in flight, its second waited");
  release();
  await Promise.all([first, second]);
  assert.deepEqual(order, ["b1", "a1", "a2"]);
});

test("after a call failed, the shard's queued and new calls fail at once, not applied, until the hold ends", async () => {
  let shorts = 0;
  const gate = createReplicaGate(2, 50, () => shorts++);
  let calls = 0;
  const failing = gate.run(0, async () => {
    calls++;
    throw inDoubt();
  });
  const queued = gate.run(0, async () => void calls++);
  await assert.rejects(failing, NotReplicatedError);
  await assert.rejects(queued, ShardHeldError);
  await assert.rejects(gate.run(0, async () => void calls++), /not applied: the shard failed a call a moment ago \(applied on the primary but confirmed by 0 of 1/);
  await gate.run(1, async () => void calls++);
  assert.equal(calls, 2, "only the first call of shard 0 and the call of shard 1 ran");
  assert.equal(shorts, 1);
  await new Promise((r) => setTimeout(r, 60));
  await gate.run(0, async () => void calls++);
  assert.equal(calls, 3, "after the hold one call tries again");
});

test("any failure holds the shard; only replica shortfalls are counted as such", async () => {
  let shorts = 0;
  const gate = createReplicaGate(1, 1_000, () => shorts++);
  await assert.rejects(gate.run(0, async () => Promise.reject(new Error("Connection is closed."))), /Connection is closed/);
  await assert.rejects(gate.run(0, async () => 7), /shard failed a call a moment ago \(Connection is closed.\)/);
  assert.equal(shorts, 0);
});
