import { DEFAULT_CLUSTER_SHARDS, REDIS_MODES } from "./redis-shards.js";

/**
 * Environment configuration, parsed and validated once at start-up. Every
 * problem is collected so an operator sees all bad values in one message.
 */
export type EnvSource = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

interface IntRule {
  min?: number;
  max?: number;
}

export class EnvReader {
  private readonly problems: string[] = [];

  constructor(private readonly source: EnvSource = process.env) {}

  private raw(name: string): string | undefined {
    const value = this.source[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  int(name: string, fallback: number, rule: IntRule = {}): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = rule;
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      this.problems.push(`${name} must be an integer between ${min} and ${max}, got '${raw}'`);
      return fallback;
    }
    return value;
  }

  number(name: string, fallback: number, rule: IntRule = {}): number {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    const { min = -Infinity, max = Infinity } = rule;
    if (!Number.isFinite(value) || value < min || value > max) {
      this.problems.push(`${name} must be a number between ${min} and ${max}, got '${raw}'`);
      return fallback;
    }
    return value;
  }

  port(name: string, fallback: number): number {
    return this.int(name, fallback, { min: 0, max: 65535 });
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    this.problems.push(`${name} must be true or false, got '${raw}'`);
    return fallback;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const raw = this.raw(name);
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problems.push(`${name} must be one of ${allowed.join(", ")}, got '${raw}'`);
    return fallback;
  }

  list(name: string, fallback: readonly string[]): string[] {
    const raw = this.raw(name);
    if (raw === undefined) return [...fallback];
    return raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  }

  url(name: string, fallback: string, protocols: readonly string[]): string {
    const raw = this.raw(name) ?? fallback;
    let parsed: URL | undefined;
    try {
      parsed = new URL(raw);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !protocols.includes(parsed.protocol)) {
      const example = `${protocols[0]}//127.0.0.1`;
      this.problems.push(`${name} must be a ${protocols.join(" or ")} URL such as ${example}, got '${raw}'`);
      return fallback;
    }
    return raw;
  }

  /** host:port pairs, as Kafka brokers are given. */
  hostPorts(name: string, fallback: readonly string[]): string[] {
    const entries = this.list(name, fallback);
    for (const entry of entries) {
      if (!/^[^\s:]+:\d{1,5}$/.test(entry)) {
        this.problems.push(`${name} must be a comma-separated list of host:port, got '${entry}'`);
      }
    }
    return entries;
  }

  /** Records a problem found by a check across variables. */
  problem(message: string): void {
    this.problems.push(message);
  }

  /** Throws one ConfigError naming every bad variable. */
  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** LOG_LEVEL, read with the service's other settings so a bad value is reported with them. */
export function readLogLevel(env: EnvReader): (typeof LOG_LEVELS)[number] {
  return env.oneOf("LOG_LEVEL", "info", LOG_LEVELS);
}

/** Exit status of a service refusing its configuration (sysexits' EX_CONFIG). */
export const EXIT_CONFIG = 78;

/**
 * Runs a service's configuration loader; on bad settings, prints one JSON
 * log line naming every bad variable (no stack trace) and exits with
 * EXIT_CONFIG before anything starts.
 */
export function loadOrExit<T>(service: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${JSON.stringify({ level: "fatal", time: new Date().toISOString(), service, problems: err.problems, msg: err.message })}\n`);
    process.exit(EXIT_CONFIG);
  }
}

/**
 * How old a connection to a gRPC back end may grow: the servers end it then,
 * and the gateway's keepalive pings wait until it would be over (grpc-client.ts).
 */
export const readMaxConnectionAgeMs = (env: EnvReader) => env.int("GRPC_MAX_CONNECTION_AGE_MS", 30_000, { min: 1_000, max: 86_400_000 });

/** Settings every gRPC back end (counter, analytics) reads the same way. */
export function readBackendSettings(env: EnvReader) {
  const redisMode = env.oneOf("REDIS_MODE", "standalone", REDIS_MODES);
  const redisClusterNodes = env.hostPorts("REDIS_CLUSTER_NODES", []);
  if (redisMode === "cluster" && redisClusterNodes.length === 0) env.problem("REDIS_MODE=cluster needs REDIS_CLUSTER_NODES (host:port of one or more cluster nodes)");
  const redisCommandTimeoutMs = env.int("REDIS_COMMAND_TIMEOUT_MS", 2_000, { min: 10, max: 60_000 });
  const redisWaitTimeoutMs = env.int("REDIS_WAIT_TIMEOUT_MS", 250, { min: 1, max: 60_000 });
  if (redisWaitTimeoutMs >= redisCommandTimeoutMs) env.problem(`REDIS_WAIT_TIMEOUT_MS (${redisWaitTimeoutMs}) must be below REDIS_COMMAND_TIMEOUT_MS (${redisCommandTimeoutMs})`);
  return {
    host: env.string("HOST", "0.0.0.0"),
    redisMode,
    redisUrl: env.url("REDIS_URL", "redis://127.0.0.1:6379", ["redis:", "rediss:"]),
    redisClusterNodes,
    // Counter and analytics must agree: the shards' hash tags are part of every key name.
    redisClusterShards: env.int("REDIS_CLUSTER_SHARDS", DEFAULT_CLUSTER_SHARDS, { min: 1, max: 1_024 }),
    redisPassword: env.optionalString("REDIS_PASSWORD"),
    redisCommandTimeoutMs,
    // A write is answered once this many replicas hold it (WAIT): on a cluster, one, so a primary's loss loses no acknowledged increment.
    redisDurability: {
      replicas: env.int("REDIS_WAIT_REPLICAS", redisMode === "cluster" ? 1 : 0, { min: 0, max: 5 }),
      timeoutMs: redisWaitTimeoutMs,
    },
    kafkaBrokers: env.hostPorts("KAFKA_BROKERS", ["127.0.0.1:9092"]),
    kafkaTopic: env.string("KAFKA_TOPIC", "counter-events"),
    kafkaPartitions: env.int("KAFKA_PARTITIONS", 3, { min: 1, max: 1000 }),
    maxConnectionAgeMs: readMaxConnectionAgeMs(env),
    shutdownGraceMs: env.int("SHUTDOWN_GRACE_MS", 10_000, { min: 0, max: 300_000 }),
  };
}
