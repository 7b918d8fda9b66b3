import { EnvReader, type EnvSource } from "../lib/config.js";

export function loadGatewayConfig(source: EnvSource = process.env) {
  const env = new EnvReader(source);
  const config = {
    host: env.string("HOST", "0.0.0.0"),
    port: env.port("GATEWAY_PORT", 8080),
    counterAddr: env.string("COUNTER_ADDR", "dns:///127.0.0.1:9001"),
    analyticsAddr: env.string("ANALYTICS_ADDR", "dns:///127.0.0.1:9002"),
    writeDeadlineMs: env.int("WRITE_DEADLINE_MS", 2_000, { min: 10, max: 60_000 }),
    readDeadlineMs: env.int("READ_DEADLINE_MS", 1_000, { min: 10, max: 60_000 }),
    coalesceMaxBatch: env.int("COALESCE_MAX_BATCH", 1_000, { min: 1, max: 10_000 }),
    coalesceMaxInFlight: env.int("COALESCE_MAX_IN_FLIGHT", 4, { min: 1, max: 256 }),
    maxQueued: env.int("MAX_QUEUED_REQUESTS", 20_000, { min: 1, max: 1_000_000 }),
    bodyLimitBytes: env.int("BODY_LIMIT_BYTES", 64 * 1024, { min: 1024, max: 16 * 1024 * 1024 }),
    metricsCounterTypes: env.list("METRICS_COUNTER_TYPES", ["like", "view", "follow", "share", "comment"]),
    shutdownGraceMs: env.int("SHUTDOWN_GRACE_MS", 10_000, { min: 0, max: 300_000 }),
  };
  env.done();
  return config;
}

export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;
