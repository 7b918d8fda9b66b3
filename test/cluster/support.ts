/**
 * The end-to-end suite's view of the local node (scripts/k8s/node-up.sh):
 * the release installed the way `make cluster-up` installs it, its pods and
 * Services, and clients that reach them from this machine through the
 * Services' cluster IPs (kube-proxy) and the pods' own addresses.
 */
import { join } from "node:path";
import { Redis } from "ioredis";
import { helm, helmBin, k8sRunDir, kubectl, kubectlBin, repoRoot, runOk } from "../chart/tools.js";
import { eventually, http } from "../support/stack.js";

export const RELEASE = "highgopress";
export const NAMESPACE = "highgopress";
const nodeRun = join(k8sRunDir, "node");

/** Starts the control plane and the node, building tools and images when needed. */
export function nodeUp(): void {
  runOk(join(repoRoot, "scripts/k8s/node-up.sh"), [], { timeoutMs: 90 * 60_000, live: true });
}

/** Stops the node and undoes its changes to the machine (the control plane stays). */
export function nodeDown(): void {
  runOk(join(repoRoot, "scripts/k8s/node-down.sh"), [], { timeoutMs: 5 * 60_000 });
}

/** `helm upgrade --install` as make cluster-up runs it, plus `extra`; waits for every pod to be Ready. */
export function helmUpgrade(extra: string[] = [], opts: { wait?: boolean } = {}): void {
  const r = helm(
    [
      "upgrade", "--install", RELEASE, join(repoRoot, "charts/highgopress"),
      "--namespace", NAMESPACE, "--create-namespace",
      "-f", join(repoRoot, "k8s/values-node.yaml"), "-f", join(nodeRun, "images-values.yaml"),
      ...(opts.wait === false ? [] : ["--wait", "--timeout", "10m"]),
      ...extra,
    ],
    { timeoutMs: 11 * 60_000 },
  );
  if (r.status !== 0) throw new Error(`helm upgrade exited ${r.status}: ${r.stderr}\n${describePods()}`);
}

/** Pod phases, readiness and recent events, for failure messages. */
export function describePods(): string {
  return kubectl(["-n", NAMESPACE, "get", "pods", "-o", "wide"]).stdout + kubectl(["-n", NAMESPACE, "get", "events", "--sort-by=.lastTimestamp"]).stdout.split("\n").slice(-25).join("\n");
}

export function kubectlJson<T = any>(args: string[]): T {
  return JSON.parse(runOk(kubectlBin, [...args, "-o", "json"])) as T;
}

export interface PodInfo {
  name: string;
  ip: string;
  ready: boolean;
  restarts: number;
  deleting: boolean;
  component: string;
  phase: string;
  /** The image of its first container. */
  image: string;
}

