import { Counter, Gauge, Histogram } from "prom-client";
import { AnalyticsServiceService } from "../lib/gen/highgopress/analytics/v1/analytics.js";
import { startGrpcServer } from "../lib/grpc-server.js";
import { createKafka } from "../lib/kafka.js";
import { LATENCY_BUCKETS } from "../lib/labeled-histogram.js";
import { loadOrExit } from "../lib/config.js";
import { createLogger } from "../lib/logger.js";
import { createRegistry } from "../lib/metrics.js";
import { startOpsServer } from "../lib/ops-server.js";
import { connectRedis, createRedis } from "../lib/redis.js";
import { createRedisMetrics } from "../lib/redis-metrics.js";
import { shardLayout } from "../lib/redis-shards.js";
import { onShutdown } from "../lib/shutdown.js";
import { startTelemetry } from "../lib/telemetry.js";
import { createEventApplier } from "./apply.js";
import { loadAnalyticsConfig } from "./config.js";
import { createEventConsumer, UNDECODABLE_REASONS } from "./consumer.js";
import { createAnalyticsService } from "./grpc-service.js";
import { createAnalyticsQueries } from "./queries.js";

const config = loadOrExit("analytics", () => loadAnalyticsConfig());
const logger = createLogger("analytics", config.logLevel);
const telemetry = await startTelemetry(config.telemetry, logger);
const registry = createRegistry("analytics");
const redisMetrics = createRedisMetrics(registry);
const applied = new Counter({ name: "highgopress_analytics_events_applied_total", help: "Counter events applied to the buckets.", registers: [registry] });
const deduplicated = new Counter({
  name: "highgopress_analytics_events_deduplicated_total",
  help: "Redelivered counter events recognised and skipped.",
  registers: [registry],
});
const undecodable = new Counter({
  name: "highgopress_analytics_undecodable_total",
  help: "Messages of the counter-events topic that are not counter events, skipped after being copied to the dead-letter topic, by reason (empty, not_counter_event, undecodable_batch: one per offset of a record batch that could not be read).",
  labelNames: ["reason"],
  registers: [registry],
});
for (const reason of UNDECODABLE_REASONS) undecodable.inc({ reason }, 0);
const lag = new Gauge({
  name: "highgopress_analytics_consumer_lag_messages",
  help: "Messages behind the partition's end after the last batch consumed, by partition.",
  labelNames: ["partition"],
  registers: [registry],
});
const eventDelay = new Histogram({
  name: "highgopress_analytics_event_delay_seconds",
  help: "Time from an increment (its event's timestamp) until analytics applied the event: outbox, relay, Kafka and consumer together.",
  buckets: [...LATENCY_BUCKETS],
  registers: [registry],
});

const redis = createRedis(
  {
    mode: config.redisMode,
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    password: config.redisPassword,
    commandTimeoutMs: config.redisCommandTimeoutMs,
  },
  logger,
  "analytics",
);
const layout = shardLayout(config.redisMode, config.redisClusterShards);
await connectRedis(redis, logger);

const consumer = createEventConsumer({
  kafka: createKafka({ brokers: config.kafkaBrokers, clientId: "highgopress-analytics" }, logger),
  topic: config.kafkaTopic,
  partitions: config.kafkaPartitions,
  groupId: config.groupId,
  sessionTimeoutMs: config.sessionTimeoutMs,
  applier: createEventApplier(redis, layout, {
    dedupTtlSeconds: config.dedupTtlSeconds,
    bucketTtlSeconds: config.bucketTtlSeconds,
    durability: config.redisDurability,
  }),
  chunkSize: config.applyChunk,
  logger,
  onApplied: (n, dup) => {
    applied.inc(n);
    if (dup > 0) deduplicated.inc(dup);
  },
  onLag: (partition, value) => lag.set({ partition: String(partition) }, value),
  onUndecodable: (reason, count) => undecodable.inc({ reason }, count),
  onEventDelay: (seconds) => eventDelay.observe(seconds),
  redisMetrics,
});

const queries = createAnalyticsQueries(redis, layout, { topCacheSeconds: config.topCacheSeconds });
const grpcServer = await startGrpcServer(
  {
    host: config.host,
    port: config.grpcPort,
    protoFiles: ["highgopress/analytics/v1/analytics.proto"],
    maxConnectionAgeMs: config.maxConnectionAgeMs,
    registry,
  },
  (server) => {
    server.addService(AnalyticsServiceService, createAnalyticsService(queries, logger));
    return ["highgopress.analytics.v1.AnalyticsService"];
  },
);
let ready = true;
grpcServer.setServing(true);
const opsServer = await startOpsServer({ host: config.host, port: config.metricsPort, registry, ready: () => ready }); // this pod's state, not Redis's (as in the counter)
consumer.start();
logger.info({ grpcPort: grpcServer.port, metricsPort: config.metricsPort }, "analytics service listening");

onShutdown(logger, config.shutdownGraceMs, [
  {
    name: "stop accepting",
    run: () => {
      ready = false;
      grpcServer.setServing(false);
    },
  },
  { name: "stop consumer", run: () => consumer.stop() },
  { name: "drain gRPC calls", run: () => grpcServer.shutdown(2_000) },
  { name: "close redis", run: async () => void (await redis.quit()) },
  { name: "close ops server", run: () => new Promise<void>((resolve) => opsServer.close(() => resolve())) },
  { name: "flush traces", run: () => telemetry.shutdown() },
]);
