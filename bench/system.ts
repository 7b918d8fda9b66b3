/**
 * Starts and stops the system under test the way `make run` does
 * (scripts/infra.sh for Redis, Kafka, Prometheus and Jaeger, then the
 * services through tools/local-system.ts), but on ports and a state
 * directory of its own (.run/bench), so a bench never collides with a
 * `make run` or with tests that stop and start the default Redis and Kafka.
 */
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Cluster, Redis } from "ioredis";
import type { RedisClient } from "../services/lib/redis.js";
import { DEFAULT_CLUSTER_SHARDS, shardLayout, type RedisMode, type ShardLayout } from "../services/lib/redis-shards.js";
import { repoRoot, SERVICES, startServices, stopServices, type ServiceName, type ServiceProcess } from "../tools/local-system.js";

export { repoRoot, SERVICES, type ServiceName };

/**
 * Every port the bench uses, from one base (HIGHGOPRESS_BENCH_PORT_BASE,
 * default 28100): an unusual range below the ephemeral ports, apart from
 * the defaults of `make run` and from the ports tests pick.
 */
export function benchPorts(base = Number(process.env.HIGHGOPRESS_BENCH_PORT_BASE ?? 28100)) {
  if (!Number.isInteger(base) || base < 1024 || base > 65_000) {
    throw new Error(`HIGHGOPRESS_BENCH_PORT_BASE must be an integer between 1024 and 65000, got '${base}'`);
  }
  return {
    gateway: base,
    ceiling: base + 1,
    counter: base + 2,
    counterMetrics: base + 3,
    analytics: base + 4,
    analyticsMetrics: base + 5,
    redis: base + 6,
    kafka: base + 7,
    kafkaController: base + 8,
    prometheus: base + 9,
    jaegerUi: base + 10,
    jaegerOtlpGrpc: base + 11,
    jaegerOtlpHttp: base + 12,
    jaegerThriftHttp: base + 13,
    jaegerGrpc: base + 14,
    jaegerAgentCompact: base + 15,
    jaegerAgentBinary: base + 16,
    jaegerQueryGrpc: base + 17,
    jaegerSamplingHttp: base + 18,
    jaegerSamplingGrpc: base + 19,
    jaegerHealth: base + 20,
    jaegerMetrics: base + 21,
    autoscalerMetrics: base + 22,
    /**
     * The first of the six nodes of the bench's Redis Cluster (`--redis-mode cluster`), +0 … +5.
     * Below the base: their cluster bus ports (10,000 higher) must stay below the ephemeral ports,
     * where an outgoing connection can hold one.
     */
    redisCluster: base - 6_000,
  };
}

export const BENCH_PORTS = benchPorts();

export const INFRA = ["redis", "kafka", "prometheus", "jaeger"] as const;
/** What scripts/infra.sh starts for the bench: the defaults, with redis-cluster in place of redis in cluster mode. */
export type InfraName = (typeof INFRA)[number] | "redis-cluster";
const CLUSTER_NODES = 6;

export interface SystemOptions {
  runDir: string;
  infra: readonly InfraName[];
  redisMode: RedisMode;
  /** Services started with `node --cpu-prof`, profiles written on exit to `<runDir>/profiles`. */
  profile: readonly ServiceName[];
  /** Extra environment for the services (e.g. COALESCE_MAX_IN_FLIGHT=8). */
  serviceEnv: Record<string, string>;
  log: (line: string) => void;
}

const p = BENCH_PORTS;

/** Environment for scripts/infra.sh: own RUN dir, own ports, Prometheus scraping the bench's services. */
export function infraEnv(runDir: string): Record<string, string> {
  return {
    HIGHGOPRESS_RUN: runDir,
    REDIS_PORT: String(p.redis),
    REDIS_CLUSTER_PORT: String(p.redisCluster),
    KAFKA_PORT: String(p.kafka),
    KAFKA_CONTROLLER_PORT: String(p.kafkaController),
    PROMETHEUS_PORT: String(p.prometheus),
    PROM_TARGET_GATEWAY: `127.0.0.1:${p.gateway}`,
    PROM_TARGET_COUNTER: `127.0.0.1:${p.counterMetrics}`,
    PROM_TARGET_ANALYTICS: `127.0.0.1:${p.analyticsMetrics}`,
    PROM_TARGET_AUTOSCALER: `127.0.0.1:${p.autoscalerMetrics}`,
    JAEGER_UI_PORT: String(p.jaegerUi),
    JAEGER_OTLP_GRPC_PORT: String(p.jaegerOtlpGrpc),
    JAEGER_OTLP_HTTP_PORT: String(p.jaegerOtlpHttp),
    JAEGER_THRIFT_HTTP_PORT: String(p.jaegerThriftHttp),
    JAEGER_GRPC_PORT: String(p.jaegerGrpc),
    JAEGER_AGENT_COMPACT_PORT: String(p.jaegerAgentCompact),
    JAEGER_AGENT_BINARY_PORT: String(p.jaegerAgentBinary),
    JAEGER_QUERY_GRPC_PORT: String(p.jaegerQueryGrpc),
    JAEGER_SAMPLING_HTTP_PORT: String(p.jaegerSamplingHttp),
    JAEGER_SAMPLING_GRPC_PORT: String(p.jaegerSamplingGrpc),
    JAEGER_HEALTH_PORT: String(p.jaegerHealth),
    JAEGER_METRICS_PORT: String(p.jaegerMetrics),
  };
}

