import { EnvReader, type EnvSource } from "../lib/config.js";

export function loadAnalyticsConfig(source: EnvSource = process.env) {
  const env = new EnvReader(source);
  const config = {
    host: env.string("HOST", "0.0.0.0"),
    grpcPort: env.port("ANALYTICS_GRPC_PORT", 9002),
    metricsPort: env.port("METRICS_PORT", 9102),
    redisUrl: env.url("REDIS_URL", "redis://127.0.0.1:6379", ["redis:", "rediss:"]),
    redisPassword: env.optionalString("REDIS_PASSWORD"),
    redisCommandTimeoutMs: env.int("REDIS_COMMAND_TIMEOUT_MS", 2_000, { min: 10, max: 60_000 }),
    kafkaBrokers: env.hostPorts("KAFKA_BROKERS", ["127.0.0.1:9092"]),
    kafkaTopic: env.string("KAFKA_TOPIC", "counter-events"),
    kafkaPartitions: env.int("KAFKA_PARTITIONS", 3, { min: 1, max: 1000 }),
    groupId: env.string("ANALYTICS_GROUP_ID", "highgopress-analytics"),
    sessionTimeoutMs: env.int("ANALYTICS_SESSION_TIMEOUT_MS", 10_000, { min: 6_000, max: 300_000 }),
    applyChunk: env.int("ANALYTICS_APPLY_CHUNK", 500, { min: 1, max: 10_000 }),
    dedupTtlSeconds: env.int("ANALYTICS_DEDUP_TTL_SECONDS", 8 * 86_400, { min: 60, max: 90 * 86_400 }),
    bucketTtlSeconds: env.int("ANALYTICS_BUCKET_TTL_SECONDS", 31 * 86_400, { min: 3_600, max: 400 * 86_400 }),
    topCacheSeconds: env.int("ANALYTICS_TOP_CACHE_SECONDS", 3, { min: 1, max: 3_600 }),
    maxConnectionAgeMs: env.int("GRPC_MAX_CONNECTION_AGE_MS", 300_000, { min: 1_000, max: 86_400_000 }),
    shutdownGraceMs: env.int("SHUTDOWN_GRACE_MS", 10_000, { min: 0, max: 300_000 }),
  };
  env.done();
  return config;
}
