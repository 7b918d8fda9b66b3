import { hostname } from "node:os";
import type { CompressionTypes, Kafka, Message } from "kafkajs";
import { ensureTopic, sleep } from "../lib/kafka.js";
import { BACKOFF, backoffMs } from "../lib/retry.js";
import type { Logger } from "../lib/logger.js";
import type { RedisClient } from "../lib/redis.js";
import { untimed, type RedisMetrics } from "../lib/redis-metrics.js";
import { batchParent, endSpan, formatTraceparent, getTracer, parseTraceparent, SpanKind, tracingEnabled, type Span } from "../lib/telemetry.js";
import { byteRuns, entryTraceparent, toKafkaMessage, type StreamEntry } from "./outbox-entry.js";
import type { OutboxStream } from "./store.js";

/** Values per produce request; far below the broker's 1 MiB record batch limit. */
const PRODUCE_BYTES = 512 * 1024;

/**
 * With several streams (one per cluster shard) a blocking read cannot wait
 * on all of them (they live in different slots). The relay reads the
 * shards its own pod just wrote to (notify()), at once; every stream is
 * read at least this often anyway, for entries of pods that died before
 * relaying them.
 */
const SWEEP_MS = 500;

/**
 * Moves outbox entries (written atomically with the increments) to Kafka.
 * Entries are read through a Redis consumer group so several counter pods
 * share the work; an entry is acknowledged and deleted only after Kafka
 * acknowledged it (acks=all, idempotent producer). What a crashed relay had
 * in hand stays pending and is re-read on restart, or claimed by another pod
 * once idle. Redelivery is safe: the event id is the stream entry id (after
 * the shard's tag in cluster mode, where each shard has its own stream).
 */
export interface OutboxRelayOptions {
  /** A dedicated connection: XREADGROUP BLOCK holds it. */
  redis: RedisClient;
  kafka: Kafka;
  /** One per shard; all are shared through the same consumer group name. */
  streams: readonly OutboxStream[];
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
  /** This pod wrote outbox entries to the stream of `shard` (streams[shard]). */
  notify(shard: number): void;
  /** Stops after the batch in hand is published (or left pending). */
  stop(): Promise<void>;
}

