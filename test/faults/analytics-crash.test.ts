import assert from "node:assert/strict";
import { test } from "node:test";
import { outboxDrained } from "../support/analytics.js";
import { eventually, http, sleep } from "../support/stack.js";
import { checkLedger, dropLedgerKeys, expectAnalyticsEqualsRedis, IncrementLedger, runLedgerLoad, scrape } from "./support/load.js";
import { inEachRedisMode, scenarioName } from "./support/redis-modes.js";
import { report } from "./support/report.js";

/**
 * kill -9 the analytics service while it is inside a batch: events of that
 * batch already applied to Redis, whose offsets were not yet committed, come
 * again after the restart and must be recognised (seen:{event_id}), not
 * counted twice (on a cluster: with the seen markers of each shard).
 */
const INCREMENTS = 6_000;

// One event per Redis script call makes a batch long enough to be cut in the middle; the shortest
// session the broker allows (6 s) hands the dead consumer's partitions to the restarted one sooner.
inEachRedisMode({ env: { ANALYTICS_APPLY_CHUNK: "1", ANALYTICS_SESSION_TIMEOUT_MS: "6000" } }, (stackOf, redisMode) => {
  test("kill -9 of analytics mid-batch: after the restart no event is applied twice, none is lost", { timeout: 150_000 }, async () => {
    const stack = stackOf();
    const metrics = `http://127.0.0.1:${stack.ports.analyticsMetrics}/metrics`;
    const ledger = new IncrementLedger(`acrash-${stack.runId}-`, stack.counterType("acrash"));
    // A backlog in Kafka while analytics is away: two connections make small counter batches, so thousands of events.
    await stack.kill("analytics", "SIGTERM");
    const load = await runLedgerLoad(ledger, { origin: stack.gatewayUrl, connections: 2, maxRequests: INCREMENTS, durationMs: 60_000 }).done;
    assert.equal(load.byStatus["200"], INCREMENTS, JSON.stringify(load.byStatus));
    // Readiness never follows a dependency: with analytics down the gateway stays ready and reports it.
    await eventually("the gateway to report analytics down", async () => {
      const r = await http("GET", `${stack.gatewayUrl}/readyz`);
      assert.equal(r.status, 200, "the gateway stays ready while analytics is down");
      return r.body.downstreams.analytics === false ? true : undefined;
    }, 10_000, 200);
    await outboxDrained(stack);
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

    report(scenarioName("analytics-kill-9", redisMode), {
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
});
