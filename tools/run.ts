/**
 * `make run`: Redis, Kafka, Prometheus and Jaeger through scripts/infra.sh,
 * then the three services on their default ports, the URLs printed. Ctrl-C
 * stops everything, and so does a service exiting on its own.
 * HIGHGOPRESS_KEEP_INFRA=1 leaves the servers running after Ctrl-C.
 * REDIS_MODE=cluster runs it on a local 6-node Redis Cluster instead
 * (scripts/redis-cluster.sh).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot, startServices, stopServices, type ServiceName, type ServiceProcess } from "./local-system.js";

const runDir = process.env.HIGHGOPRESS_RUN ?? join(repoRoot, ".run");
const gatewayPort = process.env.GATEWAY_PORT ?? "8080";
const metricsPort: Record<Exclude<ServiceName, "gateway">, string> = { counter: "9101", analytics: "9102" };
const say = (line: string) => console.log(`==> run: ${line}`);
const cluster = process.env.REDIS_MODE === "cluster";
const clusterPort = Number(process.env.REDIS_CLUSTER_PORT ?? 7000);
const redisEnv = cluster ? { REDIS_CLUSTER_NODES: process.env.REDIS_CLUSTER_NODES ?? `127.0.0.1:${clusterPort}` } : {};

function infra(command: "start" | "stop"): void {
  const args = command === "start" ? ["start", cluster ? "redis-cluster" : "redis", "kafka", "prometheus", "jaeger"] : ["stop"];
  const r = spawnSync(join(repoRoot, "scripts/infra.sh"), args, { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`scripts/infra.sh ${command} failed (exit ${r.status})`);
}

let services = new Map<ServiceName, ServiceProcess>();
// One stop, whoever asks first (Ctrl-C reaches the services too, so one may exit before our handler runs).
let stopping: Promise<never> | undefined;
function stopAll(code: number): Promise<never> {
  stopping ??= (async () => {
    console.log();
    say("stopping services");
    await stopServices(services);
    if (process.env.HIGHGOPRESS_KEEP_INFRA !== "1") infra("stop");
    say("stopped");
    process.exit(code);
  })();
  return stopping;
}
process.on("SIGINT", () => void stopAll(130));
process.on("SIGTERM", () => void stopAll(130));

try {
  infra("start");
  services = await startServices(
    ["counter", "analytics", "gateway"],
    (name) => ({
      env: { ...process.env, ...redisEnv, HOST: process.env.HOST ?? "127.0.0.1", ...(name === "gateway" ? {} : { METRICS_PORT: metricsPort[name] }) },
      logFile: join(runDir, "services", `${name}.log`),
      readyUrl: `http://127.0.0.1:${name === "gateway" ? gatewayPort : metricsPort[name]}/readyz`,
    }),
    (s) => say(`${s.name} ready (pid ${s.child.pid}, log ${s.logFile})`),
  );
} catch (err) {
  console.error(`==> run: ${(err as Error).message}`);
  await stopAll(1);
}

console.log(`
HighGoPress is running:
  API         http://127.0.0.1:${gatewayPort}/api/v1/health
  try         curl -s -XPOST http://127.0.0.1:${gatewayPort}/api/v1/counter/increment -H 'content-type: application/json' -d '{"resource_id":"article_1","counter_type":"like"}'
  metrics     http://127.0.0.1:${gatewayPort}/metrics, :${metricsPort.counter}/metrics (counter), :${metricsPort.analytics}/metrics (analytics)
  Redis       ${cluster ? `cluster on 127.0.0.1:${clusterPort}-${clusterPort + 5} (3 primaries, 3 replicas; scripts/redis-cluster.sh cli = redis-cli -c)` : `127.0.0.1:${process.env.REDIS_PORT ?? "6379"} (scripts/redis.sh cli)`}
  Prometheus  http://127.0.0.1:${process.env.PROMETHEUS_PORT ?? "9090"}
  Jaeger      http://127.0.0.1:${process.env.JAEGER_UI_PORT ?? "16686"} (query API under /api)
  logs        ${join(runDir, "services")}/*.log
Press Ctrl-C to stop everything.`);

for (const s of services.values()) {
  s.child.once("exit", () => {
    if (stopping) return;
    console.error(`==> run: ${s.name} exited on its own; see ${s.logFile}`);
    void stopAll(1);
  });
}
