/**
 * The autoscaler controller against a real kube-apiserver (etcd +
 * kube-apiserver + kube-controller-manager from scripts/k8s/up.sh; no kubelet,
 * so Deployments never get running pods — replicas are read from the scale
 * subresource) and a real Prometheus (Debian package) scraping a local
 * endpoint whose request rate the test sets.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  AppsV1Api,
  AutoscalingV2Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
} from "@kubernetes/client-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { loadConfig } from "../../services/autoscaler/config.js";
import { startController, type Controller } from "../../services/autoscaler/controller.js";
import { kubeGateway, type KubeGateway } from "../../services/autoscaler/kube-api.js";
import { prometheusReader } from "../../services/autoscaler/prometheus.js";
import { GROUP, PLURAL, VERSION, type AutoscalerStatus, type Condition } from "../../services/autoscaler/types.js";
import {
  ensureControlPlane,
  eventually,
  freePort,
  kubectlOk,
  logDir,
  raceTimeout,
  repoRoot,
  sleep,
  startPrometheus,
  startRateEndpoint,
  type RateEndpoint,
  type TestPrometheus,
} from "./support.js";

const suffix = randomBytes(3).toString("hex");
const crdFile = join(repoRoot, "charts/highgopress/crds/counterautoscalers.yaml");
const namespaces: string[] = [];
const controllers: Controller[] = [];

let kc: KubeConfig;
let apps: AppsV1Api;
let core: CoreV1Api;
let custom: CustomObjectsApi;
let rates: RateEndpoint;
let prometheus: TestPrometheus;
let ns: string;
let main: Controller;
const registries = new Map<string, Registry>();

const QUERY = 'sum(rate(hgp_test_requests_total{scenario="${name}"}[5s]))';

function logger(identity: string) {
  return pino({ level: "debug", base: { service: "autoscaler", identity } }, pino.destination({ dest: join(logDir, `autoscaler-${suffix}-${identity}.log`), mkdir: true, sync: true }));
}

function controllerEnv(namespace: string, identity: string, extra: Record<string, string> = {}) {
  return loadConfig({
    WATCH_NAMESPACE: namespace,
    POD_NAME: identity,
    LEASE_NAMESPACE: namespace,
    LEASE_NAME: "autoscaler-test",
    LEASE_DURATION_SECONDS: "4",
    LEASE_RENEW_DEADLINE_SECONDS: "3",
    LEASE_RETRY_PERIOD_SECONDS: "0.5",
    TICK_SECONDS: "1",
    RESYNC_SECONDS: "5",
    WATCH_TIMEOUT_SECONDS: "30",
    STATUS_REFRESH_SECONDS: "1",
    HPA_CHECK_SECONDS: "1",
    PROMETHEUS_URL: prometheus.url,
    PROMETHEUS_TIMEOUT_MS: "800",
    DEFAULT_METRIC_QUERY: QUERY,
    ...extra,
  });
}

async function start(namespace: string, identity: string, kube?: KubeGateway): Promise<Controller> {
  const registry = new Registry();
  registries.set(identity, registry);
  const c = await startController({
    kubeConfig: kc,
    config: controllerEnv(namespace, identity),
    logger: logger(identity),
    registry,
    kube,
  });
  controllers.push(c);
  return c;
}

async function createNamespace(base: string): Promise<string> {
  const name = `${base}-${suffix}`;
  await core.createNamespace({ body: { metadata: { name, labels: { "highgopress.io/test": "autoscaler" } } } });
  namespaces.push(name);
  return name;
}

async function createDeployment(namespace: string, name: string, replicas = 1): Promise<void> {
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name, labels: { app: name } },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { containers: [{ name: "counter", image: "registry.invalid/highgopress/never-runs:1" }] },
        },
      },
    },
  });
}

async function createCas(namespace: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: "CounterAutoscaler", metadata: { name }, spec },
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Cas = { metadata: { generation?: number }; spec: any; status?: AutoscalerStatus };
const getCas = async (namespace: string, name: string) =>
  (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name })) as Cas;

const replicas = async (namespace: string, name: string) =>
  (await apps.readNamespacedDeploymentScale({ namespace, name })).spec?.replicas ?? 0;

const condition = (s: AutoscalerStatus | undefined, type: Condition["type"]) => s?.conditions?.find((c) => c.type === type);

async function events(namespace: string, name: string) {
  const list = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.kind=CounterAutoscaler,involvedObject.name=${name}` });
  return list.items;
}

async function waitReplicas(namespace: string, name: string, want: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  await eventually(`${namespace}/${name} to have ${want} replicas`, async () => ((await replicas(namespace, name)) === want ? true : undefined), timeoutMs);
  return Date.now() - t0;
}

/** Waits until Prometheus returns a rate for the scenario's series. */
async function seriesReady(scenario: string): Promise<void> {
  const read = prometheusReader({ timeoutMs: 1000 });
  await eventually(`Prometheus to have the ${scenario} series`, async () =>
    (await read(prometheus.url, QUERY.replace("${name}", scenario))).ok ? true : undefined, 20_000);
}

