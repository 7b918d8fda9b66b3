import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { eventually, http, infra, servicePids, sleep, startStack, type Stack } from "../support/stack.js";
import { checkLedger, dropLedgerKeys, expectAnalyticsEqualsRedis, IncrementLedger, ledgerFigures, PACED_WRITES, percentile, runLedgerLoad } from "./support/load.js";
import { report } from "./support/report.js";

/**
 * Redis stopped under load: the gateway answers 503 quickly (circuit breaker
 * and fail-fast Redis client, nothing waits for a deadline), and when Redis
 * is back every service recovers on its own, with the same processes.
 */
const WRITE_DEADLINE_MS = 2_000;

let stack: Stack;
before(async () => {
  stack = await startStack({ env: { WRITE_DEADLINE_MS: String(WRITE_DEADLINE_MS), READ_DEADLINE_MS: "1000" } });
  stack.redis.on("error", () => undefined);
});
after(() => stack?.stop());

test("Redis down: fast 503s, then recovery without a restart, with every increment accounted for", { timeout: 180_000 }, async () => {
  const ledger = new IncrementLedger(`redis-${stack.runId}-`, stack.counterType("redisout"));
  const pids = servicePids(stack);
  let outage = { from: 0, to: 0 };
  let running = true;
  const { done: load, outcomes } = runLedgerLoad(ledger, { origin: stack.gatewayUrl, ...PACED_WRITES, stop: () => !running });

  const reads: Array<{ status: number; ms: number }> = [];
  const readiness = { gateway: new Set<number>(), counter: new Set<number>() };
  const readyz = { gateway: `${stack.gatewayUrl}/readyz`, counter: `http://127.0.0.1:${stack.ports.counterMetrics}/readyz` };
  let redisUp = false;
  let recoveredAfterMs = 0;
  let recoveredAt = 0;
  try {
    await sleep(2_000);
    await infra("redis", "stop");
    outage.from = Date.now();
    const readLoop = (async () => {
      while (Date.now() - outage.from < 5_000) {
        const t0 = performance.now();
        const r = await http("GET", `${stack.gatewayUrl}/api/v1/counter/r/${ledger.counterType}`);
        reads.push({ status: r.status, ms: performance.now() - t0 });
        for (const name of ["gateway", "counter"] as const) readiness[name].add((await http("GET", readyz[name])).status);
        await sleep(100);
      }
    })();
    await sleep(6_000);
    await readLoop;
    outage.to = Date.now();
    await infra("redis", "start");
    redisUp = true;
    const back = Date.now();
    await eventually(
      "writes to succeed again",
      async () => {
        const r = await http("POST", `${stack.gatewayUrl}/api/v1/counter/increment`, { resource_id: `probe-${stack.runId}`, counter_type: stack.counterType("probe") });
        return r.status === 200 ? true : undefined;
      },
      30_000,
      100,
    );
    recoveredAt = Date.now();
    recoveredAfterMs = recoveredAt - back;
    await sleep(3_000);
  } finally {
    running = false;
    if (!redisUp) await infra("redis", "start");
  }
  await load;

  // Writes sent well inside the outage (Redis fully down): all refused fast.
  const during = outcomes.filter((o) => o && o.sentAt >= outage.from + 500 && o.sentAt < outage.to - 200);
  const duringStatuses = [...new Set(during.map((o) => o.status))];
  const slowest = percentile(during.map((o) => o.latencyMs), 100);
  assert.ok(during.length > 500, `load ran during the outage (${during.length} writes)`);
  assert.deepEqual(duringStatuses, [503], "every write during the outage is a 503");
  // Readiness is the pod's own: a Redis outage takes no gateway or counter out of its Service.
  assert.deepEqual({ gateway: [...readiness.gateway], counter: [...readiness.counter] }, { gateway: [200], counter: [200] });
  assert.ok(during.every((o) => o.retryAfter === "1"), "with Retry-After");
  assert.ok(slowest < WRITE_DEADLINE_MS / 2, `no write waited for its deadline (slowest ${slowest.toFixed(0)} ms)`);
  assert.ok(reads.length > 10 && reads.every((r) => r.status === 503 && r.ms < 1_000), `reads fail fast too: ${JSON.stringify(reads.slice(0, 5))}`);
  assert.deepEqual(
    servicePids(stack),
    pids,
    "no service was restarted",
  );

  const check = await checkLedger(stack, ledger);
  assert.deepEqual(check.problems.slice(0, 10), []);
  const after = outcomes.filter((o) => o && o.sentAt > recoveredAt + 100);
  assert.ok(after.length > 0 && after.every((o) => o.status === 200), `writes after recovery succeed: ${JSON.stringify(after.filter((o) => o.status !== 200).slice(0, 3))} of ${after.length}`);
  await eventually("the outbox to drain", async () => ((await stack.redis.xlen(stack.env.OUTBOX_STREAM!)) === 0 ? true : undefined), 60_000, 250);
  await expectAnalyticsEqualsRedis(stack.gatewayUrl, check, ledger.counterType);

  report("redis-outage", {
    outageSeconds: Math.round((outage.to - outage.from) / 1000),
    writesDuringOutage: during.length,
    statusDuringOutage: duringStatuses,
    p99MsDuringOutage: Number(percentile(during.map((o) => o.latencyMs), 99).toFixed(1)),
    slowestMsDuringOutage: Number(slowest.toFixed(1)),
    readsDuringOutage: reads.length,
    slowestReadMs: Number(Math.max(...reads.map((r) => r.ms)).toFixed(1)),
    recoveredMsAfterRedisReady: recoveredAfterMs,
    ...ledgerFigures(check),
    analyticsEqualsRedis: true,
  });
  await dropLedgerKeys(stack, ledger);
});
