import { hostname } from "node:os";
import type { CompressionTypes, Kafka, Message } from "kafkajs";
import { ensureTopic, sleep } from "../lib/kafka.js";
import { BACKOFF, backoffMs } from "../lib/retry.js";
import type { Logger } from "../lib/logger.js";
import type { Redis } from "../lib/redis.js";
import { untimed, type RedisMetrics } from "../lib/redis-metrics.js";
import { batchParent, endSpan, formatTraceparent, getTracer, parseTraceparent, SpanKind, tracingEnabled, type Span } from "../lib/telemetry.js";
import { byteRuns, entryTraceparent, toKafkaMessage, type StreamEntry } from "./outbox-entry.js";

/** Values per produce request; far below the broker's 1 MiB record batch limit. */
const PRODUCE_BYTES = 512 * 1024;

/**
 * Moves outbox entries (written atomically with the increments) to Kafka.
 * Entries are read through a Redis consumer group so several counter pods
 * share the work; an entry is acknowledged and deleted only after Kafka
 * acknowledged it (acks=all, idempotent producer). What a crashed relay had
 * in hand stays pending and is re-read on restart, or claimed by another pod
 * once idle. Redelivery is safe: the event id is the stream entry id.
 */
export interface OutboxRelayOptions {
  /** A dedicated connection: XREADGROUP BLOCK holds it. */
  redis: Redis;
  kafka: Kafka;
  stream: string;
  topic: string;
  partitions: number;
  group: string;
  consumer?: string;
  batchSize: number;
  /** Codec of the produced batches (KAFKA_COMPRESSION); every consumer of the topic must read it. */
  compression?: CompressionTypes;
  blockMs: number;
  /**
   * After a read that found fewer than batchSize new entries, wait this long
   * and read again before publishing: at low load the relay then sends a few
   * entries per Kafka request instead of one (each produce with acks=all costs
   * the broker far more than the entries in it). 0 publishes at once.
   */
  lingerMs?: number;
  claimIdleMs: number;
  logger: Logger;
  onPublished?: (events: number, ms: number) => void;
  onFailed?: (events: number) => void;
  /** Latency of the acknowledge (XACK + XDEL) calls. */
  redisMetrics?: RedisMetrics;
}

export interface OutboxRelay {
  start(): void;
  /** Stops after the batch in hand is published (or left pending). */
  stop(): Promise<void>;
}

/** Entries in the outbox and the age of the oldest, for metrics and alerts. */
export async function outboxBacklog(redis: Redis, stream: string): Promise<{ length: number; oldestAgeSeconds: number }> {
  const [length, first] = await Promise.all([redis.xlen(stream), redis.xrange(stream, "-", "+", "COUNT", 1)]);
  const oldestId = first[0]?.[0];
  const oldestMs = oldestId ? Number(oldestId.split("-")[0]) : Date.now();
  return { length, oldestAgeSeconds: Math.max(0, (Date.now() - oldestMs) / 1000) };
}

/**
 * A PRODUCER span for a traced publish: child of the first traced entry's
 * context, linked to the other traced counter batches. The entries of one
 * counter batch share its traceparent; one message per counter batch keeps
 * it as a header (the one of the parent's batch gets the publish span's
 * context, so analytics continues below it), the others drop it: the
 * consumer links each traced batch once instead of parsing every message.
 */
function tracePublish(entries: StreamEntry[], messages: Message[], topic: string): Span | undefined {
  if (!tracingEnabled()) return undefined;
  let lastTp: string | undefined;
  let lastContext: ReturnType<typeof parseTraceparent>;
  const traced = batchParent(entries, ([, fields]) => {
    const tp = entryTraceparent(fields);
    if (tp !== lastTp) {
      lastTp = tp;
      lastContext = parseTraceparent(tp);
    }
    return lastContext;
  });
  if (!traced) return undefined;
  const span = getTracer().startSpan(
    `publish ${topic}`,
    {
      kind: SpanKind.PRODUCER,
      links: traced.links,
      attributes: {
        "messaging.system": "kafka",
        "messaging.operation.type": "send",
        "messaging.destination.name": topic,
        "messaging.batch.message_count": messages.length,
      },
    },
    traced.parent,
  );
  const own = formatTraceparent(span.spanContext());
  const prefix = `00-${span.spanContext().traceId}-`;
  const seen = new Set<string>();
  for (const m of messages) {
    const tp = m.headers?.traceparent;
    if (typeof tp !== "string") continue;
    if (seen.has(tp)) {
      delete m.headers!.traceparent;
      continue;
    }
    seen.add(tp);
    if (tp.startsWith(prefix)) m.headers!.traceparent = own;
  }
  return span;
}

