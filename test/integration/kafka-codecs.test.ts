/**
 * Kafka compression and foreign messages, on the real broker: a topic whose
 * broker setting `compression.type` is gzip, snappy, lz4 or zstd (the broker
 * recompresses whatever the relay sends), and the relay producing with each
 * codec, carry every increment into analytics exactly once; garbage and JSON
 * from another producer mixed among the events are counted, copied to the
 * dead-letter topic and skipped, every valid event is applied and the lag
 * returns to 0.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { CompressionTypes, Kafka, logLevel } from "kafkajs";
import { scrape } from "../faults/support/load.js";
import { analyticsEquals, writeSome } from "../support/analytics.js";
import { eventually, http, kafkaBrokers, runDir, startStack } from "../support/stack.js";

const admin = () => new Kafka({ clientId: "test-codecs", brokers: kafkaBrokers.split(","), logLevel: logLevel.NOTHING }).admin();

async function createTopic(topic: string, compression?: string, numPartitions = 3): Promise<void> {
  const a = admin();
  await a.connect();
  try {
    await a.createTopics({
      topics: [{ topic, numPartitions, configEntries: compression ? [{ name: "compression.type", value: compression }] : [] }],
      waitForLeaders: true,
    });
  } finally {
    await a.disconnect();
  }
}

describe("every Kafka codec reaches analytics", () => {
  const cases: Array<{ name: string; topicCompression?: string; producer: string }> = [
    { name: "broker compression.type=gzip", topicCompression: "gzip", producer: "none" },
    { name: "broker compression.type=snappy", topicCompression: "snappy", producer: "none" },
    { name: "broker compression.type=lz4", topicCompression: "lz4", producer: "none" },
    { name: "broker compression.type=zstd", topicCompression: "zstd", producer: "none" },
    { name: "relay KAFKA_COMPRESSION=lz4", producer: "lz4" },
    { name: "relay KAFKA_COMPRESSION=zstd", producer: "zstd" },
  ];
  for (const c of cases) {
    test(`${c.name}: every increment in analytics exactly once`, async () => {
      const topic = `counter-events-codec-${randomBytes(4).toString("hex")}`;
      await createTopic(topic, c.topicCompression);
      const stack = await startStack({ env: { KAFKA_TOPIC: topic, KAFKA_COMPRESSION: c.producer } });
      try {
        const type = stack.counterType("codec");
        await analyticsEquals(stack, type, await writeSome(stack, type));
        const skipped = await scrape(`http://127.0.0.1:${stack.ports.analyticsMetrics}/metrics`, "highgopress_analytics_undecodable_total", true);
        assert.equal(skipped, 0);
      } finally {
        await stack.stop();
      }
    });
  }
});

/** highgopress_analytics_undecodable_total for one reason, from a /metrics text (-1 when absent). */
function undecodable(metrics: string, reason: string): number {
  return Number(new RegExp(`highgopress_analytics_undecodable_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? -1);
}

interface DeadLetter {
  key: string;
  reason: string;
  source: string;
  bytes: number;
}

/** The copies on `<topic>.dlq`, read from the beginning until at least `atLeast` arrived. */
async function deadLetters(kafka: Kafka, topic: string, groupId: string, atLeast: number): Promise<DeadLetter[]> {
  const copies: DeadLetter[] = [];
  const consumer = kafka.consumer({ groupId });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: `${topic}.dlq`, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const header = (name: string) => String(message.headers?.[name]);
        copies.push({ key: String(message.key), reason: header("highgopress-reason"), source: header("highgopress-source"), bytes: message.value?.length ?? 0 });
      },
    });
    await eventually("the dead-letter copies", () => (copies.length >= atLeast ? true : undefined), 30_000);
  } finally {
    await consumer.disconnect();
  }
  return copies;
}

/**
 * Breaks the compressed payload of the first record batch of a partition in
 * the test broker's own log segment (the broker serves fetches from the file
 * as it is, without checking the batch's CRC): the consumer then receives a
 * batch that no codec can read. Returns the batch's record count.
 */
function corruptFirstBatch(topic: string, partition: number): number {
  const segment = join(runDir, "kafka/data", `${topic}-${partition}`, "00000000000000000000.log");
  const fd = openSync(segment, "r+");
  try {
    // RecordBatch v2: baseOffset int64, length int32, epoch int32, magic int8, crc int32,
    // attributes int16, ..., recordCount int32 at 57, records at 61.
    const header = Buffer.alloc(61);
    assert.equal(readSync(fd, header, 0, 61, 0), 61);
    assert.equal(header.readInt8(16), 2, "a v2 record batch");
    assert.equal(header.readInt16BE(21) & 0x07, CompressionTypes.GZIP, "gzip-compressed");
    writeSync(fd, Buffer.alloc(16, 0xff), 0, 16, 61);
    return header.readInt32BE(57);
  } finally {
    closeSync(fd);
  }
}

describe("a record batch that cannot be read", () => {
  test("its offsets are counted and skipped, its bytes dead-lettered, and the events after it applied", async () => {
    const topic = `counter-events-corrupt-${randomBytes(4).toString("hex")}`;
    await createTopic(topic, undefined, 1);
    const kafka = new Kafka({ clientId: "test-corrupt", brokers: kafkaBrokers.split(","), logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, compression: CompressionTypes.GZIP, messages: Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: randomBytes(64) })) });
    await producer.disconnect();
    assert.equal(corruptFirstBatch(topic, 0), 5);

    const stack = await startStack({ env: { KAFKA_TOPIC: topic } });
    try {
      // One partition: every event comes after the broken batch, so none is applied unless the consumer moves past it.
      const type = stack.counterType("corrupt");
      await analyticsEquals(stack, type, await writeSome(stack, type));
      const metrics = `http://127.0.0.1:${stack.ports.analyticsMetrics}/metrics`;
      assert.equal(undecodable(await (await fetch(metrics)).text(), "undecodable_batch"), 5);
      await eventually("the consumer lag to return to 0", async () => ((await scrape(metrics, "highgopress_analytics_consumer_lag_messages", true)) === 0 ? true : undefined));

      const copies = await deadLetters(kafka, topic, `test-dlq-${stack.runId}`, 1);
      // One copy, of the batch's compressed bytes, from its first offset.
      assert.equal(copies.length, 1, JSON.stringify(copies));
      assert.equal(copies[0]!.reason, "undecodable_batch");
      assert.equal(copies[0]!.source, `${topic}/0/0`);
      assert.ok(copies[0]!.bytes > 16, JSON.stringify(copies));
    } finally {
      await stack.stop();
      const a = admin();
      await a.connect();
      await a.deleteTopics({ topics: [topic, `${topic}.dlq`] }).catch(() => undefined);
      await a.disconnect();
    }
  });
});

