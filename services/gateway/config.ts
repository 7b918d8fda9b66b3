import { EnvReader, readLogLevel, readMaxConnectionAgeMs, type EnvSource } from "../lib/config.js";
import { readTelemetrySettings } from "../lib/telemetry.js";

export function loadGatewayConfig(source: EnvSource = process.env) {
  const env = new EnvReader(source);
  const config = {
    logLevel: readLogLevel(env),
    // Synchronous context propagation: the gateway pays per request for async hooks (sync-context.ts).
    telemetry: readTelemetrySettings(env, "gateway", "sync"),
    host: env.string("HOST", "0.0.0.0"),
    port: env.port("GATEWAY_PORT", 8080),
    counterAddr: env.string("COUNTER_ADDR", "dns:///127.0.0.1:9001"),
    analyticsAddr: env.string("ANALYTICS_ADDR", "dns:///127.0.0.1:9002"),
    // The counter's and analytics' setting: the gateway's keepalive pings wait until a connection would be over.
    downstreamMaxConnectionAgeMs: readMaxConnectionAgeMs(env),
    writeDeadlineMs: env.int("WRITE_DEADLINE_MS", 2_000, { min: 10, max: 60_000 }),
    readDeadlineMs: env.int("READ_DEADLINE_MS", 1_000, { min: 10, max: 60_000 }),
    coalesceMaxBatch: env.int("COALESCE_MAX_BATCH", 1_000, { min: 1, max: 10_000 }),
    coalesceMaxInFlight: env.int("COALESCE_MAX_IN_FLIGHT", 4, { min: 1, max: 256 }),
    // Reads are cheap for the counter (one MGET), so their round trips are short: fewer slots make
    // bigger batches and fewer gRPC calls, which is what a read costs the gateway (bench/README.md).
    coalesceMaxInFlightReads: env.int("COALESCE_MAX_IN_FLIGHT_READS", 2, { min: 1, max: 256 }),
    // Batches multiplexed on BatchCalls streams cost grpc-js a third of unary calls (batch-calls.ts).
    counterCalls: env.oneOf("COUNTER_CALLS", "stream", ["stream", "unary"] as const),
    maxQueued: env.int("MAX_QUEUED_REQUESTS", 20_000, { min: 1, max: 1_000_000 }),
    bodyLimitBytes: env.int("BODY_LIMIT_BYTES", 64 * 1024, { min: 1024, max: 16 * 1024 * 1024 }),
    shutdownGraceMs: env.int("SHUTDOWN_GRACE_MS", 10_000, { min: 0, max: 300_000 }),
    // Part of the grace period during which keep-alive clients are moved to other pods (handoff.ts).
    shutdownHandoffMs: env.int("SHUTDOWN_HANDOFF_MS", 2_000, { min: 0, max: 60_000 }),
    // Reliability and security (RELIABILITY.md).
    apiKeys: env.list("API_KEYS", []),
    rateLimitPerSecond: env.number("RATE_LIMIT_PER_SECOND", 0, { min: 0, max: 1_000_000 }),
    rateLimitBurst: env.int("RATE_LIMIT_BURST", 0, { min: 0, max: 10_000_000 }),
    rateLimitMaxClients: env.int("RATE_LIMIT_MAX_CLIENTS", 100_000, { min: 1, max: 10_000_000 }),
    trustProxyHops: env.int("TRUST_PROXY_HOPS", 0, { min: 0, max: 10 }),
    shedEventLoopDelayMs: env.int("SHED_EVENT_LOOP_DELAY_MS", 1_000, { min: 0, max: 60_000 }),
    shedMaxHeapBytes: env.int("SHED_MAX_HEAP_BYTES", 0, { min: 0 }),
    shedMaxRssBytes: env.int("SHED_MAX_RSS_BYTES", 0, { min: 0 }),
    breakerFailures: env.int("BREAKER_CONSECUTIVE_FAILURES", 5, { min: 1, max: 10_000 }),
    breakerHalfOpenMs: env.int("BREAKER_HALF_OPEN_AFTER_MS", 1_000, { min: 50, max: 600_000 }),
    readAttempts: env.int("READ_ATTEMPTS", 3, { min: 1, max: 10 }),
    analyticsMaxInFlight: env.int("ANALYTICS_MAX_IN_FLIGHT", 512, { min: 1, max: 100_000 }),
  };
  if (config.shutdownHandoffMs >= config.shutdownGraceMs && config.shutdownGraceMs > 0) {
    env.problem(`SHUTDOWN_HANDOFF_MS (${config.shutdownHandoffMs}) must be shorter than SHUTDOWN_GRACE_MS (${config.shutdownGraceMs})`);
  }
  if (config.apiKeys.some((k) => k.length < 8)) env.problem("API_KEYS must be a comma-separated list of keys of at least 8 characters each");
  env.done();
  return config;
}

export type GatewayConfig = ReturnType<typeof loadGatewayConfig>;
