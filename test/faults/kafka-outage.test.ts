import assert from "node:assert/strict";
import { test } from "node:test";
import { parseBatchCounters } from "../../services/counter/outbox-entry.js";
import { outboxDrained, outboxKeys, outboxLength } from "../support/analytics.js";
import { infra, sleep, type Stack } from "../support/stack.js";
import { checkLedger, dropLedgerKeys, expectAnalyticsEqualsRedis, IncrementLedger, percentile, runLedgerLoad } from "./support/load.js";
import { inEachRedisMode, scenarioName } from "./support/redis-modes.js";
import { report } from "./support/report.js";

/**
 * Kafka stopped for 20 s under a steady write load: every write still
 * succeeds (Redis and the outbox do not need Kafka), the outbox grows, and
 * once Kafka is back it drains into analytics with nothing lost and nothing
 * counted twice. On a cluster every shard's outbox grows and drains; its
 * outage is shorter (10 s), to keep the suite lean.
 */
const OUTAGE_MS = { standalone: Number(process.env.FAULT_KAFKA_OUTAGE_MS ?? 20_000), cluster: 10_000 };

/** Increments the outbox entries of every shard hold (batch entries: field 'c'). */
async function outboxIncrements(stack: Stack): Promise<number> {
  const streams = await Promise.all(outboxKeys(stack).map((key) => stack.redis.xrange(key, "-", "+")));
  return streams.flat().reduce((sum, [, fields]) => sum + parseBatchCounters(fields[1]!).reduce((n, c) => n + c.incrementCount, 0), 0);
}

// The gRPC connections are not rotated during the test (GRPC_MAX_CONNECTION_AGE_MS): a write that
// races the counter's closing of an aged connection is answered 503, which is not what this test is about.
inEachRedisMode({ env: { GRPC_MAX_CONNECTION_AGE_MS: "600000" } }, (stackOf, redisMode) => {
  const outageMs = OUTAGE_MS[redisMode];
  test(`Kafka down for ${outageMs / 1000} s during writes: writes succeed, the outbox drains after, nothing lost or doubled`, { timeout: 240_000 }, async () => {
    const stack = stackOf();
    const ledger = new IncrementLedger(`kafka-${stack.runId}-`, stack.counterType("kafkaout"));
    let outage = { from: 0, to: 0 };
    let running = true;
    const { done: load, outcomes } = runLedgerLoad(ledger, {
      origin: stack.gatewayUrl,
      connections: 16,
      ratePerSecond: 200,
      durationMs: 180_000,
      timeoutMs: 5_000,
      stop: () => !running,
    });

    let kafkaUp = false;
    let outboxAtPeak = 0;
    let incrementsAtPeak = 0;
    try {
      await sleep(3_000);
      await infra("kafka", "stop");
      outage.from = Date.now();
      await sleep(outageMs);
      outboxAtPeak = await outboxLength(stack);
      incrementsAtPeak = await outboxIncrements(stack);
      outage.to = Date.now();
      await infra("kafka", "start");
      kafkaUp = true;
      await sleep(2_000);
    } finally {
      running = false;
      if (!kafkaUp) await infra("kafka", "start");
    }
    await load;

    const during = outcomes.filter((o) => o && o.sentAt >= outage.from && o.sentAt < outage.to);
    const duringLatency = during.map((o) => o.latencyMs);
    const failed = outcomes.filter((o) => o && o.status !== 200);
    assert.equal(failed.length, 0, `every write succeeds, Kafka or not: ${JSON.stringify(failed.slice(0, 3))}`);
    assert.ok(during.length > (outageMs / 1000) * 150, `load kept going during the outage (${during.length} writes)`);
    assert.ok(incrementsAtPeak > during.length * 0.9, `the outbox held the outage's increments (${incrementsAtPeak} in ${outboxAtPeak} entries)`);

    const check = await checkLedger(stack, ledger);
    assert.deepEqual(check.problems.slice(0, 10), []);
    const drainStart = Date.now();
    await outboxDrained(stack, 90_000);
    const drainMs = Date.now() - drainStart;
    await expectAnalyticsEqualsRedis(stack.gatewayUrl, check, ledger.counterType, 120_000);

    report(scenarioName("kafka-outage", redisMode), {
      outageSeconds: Math.round((outage.to - outage.from) / 1000),
      writesDuringOutage: during.length,
      p50DuringOutageMs: Number(percentile(duringLatency, 50).toFixed(1)),
      p99DuringOutageMs: Number(percentile(duringLatency, 99).toFixed(1)),
      maxDuringOutageMs: Number(percentile(duringLatency, 100).toFixed(1)),
      outboxAtPeak,
      incrementsAtPeak,
      outboxDrainMsAfterKafkaReady: drainMs,
      requests: check.requests,
      acknowledged: check.acknowledged,
      acknowledgedSum: check.acknowledgedSum,
      storedSum: check.storedSum,
      analyticsEqualsRedis: true,
    });
    await dropLedgerKeys(stack, ledger);
  });
});
