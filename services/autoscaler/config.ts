import { hostname } from "node:os";
import { EnvReader, readLogLevel, type EnvSource, type LOG_LEVELS } from "../lib/config.js";

/**
 * The autoscaler's environment, validated once at start-up. KUBECONFIG (or
 * the in-cluster service account) is read by client-node's loadFromDefault.
 */
export const DEFAULT_METRIC_QUERY = 'sum(rate(highgopress_counter_increments_total{namespace="${namespace}"}[30s]))';

export interface AutoscalerConfig {
  logLevel: (typeof LOG_LEVELS)[number];
  host: string;
  metricsPort: number;
  /** Empty: watch CounterAutoscalers in all namespaces. */
  watchNamespace: string;
  identity: string;
  leaderElection: boolean;
  leaseName: string;
  leaseNamespace: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  tickMs: number;
  resyncMs: number;
  watchTimeoutSeconds: number;
  prometheusURL: string;
  prometheusTimeoutMs: number;
  defaultQuery: string;
  statusRefreshMs: number;
  hpaCacheMs: number;
  shutdownGraceMs: number;
}

export function loadConfig(env: EnvSource = process.env): AutoscalerConfig {
  const r = new EnvReader(env);
  const watchNamespace = r.string("WATCH_NAMESPACE", "");
  const config: AutoscalerConfig = {
    logLevel: readLogLevel(r),
    host: r.string("HOST", "0.0.0.0"),
    metricsPort: r.port("METRICS_PORT", 9103),
    watchNamespace,
    identity: r.string("POD_NAME", `${hostname()}-${process.pid}`),
    leaderElection: r.bool("LEADER_ELECTION", true),
    leaseName: r.string("LEASE_NAME", "highgopress-autoscaler"),
    leaseNamespace: r.string("LEASE_NAMESPACE", r.string("POD_NAMESPACE", watchNamespace || "default")),
    leaseDurationSeconds: r.int("LEASE_DURATION_SECONDS", 15, { min: 2, max: 300 }),
    renewDeadlineSeconds: r.int("LEASE_RENEW_DEADLINE_SECONDS", 10, { min: 1, max: 300 }),
    retryPeriodSeconds: r.number("LEASE_RETRY_PERIOD_SECONDS", 2, { min: 0.1, max: 60 }),
    tickMs: Math.round(r.number("TICK_SECONDS", 2, { min: 0.1, max: 300 }) * 1000),
    resyncMs: Math.round(r.number("RESYNC_SECONDS", 30, { min: 1, max: 3600 }) * 1000),
    watchTimeoutSeconds: r.int("WATCH_TIMEOUT_SECONDS", 60, { min: 5, max: 1800 }),
    prometheusURL: r.url("PROMETHEUS_URL", "http://127.0.0.1:9090", ["http:", "https:"]),
    prometheusTimeoutMs: r.int("PROMETHEUS_TIMEOUT_MS", 1500, { min: 50, max: 60_000 }),
    defaultQuery: r.string("DEFAULT_METRIC_QUERY", DEFAULT_METRIC_QUERY),
    statusRefreshMs: Math.round(r.number("STATUS_REFRESH_SECONDS", 10, { min: 0, max: 3600 }) * 1000),
    hpaCacheMs: Math.round(r.number("HPA_CHECK_SECONDS", 10, { min: 0, max: 3600 }) * 1000),
    shutdownGraceMs: r.int("SHUTDOWN_GRACE_MS", 10_000, { min: 0, max: 600_000 }),
  };
  if (config.renewDeadlineSeconds >= config.leaseDurationSeconds) {
    r.problem(`LEASE_RENEW_DEADLINE_SECONDS (${config.renewDeadlineSeconds}) must be less than LEASE_DURATION_SECONDS (${config.leaseDurationSeconds})`);
  }
  r.done();
  return config;
}
