import assert from "node:assert/strict";
import { test } from "node:test";
import type { Message } from "kafkajs";
import { decodeEvent } from "../../services/analytics/consumer.js";
import { byteRuns, packBatchCounters, parseBatchCounters, toKafkaMessage } from "../../services/counter/outbox-entry.js";
import { BATCH_EVENT_TYPE, EVENT_TYPE_HEADER } from "../../services/lib/counter-events.js";
import { CounterBatchEvent, CounterEvent } from "../../services/lib/gen/highgopress/events/v1/counter_event.js";

const header = (m: Message) => m.headers?.[EVENT_TYPE_HEADER] as string | undefined;

test("a batch outbox entry becomes one batch event, keyed by its id, that analytics reads back counter by counter", () => {
  const fields = ["c", "a like 3 2 10 b like -1 1 9223372036854770007", "ts", "1700000000000", "tp", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"];
  const message = toKafkaMessage("1700000000000-3", fields);
  assert.equal(message.key, "1700000000000-3");
  assert.equal(header(message), BATCH_EVENT_TYPE);
  assert.equal(message.headers?.traceparent, fields[5]);
  const event = decodeEvent(message.value as Buffer, header(message));
  assert.deepEqual(event, {
    eventId: "1700000000000-3",
    timestampMs: 1700000000000,
    counters: [
      { resourceId: "a", counterType: "like", delta: 3, incrementCount: 2, newValue: "10" },
      { resourceId: "b", counterType: "like", delta: -1, incrementCount: 1, newValue: "9223372036854770007" },
    ],
  });
});

test("an entry moved from another Redis keeps its event id; its counters pack and parse back unchanged", () => {
  const counters = [
    { resourceId: "a", counterType: "like", delta: 3, incrementCount: 2, newValue: "10" },
    { resourceId: "b", counterType: "view", delta: -1, incrementCount: 1, newValue: "9223372036854770007" },
  ];
  assert.deepEqual(parseBatchCounters(packBatchCounters(counters)), counters);
  const message = toKafkaMessage("s4.2/1800000000000-0", ["c", packBatchCounters(counters), "ts", "1700000000000", "id", "1700000000000-3"]);
  assert.equal(message.key, "1700000000000-3");
  assert.equal((decodeEvent(message.value as Buffer, header(message)) as CounterBatchEvent).eventId, "1700000000000-3");
});

test("a per-key outbox entry (written before the format changed) stays a per-key event keyed by its resource", () => {
  const message = toKafkaMessage("1-0", ["r", "big", "t", "like", "d", "7", "n", "2", "v", "9223372036854770007", "ts", "1700000000000"]);
  assert.equal(message.key, "big");
  assert.equal(message.headers, undefined);
  assert.equal(CounterEvent.decode(message.value as Buffer).newValue, "9223372036854770007");
  assert.deepEqual(decodeEvent(message.value as Buffer), {
    eventId: "1-0",
    timestampMs: 1700000000000,
    counters: [{ resourceId: "big", counterType: "like", delta: 7, incrementCount: 2, newValue: "9223372036854770007" }],
  });
});

test("analytics refuses batch events that are not whole, and event types it does not know", () => {
  const encode = (e: Partial<CounterBatchEvent>) => Buffer.from(CounterBatchEvent.encode(CounterBatchEvent.fromPartial(e)).finish());
  const counter = { resourceId: "a", counterType: "like", delta: 1, incrementCount: 1, newValue: "1" };
  const whole = { eventId: "1-0", timestampMs: 1, counters: [counter] };
  assert.notEqual(typeof decodeEvent(encode(whole), BATCH_EVENT_TYPE), "string");
  assert.equal(decodeEvent(encode({ ...whole, counters: [] }), BATCH_EVENT_TYPE), "not_counter_event");
  assert.equal(decodeEvent(encode({ ...whole, eventId: "" }), BATCH_EVENT_TYPE), "not_counter_event");
  assert.equal(decodeEvent(encode({ ...whole, counters: [{ ...counter, resourceId: "a b" }] }), BATCH_EVENT_TYPE), "not_counter_event");
  assert.equal(decodeEvent(encode({ ...whole, counters: [{ ...counter, incrementCount: 0 }] }), BATCH_EVENT_TYPE), "not_counter_event");
  assert.equal(decodeEvent(encode(whole), "counter-batch.v2"), "not_counter_event");
  // Read without its header (e.g. by a consumer that ignores headers), a batch event is no per-key event either.
  assert.equal(decodeEvent(encode(whole)), "not_counter_event");
  assert.equal(decodeEvent(Buffer.alloc(0), BATCH_EVENT_TYPE), "empty");
});

test("the packed counters of a batch entry split five fields at a time", () => {
  assert.deepEqual(parseBatchCounters("x.1 view 5 5 -12"), [{ resourceId: "x.1", counterType: "view", delta: 5, incrementCount: 5, newValue: "-12" }]);
});

test("messages go out in runs of at most the byte budget; a larger one alone", () => {
  const m = (n: number): Message => ({ value: Buffer.alloc(n) });
  const sizes = (runs: Message[][]) => runs.map((r) => r.map((x) => (x.value as Buffer).length));
  assert.deepEqual(sizes(byteRuns([m(4), m(4), m(4), m(9), m(1)], 8)), [[4, 4], [4], [9], [1]]);
  assert.deepEqual(byteRuns([], 8), []);
});
