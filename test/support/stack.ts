/**
 * Starts the three services as real processes against the Redis and Kafka
 * that the project's scripts started, isolated per run: their own ports,
 * Kafka topic, outbox stream and consumer group, so runs never see each
 * other's events.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { setTimeout as after } from "node:timers/promises";
import { Cluster, Redis } from "ioredis";
import { counterKey, outboxStreams } from "../../services/counter/store.js";
import type { RedisClient } from "../../services/lib/redis.js";
import { DEFAULT_CLUSTER_SHARDS, shardLayout, type RedisMode, type ShardLayout } from "../../services/lib/redis-shards.js";
import { Kafka, logLevel } from "kafkajs";
import { repoRoot, startService, startServices, stopServices, type ServiceName, type ServiceOptions, type ServiceProcess } from "../../tools/local-system.js";

export { repoRoot, type ServiceName };
export const runDir = process.env.HIGHGOPRESS_RUN ?? join(repoRoot, ".run");
export const redisUrl = process.env.TEST_REDIS_URL ?? `redis://127.0.0.1:${process.env.REDIS_PORT ?? 6379}`;
/** The cluster scripts/redis-cluster.sh starts (its first node; clients discover the rest). */
export const redisClusterNodes = process.env.TEST_REDIS_CLUSTER_NODES ?? `127.0.0.1:${process.env.REDIS_CLUSTER_PORT ?? 7000}`;
export const kafkaBrokers = process.env.TEST_KAFKA_BROKERS ?? `127.0.0.1:${process.env.KAFKA_PORT ?? 9092}`;

/**
 * `count` distinct ports free on 127.0.0.1. Each is held open until all are
 * found (a port closed and asked for again can come straight back, which
 * once gave the gateway and the counter the same one), and they are taken
 * below the kernel's ephemeral range (32768 and up), which the machine's own
 * outgoing connections draw from.
 */