/** Entries in the outbox (all shards) and the age of the oldest, for metrics and alerts. */
export async function outboxBacklog(redis: RedisClient, streams: readonly OutboxStream[]): Promise<{ length: number; oldestAgeSeconds: number }> {
  const perStream = await Promise.all(streams.map(({ key }) => Promise.all([redis.xlen(key), redis.xrange(key, "-", "+", "COUNT", 1)])));
  let length = 0;
  let oldestMs = Date.now();
  for (const [n, first] of perStream) {
    length += n;
    const oldestId = first[0]?.[0];
    if (oldestId) oldestMs = Math.min(oldestMs, Number(oldestId.split("-")[0]));
  }
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

/** What one read found: per stream (in `streams` order), its entries. */
type Batch = StreamEntry[][];

const entriesOf = (reply: unknown): StreamEntry[] =>
  // Pending entries already deleted by another relay come back with no fields.
  ((reply as [string, StreamEntry[]][] | null)?.[0]?.[1] ?? []).filter((e) => Array.isArray(e[1]));

const size = (batch: Batch) => batch.reduce((n, entries) => n + entries.length, 0);

export function createOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { redis, kafka, streams, group, batchSize, logger } = options;
  const consumer = options.consumer ?? hostname();
  const timeAck = options.redisMetrics?.command("xack_xdel", "MULTI XACK XDEL") ?? untimed;
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  // Stream entry ids are unique per stream only; a shard's events carry its tag.
  const eventId = (s: number, id: string) => (streams[s]!.tag ? `${streams[s]!.tag}/${id}` : id);
  let stopping = false;
  let loop: Promise<void> | undefined;
  let producerReady = false;
  let lastClaim = 0;

  async function ensureGroups(): Promise<void> {
    for (const { key } of streams) {
      try {
        await redis.xgroup("CREATE", key, group, "0", "MKSTREAM");
      } catch (err) {
        if (!String((err as Error).message).includes("BUSYGROUP")) throw err;
      }
    }
  }

  // Shards written to since the last read, and the wait for one.
  let dirty = new Set<number>();

  /**
   * Each stream's entries from `from` ("0": own pending, ">": new), without
   * blocking; only the `shards` given. A stream that gave a full `count`
   * has more: it is read again next round.
   */
  const readEach = (from: string, count: number, shards?: ReadonlySet<number>): Promise<Batch> =>
    Promise.all(
      streams.map(async ({ key }, s) => {
        if (shards && !shards.has(s)) return [];
        const entries = entriesOf(await redis.xreadgroup("GROUP", group, consumer, "COUNT", count, "STREAMS", key, from));
        if (from === ">" && entries.length >= count) dirty.add(s);
        return entries;
      }),
    );

  let wake: (() => void) | undefined;
  const takeDirty = () => {
    const shards = dirty;
    dirty = new Set();
    return shards;
  };
  /** The shards to read next: those written to, or after SWEEP_MS without any, all of them. */
  async function nextShards(): Promise<Set<number> | undefined> {
    if (dirty.size === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SWEEP_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    return dirty.size > 0 ? takeDirty() : undefined;
  }

  async function read(ownPending: boolean): Promise<Batch> {
    if (Date.now() - lastClaim > options.claimIdleMs / 2) {
      lastClaim = Date.now();
      const claimed = await Promise.all(
        streams.map(async ({ key }) => {
          const reply = (await redis.xautoclaim(key, group, consumer, options.claimIdleMs, "0-0", "COUNT", batchSize)) as [string, StreamEntry[]];
          return reply[1].filter((e) => Array.isArray(e[1]));
        }),
      );
      if (size(claimed) > 0) return claimed;
    }
    if (ownPending) return readEach("0", batchSize);
    if (streams.length === 1) {
      const reply = await redis.xreadgroup("GROUP", group, consumer, "COUNT", batchSize, "BLOCK", options.blockMs, "STREAMS", streams[0]!.key, ">");
      return [entriesOf(reply)];
    }
    return readEach(">", batchSize, await nextShards());
  }

  async function publish(batch: Batch): Promise<void> {
    const entries = batch.flat();
    const messages = batch.flatMap((perStream, s) => perStream.map(([id, f]) => toKafkaMessage(eventId(s, id), f)));
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

  async function acknowledge(batch: Batch): Promise<void> {
    await Promise.all(
      batch.map((entries, s) => {
        if (entries.length === 0) return undefined;
        const ids = entries.map(([id]) => id);
        const key = streams[s]!.key;
        return timeAck.time(() => redis.multi().xack(key, group, ...ids).xdel(key, ...ids).exec());
      }),
    );
  }

  async function run(): Promise<void> {
    let ownPending = true;
    for (let attempt = 0; !stopping; ) {
      try {
        // At the start and after a failure (Redis may have lost the streams): not every round, since
        // each XGROUP CREATE of an existing group is an error reply (and on a cluster, a redirection).
        if (ownPending) await ensureGroups();
        const batch = await read(ownPending);
        const found = size(batch);
        if (!ownPending && found > 0 && found < batchSize && (options.lingerMs ?? 0) > 0) {
          await sleep(options.lingerMs!);
          // One stream: read it again; several: the ones written to meanwhile.
          const more = await readEach(">", batchSize - found, streams.length === 1 ? undefined : takeDirty());
          more.forEach((entries, s) => batch[s]!.push(...entries));
        }
        if (size(batch) === 0) {
          ownPending = false;
          attempt = 0;
          continue;
        }
        await publish(batch);
        await acknowledge(batch);
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
    notify(shard) {
      dirty.add(shard);
      wake?.();
    },
    async stop() {
      stopping = true;
      wake?.();
      await loop?.catch(() => undefined);
      await producer.disconnect().catch(() => undefined);
    },
  };
}
