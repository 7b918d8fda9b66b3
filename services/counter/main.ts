import { CounterServiceService } from "../lib/gen/highgopress/counter/v1/counter.js";
import { startGrpcServer } from "../lib/grpc-server.js";
import { createKafka } from "../lib/kafka.js";
import { compressionType } from "../lib/kafka-codecs.js";
import { loadOrExit } from "../lib/config.js";
import { createLogger } from "../lib/logger.js";
import { counterTypeLabeler, createRegistry } from "../lib/metrics.js";
import { startOpsServer } from "../lib/ops-server.js";
import { connectRedis, createRedis } from "../lib/redis.js";
import { createRedisMetrics } from "../lib/redis-metrics.js";
import { shardLayout } from "../lib/redis-shards.js";
import { onShutdown } from "../lib/shutdown.js";
import { startTelemetry } from "../lib/telemetry.js";
import { loadCounterConfig } from "./config.js";
import { createCounterService } from "./grpc-service.js";
import { createCounterMetrics } from "./metrics.js";
import { createOutboxRelay, outboxBacklog } from "./outbox-relay.js";
import { createCounterStore, outboxStreams } from "./store.js";

const config = loadOrExit("counter", () => loadCounterConfig());
const logger = createLogger("counter", config.logLevel);
const telemetry = await startTelemetry(config.telemetry, logger);
const registry = createRegistry("counter");
const redisMetrics = createRedisMetrics(registry);

const redisOptions = {
  mode: config.redisMode,
  url: config.redisUrl,
  clusterNodes: config.redisClusterNodes,
  password: config.redisPassword,
  commandTimeoutMs: config.redisCommandTimeoutMs,
};
const layout = shardLayout(config.redisMode, config.redisClusterShards);
const streams = outboxStreams(layout, config.outboxStream);
const redis = createRedis(redisOptions, logger, "counter");
const relayRedis = createRedis({ ...redisOptions, commandTimeoutMs: config.redisCommandTimeoutMs + 2_000 }, logger, "counter-relay");
await Promise.all([connectRedis(redis, logger), connectRedis(relayRedis, logger)]);
const metrics = createCounterMetrics(registry, counterTypeLabeler(config.metricsCounterTypes), () =>
  outboxBacklog(redis, streams),
);

const store = createCounterStore({
  redis,
  layout,
  outboxStream: config.outboxStream,
  eventFormat: config.eventFormat,
  idempotencyTtlSeconds: config.idempotencyTtlSeconds,
  durability: config.redisDurability,
  onNotReplicated: metrics.onNotReplicated,
  onOutboxWrite: (shard) => relay.notify(shard),
  redisMetrics,
});
const relay = createOutboxRelay({
  redis: relayRedis,
  kafka: createKafka({ brokers: config.kafkaBrokers, clientId: "highgopress-counter" }, logger),
  streams,
  topic: config.kafkaTopic,
  partitions: config.kafkaPartitions,
  group: "outbox-relay",
  batchSize: config.outboxBatch,
  compression: compressionType[config.kafkaCompression],
  blockMs: 1_000,
  lingerMs: config.outboxLingerMs,
  claimIdleMs: config.outboxClaimIdleMs,
  logger,
  onPublished: metrics.onPublished,
  onFailed: metrics.onFailed,
  redisMetrics,
});

const grpcServer = await startGrpcServer(
  {
    host: config.host,
    port: config.grpcPort,
    protoFiles: ["highgopress/counter/v1/counter.proto"],
    maxConnectionAgeMs: config.maxConnectionAgeMs,
    registry,
  },
  (server, grpcTelemetry) => {
    server.addService(CounterServiceService, createCounterService({ store, maxBatch: config.maxBatch, logger, onIncrements: metrics.onIncrements, telemetry: grpcTelemetry }));
    return ["highgopress.counter.v1.CounterService"];
  },
);
let ready = true;
grpcServer.setServing(true);
const opsServer = await startOpsServer({
  host: config.host,
  port: config.metricsPort,
  registry,
  // Not Redis: one Redis blip must not take every counter pod out of the
  // Service; calls then fail fast (UNAVAILABLE) while the pods stay listed.
  ready: () => ready,
});
relay.start();
logger.info({ grpcPort: grpcServer.port, metricsPort: config.metricsPort }, "counter service listening");

onShutdown(logger, config.shutdownGraceMs, [
  {
    name: "stop accepting",
    run: () => {
      ready = false;
      grpcServer.setServing(false);
    },
  },
  { name: "drain gRPC calls", run: () => grpcServer.shutdown(Math.max(1_000, config.shutdownGraceMs - 2_000)) },
  { name: "stop outbox relay", run: () => relay.stop() },
  { name: "close redis", run: async () => void (await Promise.all([redis.quit(), relayRedis.quit()])) },
  { name: "close ops server", run: () => new Promise<void>((resolve) => opsServer.close(() => resolve())) },
  { name: "flush traces", run: () => telemetry.shutdown() },
]);
