/**
 * The system on a Redis Cluster (3 primaries, 3 replicas, started by
 * scripts/redis-cluster.sh): the core API answers as on one Redis, a batch
 * is split by shard over every primary, and every shard's outbox reaches
 * analytics once, also after a counter dies with events still in its hands.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Cluster } from "ioredis";
import { outboxDrained, outboxKeys, outboxPending, topOf } from "../support/analytics.js";
import { apiRoundTrips } from "../support/api-round-trips.js";
import { eventually, http, type Stack } from "../support/stack.js";

// A relay that holds what it read for a second before publishing: a counter killed meanwhile dies with events in hand.
const stackOf = apiRoundTrips("cluster", { OUTBOX_RELAY_LINGER_MS: "1000" });

/** `n` resources, resource i incremented by i+1 and then by 1 in two batch requests: value i+2, two increments each. */
async function writeSpread(stack: Stack, counterType: string, prefix: string, n: number): Promise<Map<string, number>> {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}${i}-${stack.runId}`);
  for (const deltaOf of [(i: number) => i + 1, () => 1]) {
    const r = await http("POST", `${stack.gatewayUrl}/api/v1/counter/batch-increment`, {
      operations: ids.map((resource_id, i) => ({ resource_id, counter_type: counterType, delta: deltaOf(i) })),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  return new Map(ids.map((id, i) => [id, i + 2]));
}

async function analyticsHolds(stack: Stack, counterType: string, expected: Map<string, number>) {
  return eventually("analytics to hold every shard's events exactly once", async () => {
    const top = await topOf(stack, counterType);
    const same = top.items.length === expected.size && top.items.every((i) => expected.get(i.resource_id) === i.value && i.increment_count === 2);
    return same ? top : undefined;
  });
}

describe("on a Redis Cluster", () => {
  test("a batch over many resources is split by shard: every primary holds counters, each caller gets its exact value", async () => {
    const stack = stackOf();
    const ids = Array.from({ length: 50 }, (_, i) => `spread${i}-${stack.runId}`);
    const operations = ids.flatMap((resource_id) => [
      { resource_id, counter_type: "like", delta: 1 },
      { resource_id, counter_type: "like", delta: 2 },
    ]);
    const r = await http("POST", `${stack.gatewayUrl}/api/v1/counter/batch-increment`, { operations });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(
      r.body.data.results.map((x: { current_value: number }) => x.current_value),
      ids.flatMap(() => [1, 3]),
    );
    const shards = new Set(ids.map((id) => stack.layout.shardOf(id)));
    assert.ok(shards.size >= 6, `50 resources fall in ${shards.size} of 12 shards`);
    const primaries = (stack.redis as Cluster).nodes("master");
    assert.equal(primaries.length, 3);
    const perPrimary = await Promise.all(primaries.map((node) => node.keys(`counter:*:spread*-${stack.runId}:like`)));
    assert.ok(
      perPrimary.every((keys) => keys.length > 0),
      `counters per primary: ${perPrimary.map((keys) => keys.length)}`,
    );
    assert.equal(perPrimary.flat().length, 50);
  });

  test("every shard's events reach analytics once: ranking across shards, pages, counts and stats", async () => {
    const stack = stackOf();
    const type = stack.counterType("shards");
    const expected = await writeSpread(stack, type, "ev", 40);
    const top = await analyticsHolds(stack, type, expected);
    assert.equal(top.total, 40);
    assert.deepEqual(
      top.items.map((i) => i.value),
      [...expected.values()].sort((a, b) => b - a),
      "one ranking merged from the shards, highest first",
    );
    const page3 = await topOf(stack, type, 7, 3);
    assert.deepEqual(
      page3.items.map((i) => [i.rank, i.resource_id]),
      top.items.slice(14, 21).map((i) => [i.rank, i.resource_id]),
    );
    const id = `ev39-${stack.runId}`;
    const stats = await http("GET", `${stack.gatewayUrl}/api/v1/analytics/stats/${id}/${type}?time_range=24h`);
    assert.equal(stats.status, 200);
    assert.equal(stats.body.data.total, 41);
    assert.equal(stats.body.data.increment_count, 2);
    await outboxDrained(stack);
  });

  test("a counter killed with events in hand: after its restart what it held and what it had not read yet, across the shards, is relayed, counted once", async () => {
    const stack = stackOf();
    const type = stack.counterType("killed");
    const expected = await writeSpread(stack, type, "k", 30);
    // The relay reads the shards as their writes land and lingers a second before publishing: for that
    // second some entries are read and held, others (the second request's) wait unread in other shards.
    await eventually("the relay to hold read entries while others wait unread", async () => {
      const [held, lengths] = await Promise.all([outboxPending(stack), Promise.all(outboxKeys(stack).map((key) => stack.redis.xlen(key)))]);
      const unread = lengths.reduce((sum, n) => sum + n, 0) - held;
      const shards = lengths.filter((n) => n > 0).length;
      return held > 0 && unread > 0 && shards > 1 ? { held, unread, shards } : undefined;
    }, 5_000, 20);
    await stack.kill("counter", "SIGKILL");
    await stack.start("counter");
    await analyticsHolds(stack, type, expected);
    await outboxDrained(stack);
  });
});
