import { EnvReader, readBackendSettings, readLogLevel, type EnvSource } from "../lib/config.js";
import { COMPRESSIONS } from "../lib/kafka-codecs.js";
import { readTelemetrySettings } from "../lib/telemetry.js";
import { EVENT_FORMATS } from "./store.js";

export function loadCounterConfig(source: EnvSource = process.env) {
  const env = new EnvReader(source);
  const config = {
    logLevel: readLogLevel(env),
    telemetry: readTelemetrySettings(env, "counter"),
    ...readBackendSettings(env),
    grpcPort: env.port("COUNTER_GRPC_PORT", 9001),
    metricsPort: env.port("METRICS_PORT", 9101),
    outboxStream: env.string("OUTBOX_STREAM", "outbox:counter-events"),
    // per-key for the first step of an upgrade from a release before batch events: its analytics reads only those.
    eventFormat: env.oneOf("OUTBOX_EVENT_FORMAT", "batch", EVENT_FORMATS),
    outboxBatch: env.int("OUTBOX_RELAY_BATCH", 1_000, { min: 1, max: 10_000 }),
    // Off by default: an analytics of an older version (or another consumer of the topic) may not read every codec.
    kafkaCompression: env.oneOf("KAFKA_COMPRESSION", "none", COMPRESSIONS),
    outboxLingerMs: env.int("OUTBOX_RELAY_LINGER_MS", 10, { min: 0, max: 1_000 }),
    outboxClaimIdleMs: env.int("OUTBOX_CLAIM_IDLE_MS", 30_000, { min: 1_000, max: 3_600_000 }),
    idempotencyTtlSeconds: env.int("IDEMPOTENCY_TTL_SECONDS", 86_400, { min: 1, max: 30 * 86_400 }),
    maxBatch: env.int("COUNTER_MAX_BATCH", 10_000, { min: 1, max: 100_000 }),
    metricsCounterTypes: env.list("METRICS_COUNTER_TYPES", ["like", "view", "follow", "share", "comment"]),
  };
  env.done();
  return config;
}

export type CounterConfig = ReturnType<typeof loadCounterConfig>;
