import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { eventually, http, sleep, startStack, type Stack } from "../support/stack.js";
import { checkLedger, dropLedgerKeys, expectAnalyticsEqualsRedis, IncrementLedger, runLoad, scrape } from "./support/load.js";
import { report } from "./support/report.js";

/**
 * kill -9 the analytics service while it is inside a batch: events of that
 * batch already applied to Redis, whose offsets were not yet committed, come
 * again after the restart and must be recognised (seen:{event_id}), not
 * counted twice.
 */
let stack: Stack;
before(async () => {
  // One event per Redis script call makes a batch long enough to be cut in the middle.
  stack = await startStack({ env: { ANALYTICS_APPLY_CHUNK: "1" } });
});
after(() => stack?.stop());

const INCREMENTS = 6_000;

test("kill -9 of analytics mid-batch: after the restart no event is applied twice, none is lost", { timeout: 150_000 }, async () => {
  const metrics = `http://127.0.0.1:${stack.ports.analyticsMetrics}/metrics`;
  const ledger = new IncrementLedger(`acrash-${stack.runId}-`, stack.counterType("acrash"));
  // A backlog in Kafka while analytics is away: two connections make small counter batches, so thousands of events.
  await stack.kill("analytics", "SIGTERM");
  const load = await runLoad({ origin: stack.gatewayUrl, connections: 2, maxRequests: INCREMENTS, durationMs: 60_000, next: ledger.request, onResult: ledger.record });
  assert.equal(load.byStatus["200"], INCREMENTS, JSON.stringify(load.byStatus));
  // Readiness never follows a dependency: with analytics down the gateway stays ready and reports it.
  await eventually("the gateway to report analytics down", async () => {
    const r = await http("GET", `${stack.gatewayUrl}/readyz`);
    assert.equal(r.status, 200, "the gateway stays ready while analytics is down");
    return r.body.downstreams.analytics === false ? true : undefined;
  }, 10_000, 200);
  await eventually("the outbox to be relayed to Kafka", async () => ((await stack.redis.xlen(stack.env.OUTBOX_STREAM!)) === 0 ? true : undefined), 60_000, 200);
  const events = await scrape(`http://127.0.0.1:${stack.ports.counterMetrics}/metrics`, "highgopress_outbox_events_published_total");

  await stack.start("analytics");
  const appliedAtKill = await eventually(
    "analytics to be inside its first batches",
    async () => {
      const applied = await scrape(metrics, "highgopress_analytics_events_applied_total");
      return applied >= 20 ? applied : undefined;
    },
    60_000,
    5,
  );
  await stack.kill("analytics", "SIGKILL");
  await sleep(500);
  const restarted = Date.now();
  await stack.start("analytics");

  const check = await checkLedger(stack, ledger);
  assert.deepEqual(check.problems.slice(0, 10), []);
  await expectAnalyticsEqualsRedis(stack.gatewayUrl, check, ledger.counterType);
  const caughtUpMs = Date.now() - restarted;
  const appliedAfter = await scrape(metrics, "highgopress_analytics_events_applied_total");
  const duplicatesAfter = await scrape(metrics, "highgopress_analytics_events_deduplicated_total");
  assert.ok(appliedAtKill < events, `the kill came before the backlog of ${events} events was done (${appliedAtKill} applied)`);
  assert.ok(duplicatesAfter > 0, "events applied before the kill were delivered again and recognised");
  assert.ok(appliedAfter + duplicatesAfter >= events - appliedAtKill, `after the restart ${appliedAfter} applied + ${duplicatesAfter} recognised, of ${events} events`);

  report("analytics-kill-9", {
    increments: INCREMENTS,
    events,
    appliedBeforeKill: appliedAtKill,
    redeliveredAndSkippedAfterRestart: duplicatesAfter,
    appliedAfterRestart: appliedAfter,
    caughtUpMsAfterRestart: caughtUpMs,
    acknowledgedSum: check.acknowledgedSum,
    storedSum: check.storedSum,
    analyticsEqualsRedis: true,
  });
  await dropLedgerKeys(stack, ledger);
});
