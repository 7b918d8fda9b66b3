import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from "kafkajs";
import { BATCH_EVENT_TYPE, EVENT_TYPE_HEADER } from "../lib/counter-events.js";
import { CounterBatchEvent, CounterEvent } from "../lib/gen/highgopress/events/v1/counter_event.js";
import { ensureTopic, sleep } from "../lib/kafka.js";
import { UNDECODABLE_HEADER } from "../lib/kafka-undecodable.js";
import { BACKOFF, backoffMs } from "../lib/retry.js";
import { isValidId } from "../lib/validation.js";
import type { Logger } from "../lib/logger.js";
import { untimed, type RedisMetrics } from "../lib/redis-metrics.js";
import { batchParent, context, endSpan, getTracer, parseTraceparent, SpanKind, trace, tracingEnabled, type Span } from "../lib/telemetry.js";
import type { EventApplier } from "./apply.js";

export interface EventConsumerOptions {
  kafka: Kafka;
  topic: string;
  partitions: number;
  groupId: string;
  /**
   * A consumer that stops heartbeating (killed) holds its partitions this
   * long before the group gives them to a live member (kafkajs default 30 s).
   */
  sessionTimeoutMs?: number;
  applier: EventApplier;
  /** Counters (and at most as many messages) per Redis script call. */
  chunkSize: number;
  logger: Logger;
  onApplied?: (applied: number, duplicates: number) => void;
  onLag?: (partition: number, lag: number) => void;
  /** Per applied event: seconds from the increment (event timestamp) to its application here. */
  onEventDelay?: (seconds: number) => void;
  /** Latency of the apply script calls (and their spans when traced). */
  redisMetrics?: RedisMetrics;
  /** Where messages that are not counter events are copied before they are skipped (default `<topic>.dlq`). */
  deadLetterTopic?: string;
  onUndecodable?: (reason: UndecodableReason, count: number) => void;
}

/**
 * Why a message was skipped: no value at all, bytes that are not a
 * CounterEvent, or a place in a record batch that could not be read at all
 * (lib/kafka-undecodable.ts).
 */
export const UNDECODABLE_REASONS = ["empty", "not_counter_event", "undecodable_batch"] as const;
export type UndecodableReason = (typeof UNDECODABLE_REASONS)[number];

interface Rejected {
  message: KafkaMessage;
  reason: UndecodableReason;
}

const validCounter = (c: { resourceId: string; counterType: string; incrementCount: number }) =>
  isValidId(c.resourceId) && isValidId(c.counterType) && c.incrementCount >= 1;

/**
 * A counter event as one batch event (a per-key CounterEvent is a batch of
 * one counter), or why the message is not one. Protobuf decodes many
 * foreign payloads without an error (a JSON object can read as unknown
 * fields), so a decoded event must also carry what every real one has.
 */
export function decodeEvent(value: Buffer | null, eventType?: string): CounterBatchEvent | UndecodableReason {
  if (!value || value.length === 0) return "empty";
  if (eventType !== undefined && eventType !== BATCH_EVENT_TYPE) return "not_counter_event";
  try {
    if (eventType === BATCH_EVENT_TYPE) {
      const batch = CounterBatchEvent.decode(value);
      const valid = batch.eventId !== "" && batch.timestampMs > 0 && batch.counters.length > 0 && batch.counters.every(validCounter);
      return valid ? batch : "not_counter_event";
    }
    const { eventId, timestampMs, resourceId, counterType, delta, incrementCount, newValue } = CounterEvent.decode(value);
    if (eventId === "" || timestampMs <= 0 || !validCounter({ resourceId, counterType, incrementCount })) return "not_counter_event";
    return { eventId, timestampMs, counters: [{ resourceId, counterType, delta, incrementCount, newValue }] };
  } catch {
    return "not_counter_event";
  }
}

function headerString(message: KafkaMessage, name: string): string | undefined {
  const header = message.headers?.[name];
  return header === undefined ? undefined : String(Array.isArray(header) ? header[0] : header);
}

/** A counter event, or why the message is not one (including a stand-in for an unreadable batch). */
function classify(message: KafkaMessage): CounterBatchEvent | UndecodableReason {
  if (message.headers?.[UNDECODABLE_HEADER] !== undefined) return "undecodable_batch";
  return decodeEvent(message.value, headerString(message, EVENT_TYPE_HEADER));
}