const spec = (target: string, extra: Record<string, unknown> = {}) => ({
  scaleTargetRef: { name: target },
  minReplicas: 1,
  maxReplicas: 8,
  targetQPSPerReplica: 10,
  stableWindowSeconds: 10,
  panic: { windowSeconds: 2 },
  ...extra,
});

before(async () => {
  kc = ensureControlPlane();
  apps = kc.makeApiClient(AppsV1Api);
  core = kc.makeApiClient(CoreV1Api);
  custom = kc.makeApiClient(CustomObjectsApi);
  kubectlOk(["apply", "--server-side", "--force-conflicts", "-f", crdFile]);
  kubectlOk(["wait", "--for=condition=Established", "--timeout=60s", "crd/counterautoscalers.autoscaling.highgopress.io"]);
  rates = await startRateEndpoint();
  prometheus = await startPrometheus(`127.0.0.1:${rates.port}`);
  ns = await createNamespace("cas-it");
  main = await start(ns, "main");
  await eventually("the controller to lead", () => (main.isLeader() ? true : undefined), 15_000);
}, { timeout: 60 * 60_000 });

after(async () => {
  await Promise.all(controllers.map((c) => c.stop().catch(() => undefined)));
  await prometheus?.stop();
  await rates?.close();
  for (const name of namespaces) await core?.deleteNamespace({ name }).catch(() => undefined);
}, { timeout: 60_000 });