export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { redis, kafka, stream, group, batchSize, logger } = options;
  const consumer = options.consumer ?? hostname();
  const timeAck = options.redisMetrics?.command("xack_xdel", "MULTI XACK XDEL") ?? untimed;
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  let stopping = false;
  let loop: Promise<void> | undefined;
  let producerReady = false;
  let lastClaim = 0;

  async function ensureGroup(): Promise<void> {
    try {
      await redis.xgroup("CREATE", stream, group, "0", "MKSTREAM");
    } catch (err) {
      if (!String((err as Error).message).includes("BUSYGROUP")) throw err;
    }
  }

  async function read(ownPending: boolean): Promise<StreamEntry[]> {
    if (Date.now() - lastClaim > options.claimIdleMs / 2) {
      lastClaim = Date.now();
      const claimed = (await redis.xautoclaim(stream, group, consumer, options.claimIdleMs, "0-0", "COUNT", batchSize)) as [
        string,
        StreamEntry[],
      ];
      const entries = claimed[1].filter((e) => Array.isArray(e[1]));
      if (entries.length > 0) return entries;
    }
    const reply = ownPending
      ? await redis.xreadgroup("GROUP", group, consumer, "COUNT", batchSize, "STREAMS", stream, "0")
      : await redis.xreadgroup("GROUP", group, consumer, "COUNT", batchSize, "BLOCK", options.blockMs, "STREAMS", stream, ">");
    const entries = (reply as [string, StreamEntry[]][] | null)?.[0]?.[1] ?? [];
    // Pending entries already deleted by another relay come back with no fields.
    return entries.filter((e) => Array.isArray(e[1]));
  }

  /** New entries that arrived meanwhile, without blocking. */
  async function readMore(count: number): Promise<StreamEntry[]> {
    const reply = await redis.xreadgroup("GROUP", group, consumer, "COUNT", count, "STREAMS", stream, ">");
    const entries = (reply as [string, StreamEntry[]][] | null)?.[0]?.[1] ?? [];
    return entries.filter((e) => Array.isArray(e[1]));
  }

  async function publish(entries: StreamEntry[]): Promise<void> {
    const messages = entries.map(([id, f]) => toKafkaMessage(id, f));
    const span = tracePublish(entries, messages, options.topic);
    let sendMs = 0;
    // A run Kafka acknowledged is not sent again when a later one fails.
    for (const run of byteRuns(messages, PRODUCE_BYTES)) {
      for (let attempt = 0; ; attempt++) {
        try {
          if (!producerReady) {
            await producer.connect();
            await ensureTopic(kafka, options.topic, options.partitions);
            producerReady = true;
            logger.info({ topic: options.topic }, "outbox relay connected to kafka");
          }
          const started = performance.now();
          await producer.send({ topic: options.topic, acks: -1, compression: options.compression, messages: run });
          sendMs += performance.now() - started;
          break;
        } catch (err) {
          options.onFailed?.(entries.length);
          if (attempt === 0 || attempt % 20 === 0) {
            logger.warn({ err: (err as Error).message, pending: entries.length, attempt }, "kafka publish failed; outbox keeps the events and retries");
          }
          span?.addEvent("publish failed; retrying", { attempt, "exception.message": (err as Error).message });
          if (stopping) {
            endSpan(span, err);
            throw err;
          }
          await sleep(backoffMs(attempt + 1, BACKOFF.kafkaPublish));
        }
      }
    }
    options.onPublished?.(entries.length, sendMs);
    endSpan(span);
  }

  async function acknowledge(entries: StreamEntry[]): Promise<void> {
    const ids = entries.map(([id]) => id);
    await timeAck.time(() => redis.multi().xack(stream, group, ...ids).xdel(stream, ...ids).exec());
  }

  async function run(): Promise<void> {
    let ownPending = true;
    for (let attempt = 0; !stopping; ) {
      try {
        if (attempt === 0 || ownPending) await ensureGroup();
        const entries = await read(ownPending);
        if (!ownPending && entries.length > 0 && entries.length < batchSize && (options.lingerMs ?? 0) > 0) {
          await sleep(options.lingerMs!);
          entries.push(...(await readMore(batchSize - entries.length)));
        }
        if (entries.length === 0) {
          ownPending = false;
          attempt = 0;
          continue;
        }
        await publish(entries);
        await acknowledge(entries);
        attempt = 0;
      } catch (err) {
        if (stopping) break;
        attempt++;
        if (attempt === 1 || attempt % 20 === 0) logger.warn({ err: (err as Error).message }, "outbox relay error; retrying");
        // After a failure, re-read our own pending entries first: nothing is skipped.
        ownPending = true;
        await sleep(backoffMs(attempt, BACKOFF.kafkaPublish));
      }
    }
  }

  return {
    start() {
      loop ??= run();
    },
    async stop() {
      stopping = true;
      await loop?.catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
    },
  };
}
