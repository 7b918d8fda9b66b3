import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { eventually, sleep, startStack, type Stack } from "../support/stack.js";
import { checkLedger, dropLedgerKeys, expectAnalyticsEqualsRedis, IncrementLedger, ledgerFigures, runLoad, summarize } from "./support/load.js";
import { report } from "./support/report.js";

/**
 * kill -9 the counter service in the middle of a write load, start it again:
 * every increment the client saw acknowledged is in Redis exactly once, none
 * that was refused is there, each one in doubt (its answer lost with the
 * process) at most once; the outbox relay resumes from its pending entries
 * and analytics ends up equal to Redis.
 */
let stack: Stack;
before(async () => {
  stack = await startStack();
});
after(() => stack?.stop());

test("kill -9 of the counter during writes loses and duplicates nothing", { timeout: 150_000 }, async () => {
  const ledger = new IncrementLedger(`crash-${stack.runId}-`, stack.counterType("crash"));
  let killedAt = 0;
  let restartedAt = 0;
  const load = runLoad({
    origin: stack.gatewayUrl,
    connections: 32,
    ratePerSecond: 800,
    durationMs: 14_000,
    timeoutMs: 5_000,
    next: ledger.request,
    onResult: ledger.record,
  });
  await sleep(4_000);
  killedAt = Date.now();
  await stack.kill("counter", "SIGKILL");
  await sleep(2_000);
  await stack.start("counter");
  restartedAt = Date.now();
  const summary = await load;

  const check = await checkLedger(stack, ledger);
  assert.deepEqual(check.problems.slice(0, 10), [], "every increment is where its answer says");
  assert.ok(check.acknowledged > 0 && check.inDoubt + check.refused > 0, `the crash was felt: ${JSON.stringify({ ...check, stored: undefined })}`);
  const ackedAfterRestart = ledger.fate.filter((f, i) => f === "acknowledged" && ledger.sentAt[i]! > restartedAt).length;
  assert.ok(ackedAfterRestart > 0, "writes succeed again after the restart, with no gateway restart");

  await eventually("the outbox to drain", async () => ((await stack.redis.xlen(stack.env.OUTBOX_STREAM!)) === 0 ? true : undefined), 60_000, 500);
  await expectAnalyticsEqualsRedis(stack.gatewayUrl, check, ledger.counterType);

  report("counter-kill-9", {
    load: summarize(summary),
    ...ledgerFigures(check),
    acknowledgedAfterRestart: ackedAfterRestart,
    outageMs: restartedAt - killedAt,
    analyticsEqualsRedis: true,
  });
  await dropLedgerKeys(stack, ledger);
});
