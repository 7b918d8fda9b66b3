/**
 * The Kafka lines users run. Every other test talks to the default broker
 * (scripts/kafka.sh KAFKA_DEFAULT_VERSION, a 4.x); this file checks that it
 * is the one running, then starts a Kafka 3.9 broker of its own beside it and
 * sends the event path through that one: the counter's outbox relay produces
 * (lz4) and analytics consumes in a consumer group, exactly once.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { scrape } from "../faults/support/load.js";
import { analyticsEquals, writeSome } from "../support/analytics.js";
import { eventually, repoRoot, runDir, startStack } from "../support/stack.js";

const kafkaScript = join(repoRoot, "scripts/kafka.sh");
const defaultVersion = /^KAFKA_DEFAULT_VERSION=(\S+)$/m.exec(readFileSync(kafkaScript, "utf8"))?.[1];
const OLD_LINE = "3.9.2";
const oldRun = join(runDir, `kafka-${OLD_LINE}`);
const oldEnv = { ...process.env, HIGHGOPRESS_RUN: oldRun, HIGHGOPRESS_KAFKA_VERSION: OLD_LINE, KAFKA_PORT: "19092", KAFKA_CONTROLLER_PORT: "19093" };

function kafka(command: "start" | "stop", env: NodeJS.ProcessEnv): void {
  const r = spawnSync(kafkaScript, [command], { env, encoding: "utf8", timeout: 10 * 60_000 });
  assert.equal(r.status, 0, `scripts/kafka.sh ${command} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
}

/** The version the broker logged when it last started. */
function runningVersion(kafkaRun: string): string | undefined {
  const log = readFileSync(join(kafkaRun, "kafka/kafka.log"), "utf8");
  return [...log.matchAll(/INFO Kafka version: (\S+)/g)].at(-1)?.[1];
}

before(() => {
  mkdirSync(oldRun, { recursive: true });
  kafka("start", oldEnv);
}, { timeout: 11 * 60_000 });
after(() => kafka("stop", oldEnv));

test("the tests' broker is the default Kafka, a 4.x", () => {
  assert.match(defaultVersion ?? "", /^4\.\d+\.\d+$/);
  assert.equal(runningVersion(runDir), defaultVersion);
});

test(`Kafka ${OLD_LINE}: the relay's events reach analytics through a consumer group exactly once`, async () => {
  assert.equal(runningVersion(oldRun), OLD_LINE);
  const stack = await startStack({ env: { KAFKA_BROKERS: "127.0.0.1:19092", KAFKA_COMPRESSION: "lz4" } });
  try {
    const type = stack.counterType("kafka39");
    await analyticsEquals(stack, type, await writeSome(stack, type));
    const metrics = `http://127.0.0.1:${stack.ports.analyticsMetrics}/metrics`;
    assert.equal(await scrape(metrics, "highgopress_analytics_undecodable_total", true), 0);
    await eventually("the consumer lag to return to 0", async () => ((await scrape(metrics, "highgopress_analytics_consumer_lag_messages", true)) === 0 ? true : undefined));
  } finally {
    await stack.stop();
  }
});
