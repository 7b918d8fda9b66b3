/**
 * Start-up against a Redis Cluster that does not exist yet: its nodes run
 * but hold no slots (as the chart's pods before the bootstrap Job has
 * created the cluster). The services' connect waits, and is ready once the
 * slots are assigned, instead of hanging on a connect that never settles.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { connectRedis, createRedis } from "../../services/lib/redis.js";
import { createLogger } from "../../services/lib/logger.js";
import { eventually, freePort, raceTimeout, sleep } from "../support/stack.js";

let port: number;
let dir: string;
let node: ChildProcess;
let admin: Redis;
before(async () => {
  port = await freePort();
  dir = mkdtempSync(join(tmpdir(), "hgp-lone-node-"));
  // One cluster-enabled node, never joined to another: no slots until assigned below.
  node = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes", "--cluster-announce-ip", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  admin = new Redis(port, "127.0.0.1");
  admin.on("error", () => undefined);
  await eventually("the lone node to answer", async () => ((await admin.ping()) === "PONG" ? true : undefined), 10_000, 100);
});
after(async () => {
  admin.disconnect();
  node.kill();
  await new Promise((resolve) => (node.exitCode === null ? node.once("exit", resolve) : resolve(undefined)));
  rmSync(dir, { recursive: true, force: true });
});

test("connecting to a cluster whose slots are assigned later: ready once they are, nothing hangs", { timeout: 60_000 }, async () => {
  const logger = createLogger("redis-connect-test");
  const redis = createRedis({ mode: "cluster", url: "", clusterNodes: [`127.0.0.1:${port}`], commandTimeoutMs: 1_000 }, logger, "test");
  try {
    let connected = false;
    const connecting = connectRedis(redis, logger).then(() => (connected = true));
    await sleep(1_500);
    assert.equal(connected, false, "no cluster yet: still waiting");
    await admin.cluster("ADDSLOTSRANGE", 0, 16383);
    await Promise.race([connecting, raceTimeout(30_000).then(() => assert.fail("not ready 30 s after the slots were assigned"))]);
    await redis.set("lone:{a}", "1");
    assert.equal(await redis.get("lone:{a}"), "1");
  } finally {
    redis.disconnect();
  }
});

test("a cluster node whose name does not resolve (its pod has no address) does not keep the client from the others", { timeout: 60_000 }, async () => {
  const logger = createLogger("redis-connect-test");
  // A label over 63 characters cannot be put in a DNS query: the lookup fails
  // on this machine (ENOTFOUND, as for a Pod without an address), and nothing is sent.
  const unresolvable = `${"x".repeat(64)}.invalid:${port}`;
  const redis = createRedis({ mode: "cluster", url: "", clusterNodes: [unresolvable, `127.0.0.1:${port}`], commandTimeoutMs: 1_000 }, logger, "test");
  try {
    await Promise.race([connectRedis(redis, logger), raceTimeout(15_000).then(() => assert.fail(`not ready within 15 s (status ${redis.status})`))]);
    await redis.set("resolvable:{a}", "2");
    assert.equal(await redis.get("resolvable:{a}"), "2");
  } finally {
    redis.disconnect();
  }
});
