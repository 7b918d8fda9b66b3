import { EnvReader, type EnvSource } from "../lib/config.js";

export function loadCounterConfig(source: EnvSource = process.env) {
  const env = new EnvReader(source);
  const config = {
    host: env.string("HOST", "0.0.0.0"),
    grpcPort: env.port("COUNTER_GRPC_PORT", 9001),
    metricsPort: env.port("METRICS_PORT", 9101),
    redisUrl: env.url("REDIS_URL", "redis://127.0.0.1:6379", ["redis:", "rediss:"]),
    redisPassword: env.optionalString("REDIS_PASSWORD"),
    redisCommandTimeoutMs: env.int("REDIS_COMMAND_TIMEOUT_MS", 2_000, { min: 10, max: 60_000 }),
    kafkaBrokers: env.hostPorts("KAFKA_BROKERS", ["127.0.0.1:9092"]),
    kafkaTopic: env.string("KAFKA_TOPIC", "counter-events"),
    kafkaPartitions: env.int("KAFKA_PARTITIONS", 3, { min: 1, max: 1000 }),
    outboxStream: env.string("OUTBOX_STREAM", "outbox:counter-events"),
    outboxBatch: env.int("OUTBOX_RELAY_BATCH", 1_000, { min: 1, max: 10_000 }),
    outboxLingerMs: env.int("OUTBOX_RELAY_LINGER_MS", 10, { min: 0, max: 1_000 }),
    outboxClaimIdleMs: env.int("OUTBOX_CLAIM_IDLE_MS", 30_000, { min: 1_000, max: 3_600_000 }),
    idempotencyTtlSeconds: env.int("IDEMPOTENCY_TTL_SECONDS", 86_400, { min: 1, max: 30 * 86_400 }),
    maxBatch: env.int("COUNTER_MAX_BATCH", 10_000, { min: 1, max: 100_000 }),
    maxConnectionAgeMs: env.int("GRPC_MAX_CONNECTION_AGE_MS", 300_000, { min: 1_000, max: 86_400_000 }),
    metricsCounterTypes: env.list("METRICS_COUNTER_TYPES", ["like", "view", "follow", "share", "comment"]),
    shutdownGraceMs: env.int("SHUTDOWN_GRACE_MS", 10_000, { min: 0, max: 300_000 }),
  };
  env.done();
  return config;
}

export type CounterConfig = ReturnType<typeof loadCounterConfig>;
