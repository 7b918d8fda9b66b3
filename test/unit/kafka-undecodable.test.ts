import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";
import { registerKafkaCodecs } from "../../services/lib/kafka-codecs.js";
import { UNDECODABLE_HEADER } from "../../services/lib/kafka-undecodable.js";

/**
 * Record batches encoded and decoded by kafkajs's own record batch code, as
 * a fetch decodes them, with the project's codecs registered: a batch whose
 * compressed bytes are broken, or whose codec id Kafka does not define,
 * comes out as one stand-in per offset instead of an error.
 */
const require = createRequire(import.meta.url);
const { RecordBatch } = require("kafkajs/src/protocol/recordBatch/v0") as {
  RecordBatch: (batch: object) => Promise<{ buffer: Buffer }>;
};
const encodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0") as (r: object) => object;
const decodeBatch = require("kafkajs/src/protocol/recordBatch/v0/decoder") as (decoder: unknown) => Promise<{
  records: Array<{ offset: string; value: Buffer | null; headers: Record<string, Buffer> }>;
}>;
const Decoder = require("kafkajs/src/protocol/decoder") as new (b: Buffer) => unknown;

registerKafkaCodecs();
const GZIP = 1;
// From the start of an encoded batch (firstOffset, length, then the v2 header) to its
// (compressed) records; the record count is the int32 before them.
const RECORDS_AT = 61;

async function batch(compression: number, values: string[], lastOffsetDelta = values.length - 1): Promise<Buffer> {
  const records = values.map((v, i) => encodeRecord({ offsetDelta: i === values.length - 1 ? lastOffsetDelta : i, key: null, value: Buffer.from(v) }));
  return (await RecordBatch({ compression, records, lastOffsetDelta, firstOffset: "100" })).buffer;
}

// A fetch response has other bytes before a batch, and the decoder reads a view into it.
const decode = async (encoded: Buffer) => {
  const response = Buffer.concat([Buffer.alloc(32, 7), encoded]);
  return decodeBatch(new Decoder(response.subarray(32)));
};

test("a readable gzip batch decodes as it is", async () => {
  const { records } = await decode(await batch(GZIP, ["a", "b", "c"]));
  assert.deepEqual(records.map((r) => [r.offset, String(r.value)]), [["100", "a"], ["101", "b"], ["102", "c"]]);
  assert.ok(records.every((r) => r.headers[UNDECODABLE_HEADER] === undefined));
});

test("a gzip batch with broken bytes becomes one stand-in per offset, the last at the batch's last offset", async () => {
  const encoded = await batch(GZIP, ["a", "b", "c"], 5);
  encoded.fill(0xff, RECORDS_AT, RECORDS_AT + 16);
  const { records } = await decode(encoded);
  assert.deepEqual(records.map((r) => r.offset), ["100", "101", "105"]);
  assert.ok(records.every((r) => String(r.headers[UNDECODABLE_HEADER]).startsWith("gzip: ")), String(records[0]!.headers[UNDECODABLE_HEADER]));
  // The first carries the compressed bytes, for the dead-letter copy.
  assert.equal(records[0]!.value?.length, encoded.length - RECORDS_AT);
  assert.equal(records[1]!.value, null);
});

test("a batch whose codec id Kafka does not define becomes stand-ins", async () => {
  const encoded = await batch(GZIP, ["a", "b"]);
  // Attributes int16 at 21: codec bits 0-2 set to 5.
  encoded.writeInt16BE((encoded.readInt16BE(21) & ~0x07) | 5, 21);
  const { records } = await decode(encoded);
  assert.deepEqual(records.map((r) => [r.offset, String(r.headers[UNDECODABLE_HEADER])]), [["100", "compression codec 5: not defined by Kafka"], ["101", "compression codec 5: not defined by Kafka"]]);
});