/** What the guarded codec said about an unreadable batch, for the log line. */
const batchError = (message: KafkaMessage) => headerString(message, UNDECODABLE_HEADER);

interface OffsetRange {
  reason: UndecodableReason;
  from: string;
  to: string;
  count: number;
  /** For an unreadable batch, what its codec said. */
  error?: string;
}

/** Consecutive offsets with the same reason, so a run of foreign messages is one log line. */
function offsetRanges(rejected: readonly Rejected[]): OffsetRange[] {
  const ranges: OffsetRange[] = [];
  for (const { message, reason } of rejected) {
    const last = ranges.at(-1);
    const error = batchError(message);
    if (last && last.reason === reason && last.error === error && BigInt(last.to) + 1n === BigInt(message.offset)) {
      last.to = message.offset;
      last.count++;
    } else {
      ranges.push({ reason, from: message.offset, to: message.offset, count: 1, ...(error === undefined ? {} : { error }) });
    }
  }
  return ranges;
}

/** The sampled trace context a message carries in its traceparent header, if any. */
function messageTrace(message: KafkaMessage) {
  const header = headerString(message, "traceparent");
  return header === undefined ? undefined : parseTraceparent(header);
}

/**
 * A CONSUMER span for a chunk of messages of which some are traced: child of
 * the first traced message's context (the relay's publish span), linked to
 * the others.
 */
function traceChunk(chunk: KafkaMessage[], topic: string, partition: number): Span | undefined {
  if (!tracingEnabled()) return undefined;
  const traced = batchParent(chunk, messageTrace);
  if (!traced) return undefined;
  return getTracer().startSpan(
    `process ${topic}`,
    {
      kind: SpanKind.CONSUMER,
      links: traced.links,
      attributes: {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": topic,
        "messaging.destination.partition.id": String(partition),
        "messaging.batch.message_count": chunk.length,
      },
    },
    traced.parent,
  );
}

export interface EventConsumer {
  start(): void;
  stop(): Promise<void>;
  isRunning(): boolean;
}

/**
 * Consumes counter-events in a consumer group with eachBatch. Offsets are
 * resolved only after the events are applied, so a crash re-delivers and the
 * applier's dedup makes that harmless. A consumer that crashes for good
 * (broker gone longer than kafkajs retries) is rebuilt.
 */