export function pods(selector = `app.kubernetes.io/instance=${RELEASE}`): PodInfo[] {
  const list = kubectlJson<{ items: any[] }>(["-n", NAMESPACE, "get", "pods", "-l", selector]);
  return list.items.map((p) => ({
    name: p.metadata.name,
    ip: p.status.podIP ?? "",
    phase: p.status.phase,
    image: p.spec.containers[0]?.image ?? "",
    component: p.metadata.labels?.["app.kubernetes.io/component"] ?? "",
    deleting: Boolean(p.metadata.deletionTimestamp),
    ready: (p.status.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True"),
    restarts: (p.status.containerStatuses ?? []).reduce((n: number, c: any) => n + c.restartCount, 0),
  }));
}

export const componentPods = (component: string) => pods(`app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=${component}`);

/** The last `tail` log lines of each pod, under its name and restart count, for failure messages. */
export function podLogs(list: PodInfo[], tail: number): string {
  return list.map((p) => `${p.name} (restarts ${p.restarts}):\n${kubectl(["-n", NAMESPACE, "logs", p.name, `--tail=${tail}`]).stdout}`).join("\n");
}

export function serviceIP(component: string): string {
  return runOk(kubectlBin, ["-n", NAMESPACE, "get", "svc", `${RELEASE}-${component}`, "-o", "jsonpath={.spec.clusterIP}"]).trim();
}

export const gatewayUrl = () => `http://${serviceIP("gateway")}:8080`;

/** A client of the release's Redis through its Service, with the generated password. */
export function redisClient(): Redis {
  const password = Buffer.from(runOk(kubectlBin, ["-n", NAMESPACE, "get", "secret", `${RELEASE}-secrets`, "-o", "jsonpath={.data.redis-password}"]), "base64").toString();
  const redis = new Redis({ host: serviceIP("redis"), port: 6379, password, lazyConnect: false, maxRetriesPerRequest: 3 });
  // The Redis pod is restarted by a test: the client reconnects, its errors meanwhile are expected.
  redis.on("error", () => undefined);
  return redis;
}

/** The replica count the counter Deployment asks for. */
export function counterReplicas(): number {
  return kubectlJson<{ spec: { replicas: number } }>(["-n", NAMESPACE, "get", "deployment", `${RELEASE}-counter`]).spec.replicas;
}

/** The CounterAutoscaler's last written reading: its Ready condition's message (QPS band, rule, replicas). */
export function autoscalerReading(): string {
  const list = kubectlJson<{ items: Array<{ status?: { conditions?: Array<{ type: string; message: string }> } }> }>(["-n", NAMESPACE, "get", "counterautoscalers"]);
  return list.items[0]?.status?.conditions?.find((c) => c.type === "Ready")?.message ?? "no status yet";
}

/** The autoscaler's log lines that say why it did not act: failed metric reads, ticks, scaling. */
export function autoscalerWarnings(): string {
  return kubectl(["-n", NAMESPACE, "logs", "-l", "app.kubernetes.io/component=autoscaler", "--tail=200"]).stdout.split("\n").filter((l) => /"level":"(warn|error)"/.test(l)).slice(-10).join("\n");
}

/** gRPC calls a counter pod has handled (all methods, all codes), from its own /metrics. */
export async function counterCalls(podIP: string): Promise<number> {
  const text = await (await fetch(`http://${podIP}:9101/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith("highgopress_grpc_server_handling_seconds_count{") && l.includes('grpc_service="highgopress.counter.v1.CounterService"'))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

/** Waits until every pod of the release is Ready (or, a Job's, done) and none is terminating. */
export async function allReady(timeoutMs = 180_000): Promise<PodInfo[]> {
  return eventually(
    "every pod of the release Ready",
    () => {
      const list = pods();
      // A Job's pod (the Redis Cluster's bootstrap) is done, not Ready.
      return list.length > 0 && list.every((p) => p.phase === "Succeeded" || (p.ready && !p.deleting)) ? list : undefined;
    },
    timeoutMs,
    1_000,
  ).catch((err) => {
    throw new Error(`${(err as Error).message}\n${describePods()}`);
  });
}

/** A Prometheus instant query against the in-cluster Prometheus. */
export async function promQuery(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const r = await http("GET", `http://${serviceIP("prometheus")}:9090/api/v1/query?query=${encodeURIComponent(expr)}`);
  if (r.status !== 200) throw new Error(`Prometheus answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.data.result;
}

/** `redis-cli <args>` in a Redis pod of the release, with the password the pod has. */
export function redisCli(pod: string, args: string): string {
  return runOk(kubectlBin, ["-n", NAMESPACE, "exec", pod, "-c", "redis", "--", "sh", "-c", `REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ${args}`]).replaceAll("\r", "");
}

export interface ClusterNode {
  id: string;
  ip: string;
  /** The pod it announces (cluster-announce-hostname), without the Service's domain. */
  pod: string;
  flags: string[];
  primaryId: string;
  link: string;
  slots: string[];
}

/** A pod's view of the Redis Cluster: its CLUSTER NODES, parsed. */
export function clusterNodes(pod: string): ClusterNode[] {
  return redisCli(pod, "cluster nodes")
    .trim()
    .split("\n")
    .map((line) => {
      const [id, addr, flags, primaryId, , , , link, ...slots] = line.split(" ");
      const [ipPort, host = ""] = addr!.split(",");
      return { id: id!, ip: ipPort!.split(":")[0]!, pod: host.split(".")[0]!, flags: flags!.split(","), primaryId: primaryId!, link: link!, slots };
    });
}

/**
 * What keeps a pod's view of the Redis Cluster from the layout the chart
 * deploys (`primaries` primaries with slots, one connected replica each,
 * nothing failed or left over, replication up), or "" when it has it.
 */
export function clusterProblems(pod: string, primaries: number): string {
  const nodes = clusterNodes(pod);
  const problems: string[] = [];
  if (!/^cluster_state:ok$/m.test(redisCli(pod, "cluster info"))) problems.push("cluster_state not ok");
  const odd = nodes.filter((n) => n.flags.some((f) => ["fail", "fail?", "handshake", "noaddr"].includes(f)) || (!n.flags.includes("myself") && n.link !== "connected"));
  if (odd.length) problems.push(`not healthy: ${odd.map((n) => `${n.pod || n.id} ${n.flags.join(",")} ${n.link}`).join("; ")}`);
  const withSlots = nodes.filter((n) => n.flags.includes("master") && n.slots.length > 0);
  if (withSlots.length !== primaries) problems.push(`${withSlots.length} primaries with slots`);
  for (const p of withSlots) {
    const replicas = nodes.filter((n) => n.flags.includes("slave") && n.primaryId === p.id);
    if (replicas.length !== 1) problems.push(`${p.pod} has ${replicas.length} replicas`);
  }
  if (nodes.length !== primaries * 2) problems.push(`${nodes.length} nodes known`);
  const me = nodes.find((n) => n.flags.includes("myself"));
  if (me?.flags.includes("slave") && !/^master_link_status:up$/m.test(redisCli(pod, "info replication"))) problems.push("replication link down");
  return problems.length ? `${pod}: ${problems.join(", ")}` : "";
}

/** `helm uninstall`, then waits until no object or pod of the release is left; returns what is left after 3 min. */
export async function uninstallRelease(): Promise<string[]> {
  runOk(helmBin, ["uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "5m"], { timeoutMs: 6 * 60_000 });
  const kinds = "all,configmaps,secrets,serviceaccounts,roles,rolebindings,poddisruptionbudgets,networkpolicies,persistentvolumeclaims,leases,counterautoscalers";
  const left = () => [
    ...kubectlJson<{ items: any[] }>(["-n", NAMESPACE, "get", kinds, "-l", `app.kubernetes.io/instance=${RELEASE}`]).items.map((i) => `${i.kind}/${i.metadata.name}`),
    ...pods().map((p) => `Pod/${p.name}`),
  ];
  return eventually("the release's objects to be gone", () => (left().length === 0 ? [] : undefined), 180_000, 2_000).catch(() => left());
}
