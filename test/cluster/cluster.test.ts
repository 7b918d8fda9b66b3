/**
 * End to end on a real single-node Kubernetes (scripts/k8s/node-up.sh:
 * kubelet, containerd, CoreDNS, kube-proxy) with the images built locally
 * and the chart installed as `make cluster-up` installs it. Every check is
 * something a user sees: pods Ready, the README's requests answered through
 * the gateway Service, writes spread over every counter pod, rankings,
 * metrics and traces in the in-cluster Prometheus and Jaeger, the counter
 * scaled out and back by the CounterAutoscaler under load, and pod
 * deletions and a rolling upgrade under load with a ledger of every
 * acknowledged increment. Load goes from this machine to the Services'
 * cluster IPs, bounded in count and time.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Redis } from "ioredis";
import { helm, helmBin, kubectl, kubectlBin, repoRoot, runOk } from "../chart/tools.js";
import { counterKey } from "../../services/counter/store.js";
import { clusterLayout, DEFAULT_CLUSTER_SHARDS, STANDALONE } from "../../services/lib/redis-shards.js";
import { checkLedger, IncrementLedger, percentile, runLedgerLoad, runLoad, summarize, type Outcome } from "../faults/support/load.js";
import { eventually, http, raceTimeout, sleep } from "../support/stack.js";
import {
  allReady,
  autoscalerReading,
  autoscalerWarnings,
  clusterNodes,
  clusterProblems,
  componentPods,
  counterCalls,
  counterReplicas,
  describePods,
  gatewayUrl,
  helmUpgrade,
  kubectlJson,
  NAMESPACE,
  nodeDown,
  nodeUp,
  podLogs,
  pods,
  promQuery,
  redisCli,
  redisClient,
  RELEASE,
  serviceIP,
  uninstallRelease,
} from "./support.js";

const hex = (n: number) => randomBytes(n).toString("hex");
const report = (what: string, figures: unknown) => console.log(`cluster: ${what}: ${typeof figures === "string" ? figures : JSON.stringify(figures)}`);
const keepNode = process.env.HIGHGOPRESS_KEEP_NODE === "1";

let gateway = "";
let redis: Redis | undefined;

before(() => nodeUp(), { timeout: 90 * 60_000 });
after(async () => {
  redis?.disconnect();
  if (!keepNode) nodeDown();
});

describe("the chart on a real node", { timeout: 40 * 60_000 }, () => {
  test("helm install: every pod of the release Ready, none restarted", { timeout: 15 * 60_000 }, async () => {
    // A release left by make cluster-up is replaced, so the time measured is a fresh install.
    if (helm(["status", RELEASE, "-n", NAMESPACE]).status === 0) {
      runOk(helmBin, ["uninstall", RELEASE, "-n", NAMESPACE, "--wait", "--timeout", "5m"], { timeoutMs: 6 * 60_000 });
    }
    kubectl(["delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=180s"], { timeoutMs: 200_000 });
    const started = Date.now();
    helmUpgrade();
    // The counter Deployment leaves its replica count to the CounterAutoscaler,
    // which raises it to minReplicas on its first reconcile.
    await eventually("the counter at minReplicas", () => (componentPods("counter").filter((p) => p.ready).length >= 2 ? true : undefined), 120_000, 1_000);
    const list = await allReady();
    report("helm install to all pods Ready", `${((Date.now() - started) / 1000).toFixed(0)} s, ${list.length} pods: ${list.map((p) => p.name).join(", ")}`);
    for (const component of ["gateway", "counter", "analytics", "autoscaler", "redis", "kafka", "prometheus", "jaeger"]) {
      assert.ok(list.some((p) => p.component === component), `no ${component} pod:\n${describePods()}`);
    }
    assert.deepEqual(list.filter((p) => p.restarts > 0).map((p) => `${p.name}: ${p.restarts} restarts`), []);
    gateway = gatewayUrl();
    redis = redisClient();
  });

  test("the README's requests answer as documented through the gateway Service", async () => {
    const id = `readme-${hex(4)}`;
    const inc = await http("POST", `${gateway}/api/v1/counter/increment`, { resource_id: id, counter_type: "like", delta: 1 }, { "Idempotency-Key": `key-${id}` });
    assert.equal(inc.status, 200, JSON.stringify(inc.body));
    assert.equal(inc.body.status, "success");
    assert.deepEqual({ ...inc.body.data, timestamp: 0 }, { resource_id: id, counter_type: "like", current_value: 1, success: true, timestamp: 0 });
    const again = await http("POST", `${gateway}/api/v1/counter/increment`, { resource_id: id, counter_type: "like", delta: 1 }, { "Idempotency-Key": `key-${id}` });
    assert.equal(again.body.data.current_value, 1, "a repeated Idempotency-Key counts once");
    const read = await http("GET", `${gateway}/api/v1/counter/${id}/like`);
    assert.equal(read.body.data.current_value, 1);
    const batch = await http("POST", `${gateway}/api/v1/counter/batch-increment`, {
      operations: [
        { resource_id: id, counter_type: "like", delta: 1 },
        { resource_id: `${id}-2`, counter_type: "view", delta: 5 },
      ],
    });
    assert.equal(batch.status, 200, JSON.stringify(batch.body));
    assert.deepEqual(batch.body.data.results.map((r: any) => r.current_value), [2, 5]);
    const reads = await http("POST", `${gateway}/api/v1/counter/batch`, { queries: [{ resource_id: id, counter_type: "like" }, { resource_id: `${id}-2`, counter_type: "view" }] });
    assert.deepEqual(reads.body.data.results.map((r: any) => r.current_value), [2, 5]);
    const top = await eventually("the ranking to show the writes", async () => {
      const r = await http("GET", `${gateway}/api/v1/analytics/top?counter_type=like&limit=100&time_range=24h&page=1`);
      return r.body.data?.items?.some((i: any) => i.resource_id === id && i.value === 2) ? r : undefined;
    }, 60_000, 500);
    assert.equal(top.body.data.counter_type, "like");
    const stats = await http("GET", `${gateway}/api/v1/analytics/stats/${id}/like?time_range=24h`);
    assert.equal(stats.status, 200, JSON.stringify(stats.body));
    assert.equal(stats.body.data.total, 2);
    assert.equal((await http("GET", `${gateway}/api/v1/health`)).body.data.status, "healthy");
    assert.equal((await http("GET", `${gateway}/healthz`)).status, 200);
    assert.equal((await http("GET", `${gateway}/readyz`)).status, 200);
    assert.match((await http("GET", `${gateway}/metrics`)).body, /highgopress_gateway_coalesced_batch_size_bucket/);
  });

  test("the gateway spreads increments over every counter pod through the headless Service's DNS", async () => {
    const counters = componentPods("counter").filter((p) => p.ready);
    assert.ok(counters.length >= 2, `expected at least 2 counter pods, got ${counters.length}`);
    const type = `spread${hex(3)}`;
    const increments = (i: number) => ({ method: "POST" as const, path: "/api/v1/counter/increment", body: JSON.stringify({ resource_id: `s${i}`, counter_type: type }) });
    // A gateway that started while only one counter pod was Ready learns of
    // the other when its connection reaches GRPC_MAX_CONNECTION_AGE_MS (30 s)
    // and the name is resolved again: light load until every pod has had calls.
    const initial = await Promise.all(counters.map((p) => counterCalls(p.ip)));
    const warmup = Date.now();
    await eventually("every counter pod to get calls from the gateways", async () => {
      await runLoad({ origin: gateway, connections: 4, durationMs: 1_000, maxRequests: 100, next: increments });
      const now = await Promise.all(counters.map((p) => counterCalls(p.ip)));
      return now.every((n, k) => n > initial[k]!) ? true : undefined;
    }, 90_000, 0);
    report("every counter pod had calls", `${((Date.now() - warmup) / 1000).toFixed(0)} s after the first warm-up request`);
    const beforeCalls = await Promise.all(counters.map((p) => counterCalls(p.ip)));
    const load = await runLoad({
      origin: gateway,
      connections: 16,
      durationMs: 30_000,
      maxRequests: 3_000,
      next: increments,
    });
    assert.equal(load.byStatus["200"], load.requests, summarize(load));
    const calls = (await Promise.all(counters.map((p) => counterCalls(p.ip)))).map((n, k) => n - beforeCalls[k]!);
    const total = calls.reduce((a, b) => a + b, 0);
    const shares = counters.map((p, k) => `${p.name} ${((100 * calls[k]!) / total).toFixed(0)} %`);
    report("gRPC calls per counter pod", `${total} calls for ${load.requests} increments: ${shares.join(", ")}`);
    for (const [k, p] of counters.entries()) assert.ok(calls[k]! >= total / (counters.length * 3), `${p.name} got ${calls[k]} of ${total} calls`);
  });

  test("in-cluster Prometheus scrapes every pod through Kubernetes service discovery", async () => {
    const scraped = pods().filter((p) => ["gateway", "counter", "analytics", "autoscaler"].includes(p.component));
    const up = await eventually("every service pod to be an up target", async () => {
      const series = await promQuery(`up{namespace="${NAMESPACE}"}`);
      const upPods = new Set(series.filter((s) => s.value[1] === "1").map((s) => s.metric.pod));
      return scraped.every((p) => upPods.has(p.name)) ? series : undefined;
    }, 90_000, 2_000);
    report("Prometheus up targets", up.map((s) => `${s.metric.pod}=${s.value[1]}`).join(", "));
  });

  test("a request with a sampled traceparent is one trace in the in-cluster Jaeger: gateway, counter, analytics", async () => {
    const traceId = hex(16);
    const r = await http("POST", `${gateway}/api/v1/counter/increment`, { resource_id: `trace-${hex(3)}`, counter_type: "like" }, { traceparent: `00-${traceId}-${hex(8)}-01` });
    assert.equal(r.status, 200);
    const jaeger = `http://${serviceIP("jaeger")}:16686`;
    const services = await eventually("the trace in Jaeger with gateway, counter and analytics spans", async () => {
      const t = await http("GET", `${jaeger}/api/traces/${traceId}`);
      if (t.status !== 200 || !t.body.data?.[0]) return undefined;
      const trace = t.body.data[0];
      const names = new Set(Object.values(trace.processes as Record<string, { serviceName: string }>).map((p) => p.serviceName));
      // Analytics spans are linked to the batch that carried the event; they appear in the trace of the request.
      return ["highgopress-gateway", "highgopress-counter", "highgopress-analytics"].every((n) => names.has(n)) ? [...names] : undefined;
    }, 90_000, 2_000);
    report("services in the trace", services.join(", "));
  });

  test("the CounterAutoscaler scales the counter out under load and back down after it", { timeout: 10 * 60_000 }, async () => {
    const autoscaler = `${RELEASE}-counter`;
    const target = (qps: number) => runOk(kubectlBin, ["-n", NAMESPACE, "patch", "counterautoscaler", autoscaler, "--type", "merge", "-p", JSON.stringify({ spec: { targetQPSPerReplica: qps } })]);
    const released = kubectlJson<{ spec: { targetQPSPerReplica: number } }>(["-n", NAMESPACE, "get", "counterautoscaler", autoscaler]).spec.targetQPSPerReplica;
    target(100);
    try {
      const min = counterReplicas();
      const original = new Set(componentPods("counter").map((p) => p.name));
      const type = `scale${hex(3)}`;
      let stop = false;
      const started = Date.now();
      // 1,000 increments/s offered against 100 per replica: the autoscaler wants
      // more than the 2 pods it has even when the box, shared with the other
      // tests, serves half of what is offered.
      const load = runLoad({
        origin: gateway,
        connections: 32,
        durationMs: 240_000,
        maxRequests: 400_000,
        ratePerSecond: 1_000,
        stop: () => stop,
        next: (i) => ({ method: "POST", path: "/api/v1/counter/increment", body: JSON.stringify({ resource_id: `a${i % 5000}`, counter_type: type }) }),
      });
      let newPodServing = 0;
      try {
        newPodServing = await eventually("a new counter pod serving requests", async () => {
          const fresh = componentPods("counter").filter((p) => !original.has(p.name) && p.ready && p.ip);
          for (const p of fresh) if ((await counterCalls(p.ip).catch(() => 0)) > 0) return Date.now() - started;
          return undefined;
        }, 200_000, 1_000).catch((err) => {
          throw new Error(`${(err as Error).message}\nautoscaler: ${autoscalerReading()}\nwarnings:\n${autoscalerWarnings()}\n${describePods()}`);
        });
      } finally {
        stop = true;
      }
      const summary = await load;
      const peak = counterReplicas();
      report("scale out", `a new counter pod served requests ${(newPodServing / 1000).toFixed(0)} s after the load started; replicas ${min} -> ${peak}; load ${summarize(summary)}`);
      assert.ok(peak > min);
      // Idle capacity after the step: every replica above the minimum, each second until the minimum is back.
      const ended = Date.now();
      let idlePodSeconds = 0;
      let last = ended;
      // The load leaves the autoscaler's 120 s history (k8s/values-node.yaml)
      // at most about 155 s after it ended (Prometheus's 30 s rate window and a
      // scrape later); the wait allows twice that. Distinct readings are kept,
      // so a slow scale-down says what held it.
      const readings: string[] = [];
      await eventually(
        `the counter back at ${min} replicas`,
        () => {
          const replicas = counterReplicas();
          const now = Date.now();
          idlePodSeconds += (Math.max(0, replicas - min) * (now - last)) / 1000;
          last = now;
          const reading = `${((now - ended) / 1000).toFixed(0)} s: ${autoscalerReading()}`;
          if (readings.at(-1)?.replace(/^\d+ s: /, "") !== reading.replace(/^\d+ s: /, "")) readings.push(reading);
          return replicas === min ? true : undefined;
        },
        300_000,
        1_000,
      ).catch((err) => {
        throw new Error(`${(err as Error).message}\nautoscaler readings:\n${readings.slice(-15).join("\n")}\nautoscaler warnings:\n${autoscalerWarnings()}`);
      });
      report("scale down", `back to ${min} replicas ${((Date.now() - ended) / 1000).toFixed(0)} s after the load ended; idle capacity after the load ${idlePodSeconds.toFixed(0)} pod·s`);
      report("autoscaler readings after the load", readings.slice(-6).join(" | "));
      await allReady();
    } finally {
      target(released);
    }
  });

  describe("faults under load, every acknowledged increment accounted for", () => {
    /** Paced increments over `ms` while `fault` runs; returns the ledger check and the outcomes. */
    async function underLoad(name: string, fault: () => Promise<void>, ms = 18_000) {
      const ledger = new IncrementLedger(`${name.replaceAll(" ", "-")}-${hex(3)}-`, "like");
      const { done, outcomes } = runLedgerLoad(ledger, { origin: gateway, connections: 16, durationMs: ms, ratePerSecond: 300, timeoutMs: 10_000 });
      await sleep(3_000);
      await fault();
      const summary = await done;
      const check = await checkLedger({ redis: redis!, counterKey: (r, t) => counterKey(STANDALONE, r, t) }, ledger);
      const failed = outcomes.filter((o) => o.status !== 200);
      report(name, {
        load: summarize(summary),
        acknowledged: check.acknowledged,
        failed: failed.length,
        failedByStatus: summary.byStatus,
        lost: check.problems.length,
        inDoubt: check.inDoubt,
      });
      assert.deepEqual(check.problems.slice(0, 5), [], `${check.problems.length} increments not where they should be`);
      assert.ok(check.acknowledged >= summary.requests / 2, `only ${check.acknowledged} of ${summary.requests} increments acknowledged`);
      return { check, failed, outcomes };
    }
    const deletePod = (name: string) => runOk(kubectlBin, ["-n", NAMESPACE, "delete", "pod", name, "--wait=false"]);

    test("deleting the analytics pod: writes through the gateway keep succeeding", async () => {
      const { failed } = await underLoad("delete analytics pod", async () => {
        deletePod(componentPods("analytics")[0]!.name);
      });
      assert.equal(failed.length, 0, `failed requests: ${JSON.stringify(failed.slice(0, 3))}`);
      await allReady();
    });

    test("deleting a counter pod: no acknowledged increment lost", async () => {
      await underLoad("delete counter pod", async () => {
        deletePod(componentPods("counter")[0]!.name);
      });
      await allReady();
    });

    test("helm upgrade with a changed pod template (rolling update) under load: no failed request", { timeout: 10 * 60_000 }, async () => {
      const { failed } = await underLoad("rolling upgrade", async () => {
        helmUpgrade(["--reuse-values", "--set-string", `components.gateway.podAnnotations.rollout=${hex(4)}`, "--set-string", `components.counter.podAnnotations.rollout=${hex(4)}`]);
      }, 20_000);
      assert.equal(failed.length, 0, `failed requests: ${JSON.stringify(failed.slice(0, 3))}`);
      await allReady();
    });

    test("restarting the Redis pod: fast 503s during the gap, then full recovery", { timeout: 6 * 60_000 }, async () => {
      const { outcomes } = await underLoad("restart redis pod", async () => {
        deletePod(`${RELEASE}-redis-0`);
      }, 30_000);
      const refusals = outcomes.filter((o: Outcome) => o.status === 503);
      const late = outcomes.slice(-100);
      report("redis gap", `${refusals.length} answered 503, P99 of those ${percentile(refusals.map((o) => o.latencyMs), 99).toFixed(0)} ms; last 100 requests: ${late.filter((o) => o.status === 200).length} x 200`);
      assert.ok(refusals.every((o) => o.latencyMs < 5_000), "every 503 came within 5 s");
      assert.ok(late.every((o) => o.status === 200), `after the restart every request succeeds again: ${JSON.stringify(late.filter((o) => o.status !== 200).slice(0, 3))}`);
      await allReady();
    });
  });

  test("helm uninstall leaves nothing of the release", { timeout: 6 * 60_000 }, async () => {
    redis?.disconnect();
    redis = undefined;
    assert.deepEqual(await uninstallRelease(), []);
  });

  describe("Redis Cluster mode (redis.mode=cluster): 3 primaries with a replica each, on local volumes", () => {
    // Only what the requests go through: the gateway, one counter, Kafka and analytics.
    const values = ["--set", "redis.mode=cluster,components.gateway.replicas=1,components.counter.replicas=1,components.autoscaler.enabled=false,counterAutoscaler.enabled=false,prometheus.enabled=false,jaeger.enabled=false"];
    const PRIMARIES = 3;
    const layout = clusterLayout(DEFAULT_CLUSTER_SHARDS);
    const redisPods = () => componentPods("redis").filter((p) => !p.deleting);
    // Four resources per shard, so every primary holds some; one more per shard to probe writes.
    const byShard = (prefix: string, perShard: number) => {
      const taken = new Map<number, number>();
      const ids: string[] = [];
      for (let i = 0; ids.length < perShard * DEFAULT_CLUSTER_SHARDS; i++) {
        const shard = layout.shardOf(`${prefix}${i}`);
        if ((taken.get(shard) ?? 0) < perShard) {
          taken.set(shard, (taken.get(shard) ?? 0) + 1);
          ids.push(`${prefix}${i}`);
        }
      }
      return ids;
    };
    const acknowledged = new Map<string, number>();
    const run = hex(3);

    async function writeRound(): Promise<void> {
      for (const id of byShard(`rc-${run}-`, 4)) {
        const r = await http("POST", `${gateway}/api/v1/counter/increment`, { resource_id: id, counter_type: "like", delta: 1 });
        assert.equal(r.status, 200, `increment of ${id}: ${JSON.stringify(r.body)}`);
        acknowledged.set(id, (acknowledged.get(id) ?? 0) + 1);
      }
    }
    /** Every acknowledged increment reads back through the gateway. */
    async function readsMatch(): Promise<void> {
      const ids = [...acknowledged.keys()];
      const r = await http("POST", `${gateway}/api/v1/counter/batch`, { queries: ids.map((resource_id) => ({ resource_id, counter_type: "like" })) });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const wrong = ids.flatMap((id, k) => (r.body.data.results[k].current_value === acknowledged.get(id) ? [] : [`${id}: ${r.body.data.results[k].current_value} of ${acknowledged.get(id)}`]));
      assert.deepEqual(wrong, []);
    }
    /** Waits for every pod's view to be the deployed layout, then for writes on every shard. */
    async function healed(what: string, since: number): Promise<void> {
      await eventually(`every Redis pod to see ${PRIMARIES} primaries with a replica each`, () => {
        const problems = redisPods().map((p) => clusterProblems(p.name, PRIMARIES)).filter(Boolean);
        return problems.length === 0 ? true : undefined;
      }, 180_000, 2_000).catch((err) => {
        const views = redisPods().map((p) => `${p.name}: ${clusterProblems(p.name, PRIMARIES) || "ok"}`).join("\n");
        throw new Error(`${(err as Error).message}\n${views}\n${podLogs(redisPods(), 20)}`);
      });
      const cluster = Date.now();
      const probes = byShard(`probe-${run}-${hex(2)}-`, 1);
      let refused: string[] = [];
      await eventually("a write to every shard to succeed", async () => {
        const answers = await Promise.all(probes.map((resource_id) => http("POST", `${gateway}/api/v1/counter/increment`, { resource_id, counter_type: "like" })));
        refused = answers.flatMap((a, k) => (a.status === 200 ? [] : [`${probes[k]}: ${a.status} ${JSON.stringify(a.body)}`]));
        return refused.length === 0 ? true : undefined;
      }, 60_000, 500).catch((err) => {
        // A write waits for a replica (redis.cluster.waitReplicas): each node's replication, as it sees it.
        const replication = redisPods().map((p) => `${p.name} ${p.ip}: ${redisCli(p.name, "info replication").split("\n").filter((l) => /^(role|connected_slaves|slave\d|master_host|master_link_status):/.test(l)).join(" ")}`).join("\n");
        throw new Error(`${(err as Error).message}\nlast refusals:\n${refused.join("\n")}\n${replication}\n${podLogs(componentPods("counter"), 30)}`);
      });
      report(what, `the cluster whole again after ${((cluster - since) / 1000).toFixed(0)} s, writes on all ${probes.length} shards after ${((Date.now() - since) / 1000).toFixed(0)} s`);
      if (acknowledged.size) await readsMatch();
      await writeRound();
      await readsMatch();
    }

    test("helm install: six Redis nodes form the cluster and increments answer through the gateway", { timeout: 15 * 60_000 }, async () => {
      const started = Date.now();
      helmUpgrade(values);
      const list = await allReady();
      report("Redis Cluster release: helm install to all pods Ready", `${((Date.now() - started) / 1000).toFixed(0)} s, ${list.length} pods`);
      assert.equal(redisPods().length, PRIMARIES * 2);
      gateway = gatewayUrl();
      await eventually("an increment through the gateway", async () => {
        const r = await http("POST", `${gateway}/api/v1/counter/increment`, { resource_id: `rc-${run}-first`, counter_type: "like" });
        return r.status === 200 ? r : undefined;
      }, 60_000, 1_000);
      await healed("Redis Cluster installed", started);
    });

    test("a Redis primary's pod back on a new, empty volume: it rejoins as a replica, the cluster forgets the node it was, nothing acknowledged is lost", { timeout: 6 * 60_000 }, async () => {
      const view = clusterNodes(redisPods()[0]!.name);
      const primary = view.find((n) => n.flags.includes("master") && n.slots.length > 0)!;
      // The claim goes with the pod, so the StatefulSet gives the new pod a new, empty volume.
      runOk(kubectlBin, ["-n", NAMESPACE, "delete", "pvc", `data-${primary.pod}`, "--wait=false"]);
      const deleted = Date.now();
      runOk(kubectlBin, ["-n", NAMESPACE, "delete", "pod", primary.pod, "--wait=false"]);
      await healed(`${primary.pod} back empty`, deleted);
      const now = clusterNodes(primary.pod).find((n) => n.flags.includes("myself"))!;
      assert.notEqual(now.id, primary.id, "the pod came back as a new node");
      assert.ok(now.flags.includes("slave"), `${primary.pod} rejoined as ${now.flags.join(",")}`);
    });

    test("a primary left without a replica while another has two gets one of them back", { timeout: 6 * 60_000 }, async () => {
      const view = clusterNodes(redisPods()[0]!.name);
      const [x, y] = view.filter((n) => n.flags.includes("master") && n.slots.length > 0);
      const replicaOfX = view.find((n) => n.flags.includes("slave") && n.primaryId === x!.id)!;
      redisCli(replicaOfX.pod, `cluster replicate ${y!.id}`);
      await healed(`${x!.pod} left without a replica`, Date.now());
    });

    test("every Redis pod deleted at once: back at new IPs, the nodes find each other, nothing acknowledged is lost", { timeout: 8 * 60_000 }, async () => {
      const before = new Map(redisPods().map((p) => [p.name, p.ip]));
      runOk(kubectlBin, ["-n", NAMESPACE, "delete", "pod", "-l", `app.kubernetes.io/instance=${RELEASE},app.kubernetes.io/component=redis`, "--wait=false"]);
      const deleted = Date.now();
      const back = await eventually("six new Redis pods Ready", () => {
        const list = redisPods();
        return list.length === PRIMARIES * 2 && list.every((p) => p.ready && p.ip !== before.get(p.name)) ? list : undefined;
      }, 240_000, 1_000).catch((err) => {
        throw new Error(`${(err as Error).message}\n${describePods()}`);
      });
      report("Redis pods' IPs", back.map((p) => `${p.name} ${before.get(p.name)} -> ${p.ip}`).join(", "));
      await healed("every Redis pod restarted", deleted);
    });

    test("helm uninstall of the Redis Cluster release leaves nothing", { timeout: 6 * 60_000 }, async () => {
      assert.deepEqual(await uninstallRelease(), []);
    });
  });

  describe("skaffold on this node (scripts/k8s/skaffold.sh, profile local-node)", () => {
    const skaffold = join(repoRoot, "scripts/k8s/skaffold.sh");
    const gatewayImages = () => componentPods("gateway").map((p) => p.image);

    test("skaffold run deploys the chart on its own tag of the image of these sources, and the API answers", { timeout: 15 * 60_000 }, async () => {
      const started = Date.now();
      runOk(skaffold, ["run", "--status-check=true"], { timeoutMs: 14 * 60_000 });
      await allReady();
      report("skaffold run", `${((Date.now() - started) / 1000).toFixed(0)} s to a deployed, Ready release; gateway image ${gatewayImages()[0]}`);
      assert.ok(gatewayImages().every((image) => /(^|\/)highgopress:[0-9a-f]{64}$/.test(image)), `gateway runs ${gatewayImages().join(", ")}, not skaffold's build`);
      // Right after a deploy the gateway may have resolved the counter's headless
      // Service before any counter pod was ready; it resolves again within seconds.
      await eventually("an increment through the gateway", async () => {
        const r = await http("POST", `${gatewayUrl()}/api/v1/counter/increment`, { resource_id: `skaffold-${hex(3)}`, counter_type: "like" });
        return r.status === 200 ? r : undefined;
      }, 30_000, 1_000);
    });

    test("skaffold dev: a change to a source file is served by the redeployed pods", { timeout: 15 * 60_000 }, async () => {
      const source = join(repoRoot, "services/gateway/app.ts");
      const original = readFileSync(source, "utf8");
      const line = 'app.get("/healthz", untraced, async () => ({ status: "ok" }));';
      assert.ok(original.includes(line), "services/gateway/app.ts no longer has the /healthz line this test edits");
      const marker = `dev-${hex(4)}`;
      const log: string[] = [];
      const dev = spawn(skaffold, ["dev", "--status-check=true", "--cleanup=true"], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], detached: true });
      dev.stdout.on("data", (d: Buffer) => log.push(d.toString()));
      dev.stderr.on("data", (d: Buffer) => log.push(d.toString()));
      const exited = new Promise<void>((resolve) => dev.once("exit", () => resolve()));
      try {
        await eventually("skaffold dev to deploy and watch", () => (/Watching for changes/.test(log.join("")) ? true : undefined), 10 * 60_000, 1_000).catch((err) => {
          throw new Error(`${(err as Error).message}\n${log.join("").slice(-3000)}`);
        });
        const changed = Date.now();
        writeFileSync(source, original.replace(line, `app.get("/healthz", untraced, async () => ({ status: "ok", build: "${marker}" }));`));
        const served = await eventually("the changed /healthz served through the gateway Service", async () => {
          const r = await http("GET", `${gatewayUrl()}/healthz`).catch(() => undefined);
          return r?.body?.build === marker ? Date.now() - changed : undefined;
        }, 10 * 60_000, 1_000).catch((err) => {
          throw new Error(`${(err as Error).message}\n${log.join("").slice(-3000)}`);
        });
        report("skaffold dev inner loop", `${(served / 1000).toFixed(0)} s from saving services/gateway/app.ts to the new answer through the gateway Service`);
        await allReady();
      } finally {
        process.kill(-dev.pid!, "SIGINT");
        await Promise.race([exited, raceTimeout(120_000)]);
        writeFileSync(source, original);
      }
      assert.notEqual(helm(["status", RELEASE, "-n", NAMESPACE]).status, 0, "skaffold dev removes its release when it ends");
    });
  });
});