/** Environment shared by the three services: bench ports, bench Redis and Kafka, traces to the bench Jaeger. */
export function serviceEnv(redisMode: RedisMode): Record<string, string> {
  return {
    HOST: "127.0.0.1",
    ...(redisMode === "cluster" ? { REDIS_MODE: "cluster", REDIS_CLUSTER_NODES: `127.0.0.1:${p.redisCluster}` } : { REDIS_URL: `redis://127.0.0.1:${p.redis}` }),
    KAFKA_BROKERS: `127.0.0.1:${p.kafka}`,
    GATEWAY_PORT: String(p.gateway),
    COUNTER_ADDR: `127.0.0.1:${p.counter}`,
    ANALYTICS_ADDR: `127.0.0.1:${p.analytics}`,
    COUNTER_GRPC_PORT: String(p.counter),
    ANALYTICS_GRPC_PORT: String(p.analytics),
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${p.jaegerOtlpHttp}`,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${p.jaegerOtlpHttp}/v1/traces`,
  };
}

const metricsPort: Record<ServiceName, number | undefined> = {
  counter: p.counterMetrics,
  analytics: p.analyticsMetrics,
  gateway: undefined,
};

const readyUrl = (name: ServiceName) =>
  name === "gateway" ? `http://127.0.0.1:${p.gateway}/readyz` : `http://127.0.0.1:${metricsPort[name]}/readyz`;

function runScript(args: string[], env: Record<string, string>, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(repoRoot, "scripts/infra.sh"), args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const forward = (d: Buffer) => d.toString().split("\n").filter(Boolean).forEach((l) => log(`  ${l}`));
    child.stdout.on("data", forward);
    child.stderr.on("data", forward);
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`scripts/infra.sh ${args.join(" ")} exited with ${code}`))));
  });
}

/** Listening TCP ports and the pid holding each (from `ss -ltnpH`). */
export function parseListeners(ssOutput: string): Map<number, number | undefined> {
  const out = new Map<number, number | undefined>();
  for (const line of ssOutput.split("\n")) {
    const cols = line.trim().split(/\s+/);
    const port = Number(/:(\d+)$/.exec(cols[3] ?? "")?.[1]);
    if (!Number.isInteger(port) || port === 0) continue;
    const pid = /pid=(\d+)/.exec(line)?.[1];
    out.set(port, pid === undefined ? undefined : Number(pid));
  }
  return out;
}

/**
 * The infra scripts stop a server of the same kind that another checkout
 * left on a port; the bench must never do that to someone's running tests,
 * so it refuses to start when one of its ports is held by anything but its
 * own servers.
 */
function checkPortsFree(runDir: string, infra: readonly InfraName[]): void {
  let listeners: Map<number, number | undefined>;
  try {
    listeners = parseListeners(execFileSync("ss", ["-ltnpH"], { encoding: "utf8" }));
  } catch {
    return; // no ss: the scripts' own checks still apply
  }
  const own = new Set<number | undefined>(infra.flatMap((name) => infraPids(runDir, name)));
  const busy = Object.entries(p)
    .filter(([name, port]) => name !== "ceiling" && listeners.has(port) && !own.has(listeners.get(port)))
    .map(([name, port]) => `${port} (${name}, pid ${listeners.get(port) ?? "?"})`);
  if (busy.length > 0) {
    throw new Error(
      `bench ports already in use: ${busy.join(", ")}. Stop what holds them or pick another range with HIGHGOPRESS_BENCH_PORT_BASE (now ${p.gateway}).`,
    );
  }
}

function readPid(runDir: string, name: string): number | undefined {
  try {
    return Number(readFileSync(join(runDir, name, `${name}.pid`), "utf8").trim()) || undefined;
  } catch {
    return undefined;
  }
}