export function createEventConsumer(options: EventConsumerOptions): EventConsumer {
  const { kafka, topic, logger } = options;
  let consumer: Consumer | undefined;
  let running = false;
  let stopping = false;
  let supervisor: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  const timeApply = options.redisMetrics?.command("hgp_apply_events", "EVALSHA hgpApplyEvents") ?? untimed;
  const deadLetterTopic = options.deadLetterTopic ?? `${topic}.dlq`;
  let deadLetters: Producer | undefined;
  /** Set when a batch was handled since the consumer (re)started: a crash without progress backs off. */
  let progressed = false;

  /**
   * Copies skipped messages to the dead-letter topic with where they came
   * from; throws if Kafka refuses, so the batch is retried rather than the
   * messages lost (a retry may copy some twice).
   */
  async function deadLetter(rejected: readonly Rejected[], partition: number): Promise<void> {
    // An unreadable batch has its bytes on its first stand-in only; the others have nothing to copy.
    const copies = rejected.filter(({ message, reason }) => reason !== "undecodable_batch" || message.value !== null);
    if (copies.length === 0) return;
    if (!deadLetters) {
      await ensureTopic(kafka, deadLetterTopic, 1);
      const producer = kafka.producer({ allowAutoTopicCreation: false });
      await producer.connect();
      deadLetters = producer;
    }
    await deadLetters.send({
      topic: deadLetterTopic,
      acks: -1,
      messages: copies.map(({ message, reason }) => ({
        key: message.key,
        value: message.value,
        headers: {
          ...message.headers,
          "highgopress-source": `${topic}/${partition}/${message.offset}`,
          "highgopress-reason": reason,
        },
      })),
    });
  }

  async function handleBatch({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }: EachBatchPayload) {
    const messages = batch.messages;
    for (let i = 0; i < messages.length && isRunning() && !isStale(); ) {
      const chunk: KafkaMessage[] = [];
      const events: CounterBatchEvent[] = [];
      const rejected: Rejected[] = [];
      for (let counters = 0; i < messages.length && counters < options.chunkSize && chunk.length < options.chunkSize; ) {
        const message = messages[i++]!;
        chunk.push(message);
        const decoded = classify(message);
        if (typeof decoded === "string") {
          rejected.push({ message, reason: decoded });
        } else {
          events.push(decoded);
          counters += decoded.counters.length;
        }
      }
      const span = traceChunk(chunk, batch.topic, batch.partition);
      const apply = () => timeApply.time(() => options.applier.apply(events), { "highgopress.events": events.length });
      let applied: number;
      try {
        applied = span ? await context.with(trace.setSpan(context.active(), span), apply) : await apply();
      } catch (err) {
        endSpan(span, err);
        throw err;
      }
      span?.setAttributes({ "highgopress.events.applied": applied, "highgopress.events.duplicates": events.length - applied });
      endSpan(span);
      options.onApplied?.(applied, events.length - applied);
      if (rejected.length > 0) {
        await deadLetter(rejected, batch.partition);
        for (const range of offsetRanges(rejected)) {
          logger.error({ topic: batch.topic, partition: batch.partition, ...range, deadLetterTopic }, "skipped messages that are not counter events");
          options.onUndecodable?.(range.reason, range.count);
        }
      }
      if (options.onEventDelay) {
        const now = Date.now();
        for (const e of events) options.onEventDelay(Math.max(0, (now - e.timestampMs) / 1000));
      }
      resolveOffset(chunk[chunk.length - 1]!.offset);
      progressed = true;
      await heartbeat();
    }
    await commitOffsetsIfNecessary();
    options.onLag?.(batch.partition, Number(batch.offsetLag()));
  }

  async function runOnce(): Promise<void> {
    const sessionTimeout = options.sessionTimeoutMs ?? 30_000;
    consumer = kafka.consumer({
      groupId: options.groupId,
      allowAutoTopicCreation: false,
      retry: { retries: 5 },
      sessionTimeout,
      heartbeatInterval: Math.max(500, Math.floor(sessionTimeout / 10)),
      // Each fetch waits up to 100 ms for 16 KB (~150 events): under load batches are the same, at
      // low load the broker answers ten fetches a second instead of one per event.
      minBytes: 16 * 1024,
      maxWaitTimeInMs: 100,
    });
    const crashed = new Promise<void>((resolve) => {
      consumer!.on(consumer!.events.CRASH, (e) => {
        logger.warn({ err: e.payload.error.message, restart: e.payload.restart }, "kafka consumer crashed");
        if (!e.payload.restart) resolve();
      });
      wake = resolve;
    });
    await consumer.connect();
    await ensureTopic(kafka, topic, options.partitions);
    await consumer.subscribe({ topic, fromBeginning: true });
    // Offsets are committed at most once a second (a crash re-delivers what was applied since; dedup makes that harmless).
    await consumer.run({ eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1, autoCommitInterval: 1_000, eachBatch: handleBatch });
    running = true;
    logger.info({ topic, groupId: options.groupId }, "analytics consuming");
    await crashed;
    running = false;
    await consumer.disconnect().catch(() => undefined);
    await deadLetters?.disconnect().catch(() => undefined);
    deadLetters = undefined;
  }

  async function supervise(): Promise<void> {
    for (let attempt = 0; !stopping; attempt++) {
      try {
        progressed = false;
        await runOnce();
        // A consumer that crashes again before handling a batch must not spin: only progress resets the backoff.
        if (!stopping && progressed) attempt = 0;
      } catch (err) {
        running = false;
        await consumer?.disconnect().catch(() => undefined);
        if (attempt === 0 || attempt % 20 === 0) logger.warn({ err: (err as Error).message }, "kafka consumer not running; retrying");
      }
      if (!stopping) await sleep(backoffMs(attempt + 1, BACKOFF.kafkaConsume));
    }
  }

  return {
    start() {
      supervisor ??= supervise();
    },
    async stop() {
      stopping = true;
      wake?.();
      await supervisor;
    },
    isRunning: () => running,
  };
}
