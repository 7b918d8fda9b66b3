import { Kafka, logLevel, type LogEntry } from "kafkajs";
import { registerKafkaCodecs } from "./kafka-codecs.js";
import type { Logger } from "./logger.js";

export interface KafkaOptions {
  brokers: string[];
  clientId: string;
}

/**
 * A kafkajs client logging through pino. Retries are short: callers own the
 * retry loop (the outbox keeps what was not acknowledged), so a broker
 * outage never blocks a request. kafkajs reports every failed connection
 * attempt as an error; the retry loops log the outcome once, so its own
 * lines go out at debug level. Every Kafka codec is registered
 * (kafka-codecs.ts).
 */
export function createKafka(options: KafkaOptions, logger: Logger): Kafka {
  registerKafkaCodecs();
  const log = logger.child({ component: "kafkajs" });
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2_000 },
    logLevel: log.isLevelEnabled("debug") ? logLevel.INFO : logLevel.NOTHING,
    logCreator:
      () =>
      ({ log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        log.debug({ ...rest, timestamp: undefined }, message);
      },
  });
}

/** Creates the topic when missing; an existing topic is left as it is. */
export async function ensureTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) {
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    }
  } finally {
    await admin.disconnect();
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
