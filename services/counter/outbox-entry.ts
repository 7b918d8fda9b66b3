import type { Message } from "kafkajs";
import { BATCH_EVENT_TYPE, EVENT_TYPE_HEADER } from "../lib/counter-events.js";
import { CounterBatchEvent, CounterEvent, type CounterDelta } from "../lib/gen/highgopress/events/v1/counter_event.js";

/**
 * An outbox stream entry as the increment script (store.ts) writes it, and
 * the Kafka record it becomes, pure. A batch entry (field 'c') becomes one
 * CounterBatchEvent, a per-key entry (field 'r') one CounterEvent; a relay
 * reads both, so entries written before a change of OUTBOX_EVENT_FORMAT are
 * published as what they are.
 */
export type StreamEntry = [id: string, fields: string[]];

function fieldMap(fields: readonly string[]): Record<string, string> {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return f;
}

/** The traceparent an outbox entry was written under (the counter's Redis script span), if any. */
export function entryTraceparent(fields: readonly string[]): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === "tp") return fields[i + 1] || undefined;
  return undefined;
}

/** "resource type delta count value" per counter, as the script joins them. */
export function parseBatchCounters(packed: string): CounterDelta[] {
  const parts = packed.split(" ");
  const counters: CounterDelta[] = new Array(Math.floor(parts.length / 5));
  for (let i = 0, k = 0; k < counters.length; i += 5, k++) {
    counters[k] = {
      resourceId: parts[i]!,
      counterType: parts[i + 1]!,
      delta: Number(parts[i + 2]),
      incrementCount: Number(parts[i + 3]),
      newValue: parts[i + 4]!,
    };
  }
  return counters;
}

/** The inverse of parseBatchCounters: a batch entry's field 'c'. */
export const packBatchCounters = (counters: readonly CounterDelta[]): string =>
  counters.map((c) => `${c.resourceId} ${c.counterType} ${c.delta} ${c.incrementCount} ${c.newValue}`).join(" ");

const bufferOf = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * The record of an entry whose event id is `id`, or the id the entry carries
 * in field 'id' (an entry moved from another Redis by the cluster migration
 * keeps its event's id, so analytics still recognises it).
 */
export function toKafkaMessage(entryEventId: string, fields: readonly string[]): Message {
  const f = fieldMap(fields);
  const id = f.id ?? entryEventId;
  if (f.c !== undefined) {
    const event = CounterBatchEvent.encode({ eventId: id, timestampMs: Number(f.ts ?? 0), counters: parseBatchCounters(f.c) }).finish();
    const headers: Message["headers"] = { [EVENT_TYPE_HEADER]: BATCH_EVENT_TYPE };
    if (f.tp) headers.traceparent = f.tp;
    // Keyed by the event: a batch spreads over the partitions; analytics' sums do not depend on order.
    return { key: id, value: bufferOf(event), headers };
  }
  const event = CounterEvent.encode({
    eventId: id,
    resourceId: f.r ?? "",
    counterType: f.t ?? "",
    delta: Number(f.d ?? 0),
    incrementCount: Number(f.n ?? 0),
    newValue: f.v ?? "0",
    timestampMs: Number(f.ts ?? 0),
  }).finish();
  return { key: f.r ?? "", value: bufferOf(event), headers: f.tp ? { traceparent: f.tp } : undefined };
}

/**
 * Consecutive runs of messages of at most maxBytes of values each (a single
 * larger message is a run of its own): one produce request per run stays
 * below the broker's record batch limit (message.max.bytes, 1 MiB by default).
 */
export function byteRuns(messages: readonly Message[], maxBytes: number): Message[][] {
  const runs: Message[][] = [];
  let run: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = (m.value as Buffer | null)?.length ?? 0;
    if (run.length > 0 && bytes + size > maxBytes) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(m);
    bytes += size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}
