import { EnvReader, readBackendSettings, readLogLevel, type EnvSource } from "../lib/config.js";
import { readTelemetrySettings } from "../lib/telemetry.js";

export function loadAnalyticsConfig(source: EnvSource = process.env) {
  const env = new EnvReader(source);
  const config = {
    logLevel: readLogLevel(env),
    telemetry: readTelemetrySettings(env, "analytics"),
    ...readBackendSettings(env),
    grpcPort: env.port("ANALYTICS_GRPC_PORT", 9002),
    metricsPort: env.port("METRICS_PORT", 9102),
    groupId: env.string("ANALYTICS_GROUP_ID", "highgopress-analytics"),
    sessionTimeoutMs: env.int("ANALYTICS_SESSION_TIMEOUT_MS", 10_000, { min: 6_000, max: 300_000 }),
    applyChunk: env.int("ANALYTICS_APPLY_CHUNK", 500, { min: 1, max: 10_000 }),
    dedupTtlSeconds: env.int("ANALYTICS_DEDUP_TTL_SECONDS", 8 * 86_400, { min: 60, max: 90 * 86_400 }),
    bucketTtlSeconds: env.int("ANALYTICS_BUCKET_TTL_SECONDS", 31 * 86_400, { min: 3_600, max: 400 * 86_400 }),
    topCacheSeconds: env.int("ANALYTICS_TOP_CACHE_SECONDS", 3, { min: 1, max: 3_600 }),
  };
  env.done();
  return config;
}