describe("CRD schema", { timeout: 60_000 }, () => {
  const invalid: [string, Record<string, unknown>, RegExp][] = [
    ["min > max", spec("x", { minReplicas: 5, maxReplicas: 2 }), /minReplicas must not exceed maxReplicas/],
    ["target 0", spec("x", { targetQPSPerReplica: 0 }), /targetQPSPerReplica/],
    ["fixed fallback without replicas", spec("x", { fallback: { mode: "fixed" } }), /fallback.replicas is required/],
    ["unknown selectPolicy", spec("x", { behavior: { scaleUp: { selectPolicy: "Sometimes" } } }), /selectPolicy/],
    ["panic window longer than stable window", spec("x", { panic: { windowSeconds: 30 } }), /panic.windowSeconds must not exceed/],
    ["confidence history shorter than two stable windows", spec("x", { confidence: { historySeconds: 15 } }), /confidence.historySeconds must be at least twice stableWindowSeconds/],
    ["missing scaleTargetRef", { maxReplicas: 3, targetQPSPerReplica: 1 }, /scaleTargetRef/],
    ["tolerance 1", spec("x", { tolerance: 1 }), /tolerance/],
    ["negative stabilization", spec("x", { behavior: { scaleDown: { stabilizationWindowSeconds: -1 } } }), /stabilizationWindowSeconds/],
    ["Percent policy without period", spec("x", { behavior: { scaleUp: { policies: [{ type: "Percent", value: 50 }] } } }), /periodSeconds/],
  ];
  for (const [what, body, message] of invalid) {
    test(`rejects ${what}`, async () => {
      await assert.rejects(createCas(ns, `invalid-${randomBytes(3).toString("hex")}`, body), (err: { code?: number; body?: unknown }) => {
        assert.equal(err.code, 422, `expected 422, got ${err.code}: ${String(err.body)}`);
        assert.match(String(err.body), message);
        return true;
      });
    });
  }

  test("fills HPA and Knative defaults", async () => {
    await createCas(ns, "defaults", { scaleTargetRef: { name: "nothing-here" }, maxReplicas: 3, targetQPSPerReplica: 5 });
    const got = await getCas(ns, "defaults");
    assert.equal(got.spec.minReplicas, 1);
    assert.equal(got.spec.tolerance, 0.1);
    assert.equal(got.spec.stableWindowSeconds, 60);
    assert.deepEqual(got.spec.panic, { enabled: true, windowSeconds: 6, threshold: 2 });
    assert.deepEqual(got.spec.behavior.scaleUp, {
      stabilizationWindowSeconds: 0,
      selectPolicy: "Max",
      policies: [
        { type: "Pods", value: 4, periodSeconds: 15 },
        { type: "Percent", value: 100, periodSeconds: 15 },
      ],
    });
    // No default window: left unset, confident scaling decides scale-down.
    assert.deepEqual(got.spec.behavior.scaleDown, { selectPolicy: "Max", policies: [{ type: "Percent", value: 100, periodSeconds: 15 }] });
    assert.deepEqual(got.spec.confidence, { historySeconds: 300, margin: 4.5 });
    assert.deepEqual(got.spec.fallback, { mode: "hold", failureThreshold: 3 });
    assert.equal(got.spec.paused, false);
    assert.deepEqual(got.spec.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "nothing-here" });
    // The controller reports the missing Deployment instead of doing anything.
    const status = await eventually("status of a CounterAutoscaler without target", async () => {
      const s = (await getCas(ns, "defaults")).status;
      return condition(s, "Ready")?.reason === "FailedGetScale" ? s : undefined;
    }, 15_000);
    assert.match(condition(status, "Ready")!.message, /not found/);
    const printed = kubectlOk(["get", "cas", "-n", ns, "defaults"]);
    assert.match(printed, /TARGET\s+MIN\s+MAX\s+QPS\/REPLICA\s+QPS\s+REPLICAS\s+AGE/);
    assert.match(printed, /defaults\s+nothing-here\s+1\s+3\s+5/);
  });

  test("the example CounterAutoscaler in k8s/examples is valid", () => {
    const out = kubectlOk(["apply", "--dry-run=server", "-n", ns, "-f", join(repoRoot, "k8s/examples/counterautoscaler.yaml")]);
    assert.match(out, /counterautoscaler.autoscaling.highgopress.io\/counter created \(server dry run\)/);
  });
});