export async function freePorts(count: number): Promise<number[]> {
  const held = new Map<number, Server>();
  try {
    for (let attempt = 0; held.size < count; attempt++) {
      if (attempt > 1000) throw new Error(`no ${count} free ports in 20000-29999 on 127.0.0.1`);
      const port = 20000 + Math.floor(Math.random() * 10000);
      if (held.has(port)) continue;
      const server = createServer();
      const listening = await new Promise<boolean>((resolve) => {
        server.once("error", () => resolve(false));
        server.listen(port, "127.0.0.1", () => resolve(true));
      });
      if (listening) held.set(port, server);
    }
    return [...held.keys()];
  } finally {
    await Promise.all([...held.values()].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * The timeout side of a Promise.race: it does not hold the process open, so
 * a test file whose race was won exits when its work is done rather than
 * when the timer fires (a file's process is waited for by the runner).
 */
export const raceTimeout = (ms: number) => after(ms, undefined, { ref: false });

/** Polls until `check` returns a value other than undefined, or fails with `what`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(everyMs);
  }
}

export interface Stack {
  runId: string;
  gatewayUrl: string;
  ports: { gateway: number; counter: number; counterMetrics: number; analytics: number; analyticsMetrics: number };
  env: Record<string, string>;
  /** The services' Redis: a cluster client in cluster mode. */
  redis: RedisClient;
  layout: ShardLayout;
  /** A counter's key as the counter service names it in this mode. */
  counterKey(resourceId: string, counterType: string): string;
  /** A counter type unique to this run, so rankings only hold this run's data. */
  counterType(name: string): string;
  start(name: ServiceName): Promise<void>;
  /** Sends the signal and waits for the process to exit. */
  kill(name: ServiceName, signal?: NodeJS.Signals): Promise<number | null>;
  process(name: ServiceName): ChildProcess | undefined;
  stop(): Promise<void>;
}

export interface StackOptions {
  env?: Record<string, string>;
  /** standalone (the default) or cluster: the services on the cluster scripts/redis-cluster.sh started. */
  redisMode?: RedisMode;
  services?: ServiceName[];
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const runId = randomBytes(4).toString("hex");
  const [gateway, counter, counterMetrics, analytics, analyticsMetrics] = (await freePorts(5)) as [number, number, number, number, number];
  const ports = { gateway, counter, counterMetrics, analytics, analyticsMetrics };
  const logDir = join(runDir, "test-logs");
  const env: Record<string, string> = {
    HOST: "127.0.0.1",
    REDIS_URL: redisUrl,
    KAFKA_BROKERS: kafkaBrokers,
    KAFKA_TOPIC: `counter-events-${runId}`,
    OUTBOX_STREAM: `outbox:test-${runId}`,
    ANALYTICS_GROUP_ID: `analytics-${runId}`,
    ANALYTICS_TOP_CACHE_SECONDS: "1",
    GATEWAY_PORT: String(ports.gateway),
    COUNTER_GRPC_PORT: String(ports.counter),
    ANALYTICS_GRPC_PORT: String(ports.analytics),
    COUNTER_ADDR: `127.0.0.1:${ports.counter}`,
    ANALYTICS_ADDR: `127.0.0.1:${ports.analytics}`,
    SHUTDOWN_GRACE_MS: "5000",
    LOG_LEVEL: "info",
    ...(options.redisMode === "cluster" ? { REDIS_MODE: "cluster", REDIS_CLUSTER_NODES: redisClusterNodes } : {}),
    ...options.env,
  };
  const layout = shardLayout(options.redisMode ?? "standalone", Number(env.REDIS_CLUSTER_SHARDS ?? DEFAULT_CLUSTER_SHARDS));
  const metricsPort: Record<ServiceName, string> = {
    gateway: String(ports.gateway),
    counter: String(ports.counterMetrics),
    analytics: String(ports.analyticsMetrics),
  };
  const readyUrl: Record<ServiceName, string> = {
    gateway: `http://127.0.0.1:${ports.gateway}/readyz`,
    counter: `http://127.0.0.1:${ports.counterMetrics}/readyz`,
    analytics: `http://127.0.0.1:${ports.analyticsMetrics}/readyz`,
  };
  const services = new Map<ServiceName, ServiceProcess>();
  const redis: RedisClient =
    options.redisMode === "cluster"
      ? new Cluster(redisClusterNodes.split(",").map((node) => ({ host: node.split(":")[0]!, port: Number(node.split(":")[1]) })))
      : new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 3 });
  const optionsFor = (name: ServiceName): ServiceOptions => ({
    env: { ...process.env, ...env, METRICS_PORT: metricsPort[name] },
    logFile: join(logDir, `${runId}-${name}.log`),
    readyUrl: readyUrl[name],
    readyTimeoutMs: 60_000,
  });

  async function start(name: ServiceName): Promise<void> {
    services.set(name, await startService(name, optionsFor(name)));
  }

  async function kill(name: ServiceName, signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    const service = services.get(name);
    if (!service) return null;
    services.delete(name);
    return service.stop(signal);
  }

  const stack: Stack = {
    runId,
    gatewayUrl: `http://127.0.0.1:${ports.gateway}`,
    ports,
    env,
    redis,
    layout,
    counterKey: (resourceId, counterType) => counterKey(layout, resourceId, counterType),
    counterType: (name) => `${name}_${runId}`,
    start,
    kill,
    process: (name) => services.get(name)?.child,
    async stop() {
      await stopServices(services);
      services.clear();
      // What only this run used goes, so repeated runs do not pile up topics and streams.
      await Promise.all(outboxStreams(layout, env.OUTBOX_STREAM!).map(({ key }) => redis.del(key).catch(() => undefined)));
      redis.disconnect();
      const admin = new Kafka({ clientId: "test-cleanup", brokers: env.KAFKA_BROKERS!.split(","), logLevel: logLevel.NOTHING }).admin();
      await admin
        .connect()
        .then(() => admin.deleteTopics({ topics: [env.KAFKA_TOPIC!], timeout: 5_000 }))
        .catch(() => undefined)
        .finally(() => admin.disconnect());
    },
  };
  try {
    for (const [name, service] of await startServices(options.services ?? ["counter", "analytics", "gateway"], optionsFor)) services.set(name, service);
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}

/** The pids of the stack's services: equal before and after a fault means none was restarted. */
export const servicePids = (stack: Stack) => ({
  gateway: stack.process("gateway")?.pid,
  counter: stack.process("counter")?.pid,
  analytics: stack.process("analytics")?.pid,
});

export interface HttpResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function http<T = any>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult<T>> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Non-JSON answers are returned as text so the assertion shows them.
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

/** Runs one of the project's infrastructure scripts (e.g. kafka stop). */
export async function infra(script: "redis" | "redis-cluster" | "kafka", command: "start" | "stop"): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn("bash", [join(repoRoot, "scripts", `${script}.sh`), command], { stdio: ["ignore", "inherit", "inherit"] });
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`scripts/${script}.sh ${command} exited with ${code}`))));
  });
}
