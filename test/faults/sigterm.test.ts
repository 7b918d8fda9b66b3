import assert from "node:assert/strict";
import { test } from "node:test";
import { outboxPending } from "../support/analytics.js";
import { sleep } from "../support/stack.js";
import { checkLedger, dropLedgerKeys, IncrementLedger, runLedgerLoad, summarize, type Outcome } from "./support/load.js";
import { inEachRedisMode, scenarioName } from "./support/redis-modes.js";
import { report } from "./support/report.js";

/**
 * SIGTERM during load. The gateway: readiness off, every request it had
 * accepted is finished and answered (coalescing buffers flushed), new ones
 * are refused without being applied, then it exits. The counter: in-flight
 * calls finish, the outbox relay stops, then it exits; nothing it applied
 * goes unacknowledged. The counter's on one Redis and on a cluster; the
 * gateway's drain is the same in both, so it runs on one Redis only.
 */

/** Failures that show the request was never accepted: refused connections, fastify's closing 503. */
const notAccepted = (o: Outcome) => o.status === 0 || (o.status === 503 && /"message":"Service Unavailable"/.test(o.body ?? ""));

inEachRedisMode({}, (stackOf, redisMode) => {
  if (redisMode === "standalone") {
    test("SIGTERM to the gateway under load: zero failures among accepted requests", { timeout: 90_000 }, async () => {
      const stack = stackOf();
      const ledger = new IncrementLedger(`term-gw-${stack.runId}-`, stack.counterType("termgw"));
      const { done: load, outcomes } = runLedgerLoad(ledger, {
        origin: stack.gatewayUrl,
        connections: 64,
        ratePerSecond: 1_000,
        durationMs: 6_000,
        timeoutMs: 10_000,
      });
      await sleep(3_000);
      const signalAt = Date.now();
      const exitCode = await stack.kill("gateway", "SIGTERM");
      const exitedMs = Date.now() - signalAt;
      // Started again whatever the checks below say, so that the tests after this one have a gateway.
      try {
        const summary = await load;
        assert.equal(exitCode, 0, "the gateway shut down cleanly");

        const check = await checkLedger(stack, ledger);
        assert.deepEqual(check.problems.slice(0, 10), []);
        const failed = outcomes.filter((o) => o.status !== 200);
        const acceptedAndFailed = failed.filter((o) => !notAccepted(o));
        assert.deepEqual(acceptedAndFailed.slice(0, 5), [], "every failure is a refusal of a request that was never accepted");
        assert.equal(check.inDoubtStored, 0, "no applied increment went unanswered");
        const before = outcomes.filter((o) => o.sentAt < signalAt);
        // 3 s at 1,000 requests/s offered; on a busy box the gateway answers fewer, still under load.
        const answeredBefore = before.filter((o) => o.status === 200).length;
        assert.ok(answeredBefore >= 300, `load was flowing before the signal (${answeredBefore} answered)`);
        assert.ok(outcomes.some((o) => o.sentAt > signalAt + exitedMs), "load went on after the exit (refused)");

        report("sigterm-gateway", {
          load: summarize(summary),
          sentBeforeSignal: before.length,
          failedAmongSentBeforeSignal: before.filter((o) => o.status !== 200).length,
          acceptedAndFailed: acceptedAndFailed.length,
          refusedAfterSignal: failed.length,
          acknowledged: check.acknowledged,
          acknowledgedSum: check.acknowledgedSum,
          storedSum: check.storedSum,
          inDoubtStored: check.inDoubtStored,
          exitMsAfterSignal: exitedMs,
        });
        await dropLedgerKeys(stack, ledger);
      } finally {
        await stack.start("gateway");
      }
    });
  }

  test("SIGTERM to the counter under load: everything it applied was acknowledged", { timeout: 90_000 }, async () => {
    const stack = stackOf();
    const ledger = new IncrementLedger(`term-ct-${stack.runId}-`, stack.counterType("termct"));
    const { done: load } = runLedgerLoad(ledger, { origin: stack.gatewayUrl, connections: 64, ratePerSecond: 1_000, durationMs: 8_000, timeoutMs: 10_000 });
    await sleep(3_000);
    const signalAt = Date.now();
    const exitCode = await stack.kill("counter", "SIGTERM");
    const exitedMs = Date.now() - signalAt;
    await stack.start("counter");
    const summary = await load;
    assert.equal(exitCode, 0, "the counter shut down cleanly");

    const check = await checkLedger(stack, ledger);
    assert.deepEqual(check.problems.slice(0, 10), []);
    assert.equal(check.inDoubtStored, 0, "no increment was applied without its answer reaching the client");
    assert.equal(check.storedSum, check.acknowledgedSum, "stored == acknowledged, exactly");
    assert.ok(check.acknowledged >= 100, `load was flowing (${check.acknowledged} increments acknowledged)`);
    const pending = await outboxPending(stack);
    report(scenarioName("sigterm-counter", redisMode), {
      load: summarize(summary),
      acknowledged: check.acknowledged,
      refused: check.refused,
      inDoubt: check.inDoubt,
      inDoubtStored: check.inDoubtStored,
      acknowledgedSum: check.acknowledgedSum,
      storedSum: check.storedSum,
      exitMsAfterSignal: exitedMs,
      outboxPendingAfterRestart: pending,
    });
    await dropLedgerKeys(stack, ledger);
  });
});
