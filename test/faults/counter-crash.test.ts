import assert from "node:assert/strict";
import { test } from "node:test";
import { outboxDrained } from "../support/analytics.js";
import { sleep } from "../support/stack.js";
import { checkLedger, dropLedgerKeys, expectAnalyticsEqualsRedis, IncrementLedger, ledgerFigures, runLedgerLoad, summarize } from "./support/load.js";
import { inEachRedisMode, scenarioName } from "./support/redis-modes.js";
import { report } from "./support/report.js";

/**
 * kill -9 the counter service in the middle of a write load, start it again:
 * every increment the client saw acknowledged is in Redis exactly once, none
 * that was refused is there, each one in doubt (its answer lost with the
 * process) at most once; the outbox relay resumes from its pending entries
 * (of every shard, on a cluster) and analytics ends up equal to Redis.
 */
inEachRedisMode({}, (stackOf, redisMode) => {
  test("kill -9 of the counter during writes loses and duplicates nothing", { timeout: 150_000 }, async () => {
    const stack = stackOf();
    const ledger = new IncrementLedger(`crash-${stack.runId}-`, stack.counterType("crash"));
    const { done: load } = runLedgerLoad(ledger, { origin: stack.gatewayUrl, connections: 32, ratePerSecond: 800, durationMs: 14_000, timeoutMs: 5_000 });
    await sleep(4_000);
    const killedAt = Date.now();
    await stack.kill("counter", "SIGKILL");
    await sleep(2_000);
    await stack.start("counter");
    const restartedAt = Date.now();
    const summary = await load;

    const check = await checkLedger(stack, ledger);
    assert.deepEqual(check.problems.slice(0, 10), [], "every increment is where its answer says");
    assert.ok(check.acknowledged > 0 && check.inDoubt + check.refused > 0, `the crash was felt: ${JSON.stringify(ledgerFigures(check))}`);
    const ackedAfterRestart = ledger.fate.filter((f, i) => f === "acknowledged" && ledger.sentAt[i]! > restartedAt).length;
    assert.ok(ackedAfterRestart > 0, "writes succeed again after the restart, with no gateway restart");

    await outboxDrained(stack);
    await expectAnalyticsEqualsRedis(stack.gatewayUrl, check, ledger.counterType);

    report(scenarioName("counter-kill-9", redisMode), {
      load: summarize(summary),
      ...ledgerFigures(check),
      acknowledgedAfterRestart: ackedAfterRestart,
      outageMs: restartedAt - killedAt,
      analyticsEqualsRedis: true,
    });
    await dropLedgerKeys(stack, ledger);
  });
});
