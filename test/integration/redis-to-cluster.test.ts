/**
 * The migration from one Redis to a Redis Cluster (tools/redis-to-cluster.ts):
 * a system that ran on a standalone Redis of its own is stopped with events
 * still in its outbox, its data is moved into the cluster the project's
 * scripts started, and the system on the cluster answers with the same
 * counters, replays the same idempotency keys and ranks every increment
 * once, pending ones included.
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { createCounterStore } from "../../services/counter/store.js";
import { STANDALONE } from "../../services/lib/redis-shards.js";
import { topOf } from "../support/analytics.js";
import { eventually, freePort, http, redisClusterNodes, repoRoot, startStack, type Stack } from "../support/stack.js";

let server: ChildProcess | undefined;
let dir: string;
let source: Redis;
let sourceUrl: string;
before(async () => {
  const port = await freePort();
  dir = mkdtempSync(join(tmpdir(), "hgp-standalone-"));
  server = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" });
  sourceUrl = `redis://127.0.0.1:${port}`;
  source = new Redis(sourceUrl, { maxRetriesPerRequest: 3 });
  await eventually("the standalone Redis to answer", async () => ((await source.ping()) === "PONG" ? true : undefined), 10_000, 100);
});
after(async () => {
  source?.disconnect();
  server?.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const migrate = (outboxStream: string) =>
  promisify(execFile)(process.execPath, [join(repoRoot, "dist/tools/redis-to-cluster.js"), "--from", sourceUrl, "--to", redisClusterNodes, "--outbox-stream", outboxStream]);

test("a standalone data set moved into the cluster: counters, idempotency keys, rankings and pending events, nothing lost or counted twice", { timeout: 180_000 }, async () => {
  const standalone = await startStack({ env: { REDIS_URL: sourceUrl } });
  const type = standalone.counterType("moved");
  const id = (name: string) => `${name}-${standalone.runId}`;
  const expected = new Map<string, { value: number; count: number }>();
  let stack: Stack | undefined;
  try {
    const ops = Array.from({ length: 30 }, (_, i) => ({ resource_id: id(`r${i}`), counter_type: type, delta: i + 1 }));
    assert.equal((await http("POST", `${standalone.gatewayUrl}/api/v1/counter/batch-increment`, { operations: ops })).status, 200);
    ops.forEach((op) => expected.set(op.resource_id, { value: op.delta, count: 1 }));
    const idem = { resource_id: id("idem"), counter_type: type, delta: 5 };
    assert.equal((await http("POST", `${standalone.gatewayUrl}/api/v1/counter/increment`, idem, { "Idempotency-Key": id("key") })).body.data.current_value, 5);
    expected.set(idem.resource_id, { value: 5, count: 1 });
    await eventually("the standalone analytics to rank every increment", async () => ((await topOf(standalone, type)).items.length === 31 ? true : undefined));
  } finally {
    await standalone.stop();
  }

  // Events written while nothing relays them: the outbox the migration has to carry.
  const outboxStream = standalone.env.OUTBOX_STREAM!;
  const store = createCounterStore({ redis: source, layout: STANDALONE, outboxStream, eventFormat: "batch", idempotencyTtlSeconds: 60 });
  const pending = [...Array.from({ length: 5 }, (_, i) => ({ resourceId: id(`p${i}`), counterType: type, delta: 2 })), { resourceId: id("r0"), counterType: type, delta: 1 }];
  await store.increment(pending);
  for (const op of pending) expected.set(op.resourceId, { value: (expected.get(op.resourceId)?.value ?? 0) + op.delta, count: (expected.get(op.resourceId)?.count ?? 0) + 1 });
  assert.equal(await source.xlen(outboxStream), 1);

  const first = await migrate(outboxStream);
  assert.match(first.stdout, /counters: 36 copied, 0 already there with the same value, 0 conflicts/);
  assert.match(first.stdout, /outbox: 1 pending entries moved as \d+ shard entries/);
  assert.equal(await source.xlen(outboxStream), 0, "the moved entries left the source");
  const again = await migrate(outboxStream);
  assert.match(again.stdout, /counters: 0 copied, 36 already there with the same value, 0 conflicts/, "a second run changes nothing");

  try {
    stack = await startStack({ redisMode: "cluster", env: { OUTBOX_STREAM: outboxStream } });
    const url = stack.gatewayUrl;
    for (const [resource, { value }] of expected) {
      assert.equal((await http("GET", `${url}/api/v1/counter/${resource}/${type}`)).body.data.current_value, value, resource);
    }
    const replay = await http("POST", `${url}/api/v1/counter/increment`, { resource_id: id("idem"), counter_type: type, delta: 5 }, { "Idempotency-Key": id("key") });
    assert.equal(replay.body.data.current_value, 5);
    assert.equal(replay.headers.get("idempotent-replayed"), "true", "the idempotency key came along");
    const top = await eventually(
      "analytics on the cluster to hold the moved rankings and the pending events, each once",
      async () => {
        const { items } = await topOf(stack!, type);
        const same = items.length === expected.size && items.every((i) => expected.get(i.resource_id)?.value === i.value && expected.get(i.resource_id)?.count === i.increment_count);
        return same ? items : undefined;
      },
      60_000,
      250,
    );
    assert.equal(top[0]!.resource_id, id("r29"));
  } finally {
    await stack?.stop();
  }
});