/** The processes of a server: one, or a Redis Cluster's six nodes. */
function infraPids(runDir: string, name: InfraName): number[] {
  const names = name === "redis-cluster" ? Array.from({ length: CLUSTER_NODES }, (_, i) => `${name}-${i}`) : [name];
  return names.map((n) => readPid(runDir, n)).filter((pid): pid is number => pid !== undefined);
}

/** A client of the bench's Redis, connected: a cluster client in cluster mode. */
async function connectRedis(redisMode: RedisMode): Promise<RedisClient> {
  const redis: RedisClient =
    redisMode === "cluster"
      ? new Cluster([{ host: "127.0.0.1", port: p.redisCluster }], { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 3 } })
      : new Redis(`redis://127.0.0.1:${p.redis}`, { lazyConnect: true, maxRetriesPerRequest: 3 });
  await redis.connect();
  if (redis instanceof Cluster && redis.status !== "ready") await new Promise((resolve) => redis.once("ready", resolve));
  return redis;
}

export interface RunningSystem {
  gatewayUrl: string;
  /** Where the counter keeps each key (the check reads them). */
  layout: ShardLayout;
  connectRedis(): Promise<RedisClient>;
  /** pids by name: the services and the infrastructure servers (a cluster's nodes all under "redis"). */
  pids(): Record<string, number | readonly number[] | undefined>;
  stop(keepInfra?: boolean): Promise<void>;
}

export async function startSystem(options: SystemOptions): Promise<RunningSystem> {
  const env = infraEnv(options.runDir);
  checkPortsFree(options.runDir, options.infra);
  options.log(`starting ${options.infra.join(", ")} (scripts/infra.sh, state in ${options.runDir})`);
  // The bench's cluster starts afresh (its data is flushed anyway): one left by a run on other ports could not form.
  if (options.infra.includes("redis-cluster") && infraPids(options.runDir, "redis-cluster").length === 0) {
    execFileSync(join(repoRoot, "scripts/redis-cluster.sh"), ["reset"], { env: { ...process.env, ...env }, stdio: "ignore" });
  }
  try {
    await runScript(["start", ...options.infra], env, options.log);
  } catch (err) {
    // What did start is stopped again, also after a failed start.
    await runScript(["stop", ...options.infra], env, options.log).catch(() => undefined);
    throw err;
  }
  if (options.infra.includes("redis") || options.infra.includes("redis-cluster")) {
    // The bench's own Redis starts empty every run: keys of earlier runs would
    // only make AOF rewrites (Redis CPU during the levels) grow from run to run.
    const redis = await connectRedis(options.redisMode);
    await Promise.all(redis instanceof Cluster ? redis.nodes("master").map((node) => node.flushall()) : [redis.flushall()]);
    redis.disconnect();
  }

  let services = new Map<ServiceName, ServiceProcess>();
  try {
    services = await startServices(
      SERVICES,
      (name) => ({
        env: { ...process.env, ...env, ...serviceEnv(options.redisMode), ...options.serviceEnv, ...(metricsPort[name] ? { METRICS_PORT: String(metricsPort[name]) } : {}) },
        logFile: join(options.runDir, "services", `${name}.log`),
        readyUrl: readyUrl(name),
        nodeArgs: options.profile.includes(name)
          ? ["--cpu-prof", `--cpu-prof-dir=${join(options.runDir, "profiles")}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`]
          : [],
      }),
      (s) => options.log(`${s.name} ready (pid ${s.child.pid}${options.profile.includes(s.name) ? ", --cpu-prof" : ""}; log ${s.logFile})`),
    );
  } catch (err) {
    await runScript(["stop", ...options.infra], env, options.log).catch(() => undefined);
    throw err;
  }
  options.log("system ready");

  return {
    gatewayUrl: `http://127.0.0.1:${p.gateway}`,
    layout: shardLayout(options.redisMode, Number(options.serviceEnv.REDIS_CLUSTER_SHARDS ?? DEFAULT_CLUSTER_SHARDS)),
    connectRedis: () => connectRedis(options.redisMode),
    pids: () => {
      const out: Record<string, number | readonly number[] | undefined> = {};
      for (const name of SERVICES) out[name] = services.get(name)?.child.pid;
      for (const name of options.infra) out[name === "redis-cluster" ? "redis" : name] = infraPids(options.runDir, name);
      return out;
    },
    async stop(keepInfra = false) {
      await stopServices(services);
      if (!keepInfra) await runScript(["stop", ...options.infra], env, options.log);
    },
  };
}