describe("messages that are not counter events", () => {
  test("garbage and foreign JSON among the events: counted, dead-lettered, skipped; every event applied, lag back to 0", async () => {
    const stack = await startStack();
    try {
      const topic = stack.env.KAFKA_TOPIC!;
      const type = stack.counterType("mixed");
      const kafka = new Kafka({ clientId: "test-foreign", brokers: kafkaBrokers.split(","), logLevel: logLevel.NOTHING });
      const producer = kafka.producer();
      await producer.connect();
      const foreign = [
        ...Array.from({ length: 5 }, (_, i) => ({ key: `g${i}`, value: randomBytes(40 + i) })),
        ...Array.from({ length: 5 }, (_, i) => ({ key: `j${i}`, value: Buffer.from(JSON.stringify({ resource_id: `r${i}`, counter_type: type, delta: 1 })) })),
        { key: "empty", value: Buffer.alloc(0) },
      ];
      // Foreign messages before, between and after the relay's events, on every partition.
      await producer.send({ topic, messages: foreign.slice(0, 4) });
      const first = writeSome(stack, type);
      await producer.send({ topic, messages: foreign.slice(4, 8) });
      const expected = await first;
      await producer.send({ topic, messages: foreign.slice(8) });
      await producer.disconnect();

      await analyticsEquals(stack, type, expected);
      const metrics = `http://127.0.0.1:${stack.ports.analyticsMetrics}/metrics`;
      await eventually("every foreign message to be counted", async () => {
        const text = await (await fetch(metrics)).text();
        return undecodable(text, "not_counter_event") === 10 && undecodable(text, "empty") === 1 ? true : undefined;
      });

      const copies = await deadLetters(kafka, topic, `test-dlq-${stack.runId}`, foreign.length);
      assert.deepEqual(copies.map((c) => c.key).sort(), foreign.map((f) => f.key).sort());
      assert.ok(copies.every((c) => c.source.startsWith(`${topic}/`)), copies.map((c) => c.source).join(", "));
      assert.equal(copies.find((c) => c.key === "empty")?.reason, "empty");

      await eventually("the consumer lag to return to 0", async () => ((await scrape(metrics, "highgopress_analytics_consumer_lag_messages", true)) === 0 ? true : undefined));
      const topicAdmin = admin();
      await topicAdmin.connect();
      await topicAdmin.deleteTopics({ topics: [`${topic}.dlq`] }).catch(() => undefined);
      await topicAdmin.disconnect();
    } finally {
      await stack.stop();
    }
  });
});
