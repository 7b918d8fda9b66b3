import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Kafka, logLevel } from "kafkajs";
import { legacyCountKey, rankKey, sumKey } from "../../services/analytics/buckets.js";
import { createCounterStore, EVENT_COUNTERS, type EventFormat } from "../../services/counter/store.js";
import { BATCH_EVENT_TYPE, EVENT_TYPE_HEADER } from "../../services/lib/counter-events.js";
import { CounterBatchEvent, CounterEvent } from "../../services/lib/gen/highgopress/events/v1/counter_event.js";
import { STANDALONE } from "../../services/lib/redis-shards.js";
import { topOf } from "../support/analytics.js";
import { eventually, http, infra, kafkaBrokers, startStack, type Stack } from "../support/stack.js";

let stack: Stack;
let url: string;
before(async () => {
  stack = await startStack();
  url = stack.gatewayUrl;
});
after(() => stack?.stop());

const increment = (resource_id: string, counter_type: string, delta = 1) =>
  http("POST", `${url}/api/v1/counter/increment`, { resource_id, counter_type, delta });

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(" ").pop()) : 0;
}

describe("events flow from the outbox through Kafka into analytics", () => {
  test("rankings and stats reflect the increments once the events drain", async () => {
    const type = stack.counterType("like");
    const plan: Array<[string, number, number]> = [
      ["r1", 5, 2],
      ["r2", 3, 1],
      ["r3", 1, 1],
    ];
    await Promise.all(plan.flatMap(([r, times, delta]) => Array.from({ length: times }, () => increment(r, type, delta))));
    const top = await eventually("analytics to rank all three resources", async () => {
      const t = await topOf(stack, type);
      return t.items.length === 3 && t.items[0]!.value === 10 ? t : undefined;
    });
    assert.deepEqual(
      top.items.map((i) => [i.rank, i.resource_id, i.value, i.increment_count]),
      [
        [1, "r1", 10, 5],
        [2, "r2", 3, 3],
        [3, "r3", 1, 1],
      ],
    );
    assert.equal(top.total, 3);

    const page2 = await http("GET", `${url}/api/v1/analytics/top?counter_type=${type}&limit=2&page=2&time_range=24h`);
    assert.deepEqual(
      page2.body.data.items.map((i: any) => [i.rank, i.resource_id]),
      [[3, "r3"]],
    );

    const stats = await http("GET", `${url}/api/v1/analytics/stats/r1/${type}?time_range=24h`);
    assert.equal(stats.status, 200);
    const s = stats.body.data;
    assert.equal(s.total, 10);
    assert.equal(s.increment_count, 5);
    assert.equal(s.peak, 10);
    assert.equal(s.series.length, 24);
    // The increments' hour is the last one, or the one before when the hour turned meanwhile.
    assert.equal(s.series.reduce((sum: number, p: { value: number }) => sum + p.value, 0), 10);
    assert.equal(s.trend, "up");
    assert.ok(Math.abs(s.avg_per_hour - 10 / 24) < 1e-9);
    assert.equal(await stack.redis.xlen(stack.env.OUTBOX_STREAM!), 0, "the outbox is empty once relayed");
  });

  test("the outbox holds one entry per counter batch, or one per counter with OUTBOX_EVENT_FORMAT=per-key", async () => {
    const type = stack.counterType("outbox");
    const entries = async (eventFormat: EventFormat, ops: Array<[string, number]>) => {
      const outboxStream = `outbox:test-${stack.runId}-${eventFormat}`;
      const store = createCounterStore({ redis: stack.redis, layout: STANDALONE, outboxStream, eventFormat, idempotencyTtlSeconds: 60 });
      try {
        await store.increment(ops.map(([resourceId, delta]) => ({ resourceId, counterType: type, delta })));
        return (await stack.redis.xrange(outboxStream, "-", "+")).map(([, fields]) => fields);
      } finally {
        await stack.redis.del(outboxStream);
      }
    };
    const batch = await entries("batch", [["a", 1], ["b", 1], ["a", 1]]);
    assert.equal(batch.length, 1);
    assert.deepEqual(batch[0]!.slice(0, 2), ["c", `a ${type} 2 2 2 b ${type} 1 1 1`]);
    const perKey = await entries("per-key", [["a", 1], ["b", 1], ["a", 1]]);
    assert.deepEqual(perKey.map((f) => [f[1], f[5], f[7]]), [["a", "2", "2"], ["b", "1", "1"]]);
    const many = await entries("batch", Array.from({ length: EVENT_COUNTERS + 1 }, (_, i): [string, number] => [`m${i}`, 1]));
    assert.deepEqual(many.map((f) => f[1]!.split(" ").length / 5), [EVENT_COUNTERS, 1], "a batch of more counters than an entry carries is split");
  });

  test("per-key events of an older counter and batch events count alike; a redelivered event never double counts", async () => {
    const type = stack.counterType("replay");
    const perKey = CounterEvent.encode({
      eventId: `replay-${stack.runId}`,
      resourceId: "replayed",
      counterType: type,
      delta: 4,
      incrementCount: 2,
      newValue: "4",
      timestampMs: Date.now(),
    }).finish();
    const batch = CounterBatchEvent.encode({
      eventId: `replay-batch-${stack.runId}`,
      timestampMs: Date.now(),
      counters: [
        { resourceId: "replayed", counterType: type, delta: 3, incrementCount: 3, newValue: "7" },
        { resourceId: "other", counterType: type, delta: 1, incrementCount: 1, newValue: "1" },
      ],
    }).finish();
    const kafka = new Kafka({ clientId: "test-replay", brokers: kafkaBrokers.split(","), logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    const dedupBefore = await metric(stack.ports.analyticsMetrics, "highgopress_analytics_events_deduplicated_total");
    for (let i = 0; i < 3; i++) {
      await producer.send({
        topic: stack.env.KAFKA_TOPIC!,
        messages: [
          { key: "replayed", value: Buffer.from(perKey) },
          { key: "batch", value: Buffer.from(batch), headers: { [EVENT_TYPE_HEADER]: BATCH_EVENT_TYPE } },
        ],
      });
    }
    await producer.disconnect();
    await eventually("analytics to see all three deliveries", async () =>
      (await metric(stack.ports.analyticsMetrics, "highgopress_analytics_events_deduplicated_total")) >= dedupBefore + 4 ? true : undefined,
    );
    const top = await topOf(stack, type);
    assert.deepEqual(
      top.items.map((i) => [i.resource_id, i.value, i.increment_count]),
      [
        ["replayed", 7, 5],
        ["other", 1, 1],
      ],
    );
  });

  test("increment counts an older release kept in sorted sets still count, next to the new hashes", async () => {
    const type = stack.counterType("legacy");
    const hour = Date.now();
    // What a release before per-batch events wrote for 5 increments of +1 and +4.
    await stack.redis
      .multi()
      .zincrby(rankKey(STANDALONE, 0, type, hour), 5, "old")
      .zincrby(legacyCountKey(STANDALONE, 0, type, hour), 2, "old")
      .hincrby(sumKey(STANDALONE, 0, type, hour), "old", 5)
      .exec();
    assert.equal((await increment("old", type, 3)).status, 200);
    const top = await eventually("the new increment in the ranking", async () => {
      const t = await topOf(stack, type);
      return t.items[0]?.value === 8 ? t : undefined;
    });
    assert.deepEqual(
      top.items.map((i) => [i.resource_id, i.value, i.increment_count]),
      [["old", 8, 3]],
    );
    const stats = await http("GET", `${url}/api/v1/analytics/stats/old/${type}?time_range=24h`);
    assert.equal(stats.body.data.total, 8);
    assert.equal(stats.body.data.increment_count, 3);
  });

  test("sums past 2^53 stay exact in the ranking and the stats", async () => {
    const type = stack.counterType("huge");
    // Three events of 4e15 + 1: 12000000000000003 in all, which a double rounds to ...004.
    const events = [1, 2, 3].map((n) =>
      Buffer.from(
        CounterEvent.encode({
          eventId: `huge-${n}-${stack.runId}`,
          resourceId: "huge",
          counterType: type,
          delta: 4_000_000_000_000_001,
          incrementCount: 1,
          newValue: String(4_000_000_000_000_001n * BigInt(n)),
          timestampMs: Date.now(),
        }).finish(),
      ),
    );
    const kafka = new Kafka({ clientId: "test-huge", brokers: kafkaBrokers.split(","), logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: stack.env.KAFKA_TOPIC!, messages: events.map((value) => ({ key: "huge", value })) });
    await producer.disconnect();
    const top = await eventually("the three events in the ranking", async () => {
      const r = await fetch(`${url}/api/v1/analytics/top?counter_type=${type}&limit=10&time_range=24h`).then((res) => res.text());
      return /"increment_count":3/.test(r) ? r : undefined;
    });
    assert.match(top, /"value":12000000000000003[,}]/);
    const stats = await fetch(`${url}/api/v1/analytics/stats/huge/${type}?time_range=24h`).then((res) => res.text());
    assert.match(stats, /"total":12000000000000003[,}]/);
    assert.match(stats, /"peak":12000000000000003[,}]/);
  });

  test("with Kafka stopped, increments succeed; after it returns, analytics catches up with nothing lost", { timeout: 240_000 }, async () => {
    const type = stack.counterType("outage");
    await infra("kafka", "stop");
    let restarted = false;
    try {
      const answers = [];
      for (let round = 0; round < 10; round++) {
        answers.push(...(await Promise.all(Array.from({ length: 20 }, (_, i) => increment(`o${i % 5}`, type, 1 + (i % 3))))));
      }
      assert.ok(answers.every((a) => a.status === 200), "every increment succeeds while Kafka is down");
      assert.ok((await stack.redis.xlen(stack.env.OUTBOX_STREAM!)) > 0, "the outbox holds the events");
      await infra("kafka", "start");
      restarted = true;
    } finally {
      if (!restarted) await infra("kafka", "start");
    }
    const expected = new Map<string, number>();
    for (let i = 0; i < 5; i++) expected.set(`o${i}`, Number(await stack.redis.get(`counter:o${i}:${type}`)));
    assert.equal([...expected.values()].reduce((a, b) => a + b, 0), 10 * (7 * 1 + 7 * 2 + 6 * 3));
    await eventually(
      "analytics totals to equal the Redis values",
      async () => {
        const top = await topOf(stack, type);
        const ok = top.items.length === 5 && top.items.every((i) => i.value === expected.get(i.resource_id));
        return ok ? true : undefined;
      },
      120_000,
      1_000,
    );
    await eventually("the outbox to drain", async () => ((await stack.redis.xlen(stack.env.OUTBOX_STREAM!)) === 0 ? true : undefined), 30_000);
  });
});