describe("scaling with a real Prometheus", { timeout: 240_000 }, () => {
  test("replicas follow the QPS up, status and events are written, and scale-down waits for the stabilization window", async (t) => {
    await createDeployment(ns, "follow");
    rates.setRate("follow", 0);
    await createCas(ns, "follow", spec("follow", { behavior: { scaleDown: { stabilizationWindowSeconds: 15 } } }));
    await eventually("the metric to be available", async () =>
      condition((await getCas(ns, "follow")).status, "MetricAvailable")?.status === "True" ? true : undefined, 30_000);
    assert.equal(await replicas(ns, "follow"), 1);

    // Up: 45 QPS at 10 per replica → 5 replicas (rates off round numbers: a
    // Prometheus rate of 50.01 would rightly ask for 6).
    rates.setRate("follow", 45);
    const upMs = await waitReplicas(ns, "follow", 5, 30_000);
    const cas = await eventually("status after scale-up", async () => {
      const c = await getCas(ns, "follow");
      return c.status?.currentReplicas === 5 ? c : undefined;
    }, 10_000);
    const s = cas.status!;
    assert.equal(s.desiredReplicas, 5);
    assert.equal(s.observedGeneration, cas.metadata.generation);
    assert.ok(s.lastScaleTime, "lastScaleTime set");
    assert.ok(Math.abs((s.currentQPS ?? 0) - 45) < 8, `currentQPS ≈ 45, got ${s.currentQPS}`);
    for (const [type, status] of [["Ready", "True"], ["ScalingActive", "True"], ["AbleToScale", "True"], ["MetricAvailable", "True"], ["Fallback", "False"]] as const) {
      assert.equal(condition(s, type)?.status, status, `${type}: ${JSON.stringify(condition(s, type))}`);
    }
    const ev = await events(ns, "follow");
    const rescale = ev.find((e) => e.reason === "SuccessfulRescale" && /New size: 5/.test(e.message ?? ""));
    assert.ok(rescale, `SuccessfulRescale event, got ${ev.map((e) => `${e.reason}: ${e.message}`).join(" | ")}`);
    assert.equal(rescale.type, "Normal");
    assert.equal(rescale.source?.component, "highgopress-autoscaler");
    // Prometheus needs ~5 s (rate over 5 s, 1 s scrape) to see the step; then one or two ticks.
    assert.ok(upMs < 15_000, `scaled up within 15 s of the step (took ${upMs} ms)`);

    // Down: 8 QPS → 1 replica, but only after the 15 s scale-down stabilization window.
    const dropAt = Date.now();
    rates.setRate("follow", 8);
    while (Date.now() - dropAt < 15_000) {
      assert.equal(await replicas(ns, "follow"), 5, `scaled down ${Date.now() - dropAt} ms after the drop, before the 15 s window`);
      await sleep(500);
    }
    await waitReplicas(ns, "follow", 1, 40_000);
    const downAfter = Date.now() - dropAt;
    assert.ok(downAfter >= 15_000);
    t.diagnostic(`step 1 → 5 replicas in ${upMs} ms after the rate changed; 5 → 1 after ${downAfter} ms (window 15 s)`);
    // The Event is recorded right after the scale write, so it may trail the replica count.
    await eventually("a SuccessfulRescale event to size 1", async () => {
      const ev2 = await events(ns, "follow");
      return ev2.some((e) => e.reason === "SuccessfulRescale" && /New size: 1/.test(e.message ?? "")) ? true : undefined;
    }, 10_000);

    // The controller's own metrics carry the CounterAutoscaler's namespace and name.
    const labels = `namespace="${ns}",name="follow"`;
    // current_replicas is what the last tick read, before it scaled: wait for a tick at 1.
    const text = await eventually("metrics of a tick at 1 replica", async () => {
      const t = await registries.get("main")!.metrics();
      return new RegExp(`^highgopress_autoscaler_current_replicas\\{${labels}\\} 1$`, "m").test(t) ? t : undefined;
    }, 5000);
    assert.match(text, new RegExp(`^highgopress_autoscaler_desired_replicas\\{${labels}\\} 1$`, "m"));
    const scaled = Number(new RegExp(`^highgopress_autoscaler_scale_events_total\\{${labels}\\} (\\d+)$`, "m").exec(text)?.[1]);
    assert.ok(scaled >= 2, `at least one scale up and one down, got ${scaled}`);
    assert.match(text, new RegExp(`^highgopress_autoscaler_panic_mode\\{${labels}\\} 0$`, "m"));
    assert.match(text, new RegExp(`^highgopress_autoscaler_observed_qps\\{${labels}\\} `, "m"));
    assert.match(text, new RegExp(`^highgopress_autoscaler_decision_duration_seconds_count\\{${labels}\\} \\d+`, "m"));
    assert.match(text, new RegExp(`^highgopress_autoscaler_metric_errors_total\\{${labels}\\} \\d+`, "m"));
    assert.match(text, /^highgopress_autoscaler_leader 1$/m);
  });

  test("spec changes are picked up and reflected in observedGeneration", async () => {
    rates.setRate("follow", 45);
    await custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name: "follow", body: [{ op: "replace", path: "/spec/maxReplicas", value: 3 }] },
    );
    await waitReplicas(ns, "follow", 3, 30_000);
    const c = await eventually("observedGeneration to follow and the 45 QPS to hit maxReplicas", async () => {
      const x = await getCas(ns, "follow");
      const limited = condition(x.status, "ScalingLimited");
      return x.status?.observedGeneration === x.metadata.generation && limited?.status === "True" ? x : undefined;
    }, 20_000);
    assert.equal(c.status?.desiredReplicas, 3);
    assert.equal(condition(c.status, "ScalingLimited")?.reason, "TooManyReplicas");
    await sleep(3000);
    assert.equal(await replicas(ns, "follow"), 3, "maxReplicas holds");
  });

  test("refuses to act when an HPA already targets the Deployment", async () => {
    await createDeployment(ns, "fought");
    await kc.makeApiClient(AutoscalingV2Api).createNamespacedHorizontalPodAutoscaler({
      namespace: ns,
      body: {
        metadata: { name: "fought-hpa" },
        spec: {
          scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "fought" },
          minReplicas: 1,
          maxReplicas: 3,
          metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 80 } } }],
        },
      },
    });
    rates.setRate("fought", 60);
    await createCas(ns, "fought", spec("fought"));
    const status = await eventually("HPAConflict condition", async () => {
      const s = (await getCas(ns, "fought")).status;
      return condition(s, "Ready")?.reason === "HPAConflict" ? s : undefined;
    }, 20_000);
    assert.equal(condition(status, "AbleToScale")?.status, "False");
    assert.match(condition(status, "Ready")!.message, /fought-hpa/);
    await sleep(8000); // long enough for 60 QPS to have scaled to 6
    assert.equal(await replicas(ns, "fought"), 1);
    const ev = await events(ns, "fought");
    assert.ok(ev.some((e) => e.reason === "HPAConflict" && e.type === "Warning"));
    assert.ok(!ev.some((e) => e.reason === "SuccessfulRescale"));
  });

  test("the informer survives a restart and keeps picking up new CounterAutoscalers", async () => {
    const before = main.watch.restarts();
    await main.watch.restart("test");
    assert.equal(main.watch.restarts(), before + 1);
    await createDeployment(ns, "late");
    rates.setRate("late", 15);
    await createCas(ns, "late", spec("late"));
    await waitReplicas(ns, "late", 2, 30_000);
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: ns, name: "late" });
    await eventually("the worker to be dropped", () => (main.workers().has(`${ns}/late`) ? undefined : true), 10_000);
  });
});

describe("leader election", { timeout: 120_000 }, () => {
  test("two controller instances never both act; the standby takes over when the leader releases", async () => {
    const ns2 = await createNamespace("cas-lease");
    const writes: { who: string; at: number; replicas: number }[] = [];
    const recording = (who: string): KubeGateway => {
      const real = kubeGateway(kc, { component: "highgopress-autoscaler", identity: who, hpaCacheMs: 1000 });
      return {
        ...real,
        async writeScale(namespace, deployment, n, rv) {
          writes.push({ who, at: Date.now(), replicas: n });
          return real.writeScale(namespace, deployment, n, rv);
        },
      };
    };
    const a = await start(ns2, "a", recording("a"));
    await eventually("a to lead", () => (a.isLeader() ? true : undefined), 10_000);
    const b = await start(ns2, "b", recording("b"));
    await createDeployment(ns2, "elect");
    rates.setRate("elect", 25);
    await createCas(ns2, "elect", spec("elect"));

    const until = Date.now() + 12_000;
    while (Date.now() < until) {
      assert.ok(!(a.isLeader() && b.isLeader()), "both instances think they lead");
      await sleep(100);
    }
    assert.equal(await replicas(ns2, "elect"), 3);
    assert.ok(writes.length > 0 && writes.every((w) => w.who === "a"), `only the leader writes: ${JSON.stringify(writes)}`);
    const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: ns2, name: "autoscaler-test" });
    assert.equal(lease.spec?.holderIdentity, "a");

    // The leader shuts down and hands the lease back; b takes over and acts.
    const stoppedAt = Date.now();
    await a.stop();
    await eventually("b to lead", () => (b.isLeader() ? true : undefined), 10_000);
    const takeoverMs = Date.now() - stoppedAt;
    assert.ok(takeoverMs < 4000, `takeover after release in ${takeoverMs} ms (lease duration 4 s)`);
    rates.setRate("elect", 55);
    await waitReplicas(ns2, "elect", 6, 30_000);
    const late = writes.filter((w) => w.at > stoppedAt);
    assert.ok(late.length > 0 && late.every((w) => w.who === "b"), `after the handover only b writes: ${JSON.stringify(late)}`);
    const lease2 = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace: ns2, name: "autoscaler-test" });
    assert.equal(lease2.spec?.holderIdentity, "b");
    assert.ok((lease2.spec?.leaseTransitions ?? 0) >= 1);
  });

  test("the service releases its lease on SIGTERM (main.ts + onShutdown)", async () => {
    const ns3 = await createNamespace("cas-sigterm");
    const metricsPort = await freePort();
    const child = spawn(process.execPath, [join(repoRoot, "dist/services/autoscaler/main.js")], {
      env: {
        ...process.env,
        KUBECONFIG: process.env.KUBECONFIG,
        WATCH_NAMESPACE: ns3,
        POD_NAME: "proc-1",
        LEASE_NAME: "autoscaler-proc",
        METRICS_PORT: String(metricsPort),
        HOST: "127.0.0.1",
        PROMETHEUS_URL: prometheus.url,
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const coord = kc.makeApiClient(CoordinationV1Api);
      await eventually("proc-1 to hold the lease", async () =>
        (await coord.readNamespacedLease({ namespace: ns3, name: "autoscaler-proc" })).spec?.holderIdentity === "proc-1" ? true : undefined, 20_000);
      const metrics = await eventually("/metrics to report leadership", async () => {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        return /^highgopress_autoscaler_leader 1$/m.test(text) ? text : undefined;
      }, 10_000);
      assert.match(metrics, /process_cpu_seconds_total/);
      assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200);
      child.kill("SIGTERM");
      const code = await Promise.race([exited, raceTimeout(15_000).then(() => "timeout" as const)]);
      assert.equal(code, 0, `exit code after SIGTERM (stderr: ${stderr})`);
      const lease = await coord.readNamespacedLease({ namespace: ns3, name: "autoscaler-proc" });
      assert.ok(!lease.spec?.holderIdentity, `lease released, holder ${lease.spec?.holderIdentity}`);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});

describe("Prometheus outage", { timeout: 120_000 }, () => {
  test("fixed fallback goes to its replica count, hold keeps the current one", async () => {
    await createDeployment(ns, "outage");
    await createDeployment(ns, "outage-hold");
    rates.setRate("outage", 15);
    rates.setRate("outage-hold", 25);
    // A series Prometheus has not scraped yet is "no data", which counts as a
    // failure: wait for both, or the fixed fallback would fire at once.
    await seriesReady("outage");
    await seriesReady("outage-hold");
    await createCas(ns, "outage", spec("outage", { fallback: { mode: "fixed", replicas: 4, failureThreshold: 2 } }));
    await createCas(ns, "outage-hold", spec("outage-hold"));
    await waitReplicas(ns, "outage", 2, 30_000);
    await waitReplicas(ns, "outage-hold", 3, 30_000);

    await prometheus.stop();
    await waitReplicas(ns, "outage", 4, 20_000);
    const s = await eventually("fallback conditions", async () => {
      const st = (await getCas(ns, "outage")).status;
      return condition(st, "Fallback")?.status === "True" ? st : undefined;
    }, 10_000);
    assert.equal(condition(s, "Fallback")?.reason, "FixedReplicas");
    assert.equal(condition(s, "MetricAvailable")?.status, "False");
    assert.match(condition(s, "MetricAvailable")!.message, /unreachable/);
    assert.equal(condition(s, "ScalingActive")?.reason, "FailedGetMetric");
    // Events are recorded right after the status write.
    const ev = await eventually("the fallback events", async () => {
      const list = await events(ns, "outage");
      return list.some((e) => e.reason === "FallbackActive") ? list : undefined;
    }, 5000);
    assert.ok(ev.some((e) => e.reason === "FailedGetMetric" && e.type === "Warning"));
    assert.ok(ev.some((e) => e.reason === "SuccessfulRescale" && /New size: 4; reason: Fallback/.test(e.message ?? "")));

    const hold = await eventually("hold fallback", async () => {
      const st = (await getCas(ns, "outage-hold")).status;
      return condition(st, "Fallback")?.reason === "Hold" ? st : undefined;
    }, 10_000);
    assert.equal(hold.desiredReplicas, 3);
    assert.equal(await replicas(ns, "outage-hold"), 3);
  });
});
