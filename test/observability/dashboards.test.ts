/**
 * The chart's Grafana dashboards and Prometheus alert rules against a real
 * Prometheus: after a short mixed load on the locally started system (the
 * three services, plus the autoscaler controller reconciling a
 * CounterAutoscaler against the local kube-apiserver), every query of every
 * dashboard panel and the query of every alert rule returns at least one
 * series. A panel with no data is a bug: usually a renamed metric or label.
 *
 * Prometheus is the test's own process (Debian package, temp dir, free
 * port, 1 s scrape, exemplar storage, the chart's rule files), scraping the
 * stack's ports under the job names the chart uses (gateway, counter,
 * analytics, autoscaler).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import type { Server } from "node:http";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { Registry } from "prom-client";
import { loadConfig } from "../../services/autoscaler/config.js";
import { startController, type Controller } from "../../services/autoscaler/controller.js";
import { GROUP, PLURAL, VERSION } from "../../services/autoscaler/types.js";
import { startOpsServer } from "../../services/lib/ops-server.js";
import { ensureControlPlane, kubectlOk } from "../autoscaler/support.js";
import { eventually, freePort, repoRoot, runDir, startStack, type Stack } from "../support/stack.js";
import {
  alertQuery,
  alertRuleFiles,
  alertRules,
  grafanaExpr,
  hex,
  loadDashboards,
  mixedLoad,
  OTLP_URL,
  panelQueries,
  PROMTOOL_BIN,
  startTestPrometheus,
  type TestPrometheus,
} from "./support.js";

const suffix = hex(3);
let stack: Stack;
let prometheus: TestPrometheus;
let kc: KubeConfig;
let controller: Controller | undefined;
let autoscalerOps: Server | undefined;
let namespace: string | undefined;

async function startAutoscaler(promUrl: string, port: number): Promise<void> {
  kc = ensureControlPlane();
  kubectlOk(["apply", "--server-side", "--force-conflicts", "-f", join(repoRoot, "charts/highgopress/crds/counterautoscalers.yaml")]);
  kubectlOk(["wait", "--for=condition=Established", "--timeout=60s", "crd/counterautoscalers.autoscaling.highgopress.io"]);
  const core = kc.makeApiClient(CoreV1Api);
  namespace = `obs-${suffix}`;
  await core.createNamespace({ body: { metadata: { name: namespace, labels: { "highgopress.io/test": "observability" } } } });
  // No kubelet on the local control plane: the Deployment never runs pods; the autoscaler only reads and writes its scale.
  await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: "counter", labels: { app: "counter" } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "counter" } },
        template: { metadata: { labels: { app: "counter" } }, spec: { containers: [{ name: "counter", image: "registry.invalid/highgopress/never-runs:1" }] } },
      },
    },
  });
  const registry = new Registry();
  const logger = pino({ level: "info", base: { service: "autoscaler" } }, pino.destination({ dest: join(runDir, "test-logs", `observability-autoscaler-${suffix}.log`), mkdir: true, sync: false }));
  controller = await startController({
    kubeConfig: kc,
    logger,
    registry,
    config: loadConfig({
      WATCH_NAMESPACE: namespace,
      POD_NAME: `obs-${suffix}`,
      LEASE_NAMESPACE: namespace,
      LEASE_NAME: "autoscaler-observability",
      LEASE_DURATION_SECONDS: "4",
      LEASE_RENEW_DEADLINE_SECONDS: "3",
      LEASE_RETRY_PERIOD_SECONDS: "0.5",
      TICK_SECONDS: "1",
      RESYNC_SECONDS: "5",
      STATUS_REFRESH_SECONDS: "1",
      HPA_CHECK_SECONDS: "1",
      PROMETHEUS_URL: promUrl,
      PROMETHEUS_TIMEOUT_MS: "800",
      // The counter's own increment rate, as in production (minus the namespace label a cluster scrape adds).
      DEFAULT_METRIC_QUERY: `sum(rate(highgopress_counter_increments_total{job="counter"}[10s]))`,
    }),
  });
  autoscalerOps = await startOpsServer({ host: "127.0.0.1", port, registry, ready: controller.ready });
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: PLURAL,
    namespace,
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: "CounterAutoscaler",
      metadata: { name: "counter" },
      spec: { scaleTargetRef: { name: "counter" }, minReplicas: 1, maxReplicas: 3, targetQPSPerReplica: 20, stableWindowSeconds: 10, panic: { windowSeconds: 2 } },
    },
  });
}

before(async () => {
  stack = await startStack({
    env: { TRACING_EXPORTER: "otlp", OTEL_EXPORTER_OTLP_ENDPOINT: OTLP_URL, OTEL_TRACES_SAMPLER_ARG: "0.2" },
  });
  const autoscalerPort = await freePort();
  prometheus = await startTestPrometheus(
    {
      gateway: [`127.0.0.1:${stack.ports.gateway}`],
      counter: [`127.0.0.1:${stack.ports.counterMetrics}`],
      analytics: [`127.0.0.1:${stack.ports.analyticsMetrics}`],
      autoscaler: [`127.0.0.1:${autoscalerPort}`],
    },
    alertRuleFiles(),
  );
  await startAutoscaler(prometheus.url, autoscalerPort);
  const load = await mixedLoad(stack.gatewayUrl, stack.counterType, 20_000, 8);
  assert.ok((load.byStatus[200] ?? 0) > 500, `the load should mostly succeed: ${JSON.stringify(load.byStatus)}`);
}, { timeout: 60 * 60_000 });

after(async () => {
  await controller?.stop().catch(() => undefined);
  await new Promise<void>((resolve) => (autoscalerOps ? autoscalerOps.close(() => resolve()) : resolve()));
  if (namespace) await kc?.makeApiClient(CoreV1Api).deleteNamespace({ name: namespace }).catch(() => undefined);
  await prometheus?.stop();
  await stack?.stop();
}, { timeout: 60_000 });

describe("Grafana dashboards", { timeout: 180_000 }, () => {
  test("cover overview, counter + Redis, events + analytics and autoscaler, on the provisioned datasources", () => {
    const dashboards = loadDashboards();
    const titles = dashboards.map((d) => d.json.title);
    for (const want of [/Overview/, /Counter and Redis/, /Events and Analytics/, /Autoscaler/]) {
      assert.ok(titles.some((t) => want.test(t)), `no dashboard titled ${want}: ${titles.join(", ")}`);
    }
    assert.equal(new Set(dashboards.map((d) => d.json.uid)).size, dashboards.length, "dashboard uids are unique");
    for (const { file, json } of dashboards) {
      const ds = json.templating?.list.find((v) => v.name === "datasource");
      assert.ok(ds && ds.type === "datasource" && ds.query === "prometheus", `${file}: needs a Prometheus datasource variable`);
    }
    for (const q of panelQueries()) {
      assert.ok(["${datasource}", "prometheus"].includes(q.datasourceUid), `${q.dashboard} / ${q.panel}: datasource ${q.datasourceUid}`);
      if (/histogram_quantile\([^)]*_seconds_bucket/.test(q.expr)) {
        assert.ok(q.exemplar || /autoscaler|kafka_publish|event_delay/.test(q.expr), `${q.dashboard} / ${q.panel}: latency panels show exemplars (links to Jaeger)`);
      }
    }
  });

  test("every panel query returns data under load", async () => {
    const queries = panelQueries();
    assert.ok(queries.length >= 40, `expected the dashboards to hold many queries, found ${queries.length}`);
    const empty = new Set(queries.map((q) => `${q.dashboard} / ${q.panel} / ${q.refId}: ${q.expr}`));
    // Rate windows need a few scrapes and the autoscaler a few ticks: retry what has no data yet.
    await eventually(
      "every panel query to return series",
      async () => {
        for (const q of queries) {
          const key = `${q.dashboard} / ${q.panel} / ${q.refId}: ${q.expr}`;
          if (!empty.has(key)) continue;
          // A series whose every value is NaN draws nothing either (e.g. a quantile over no observations).
          const series = await prometheus.query(grafanaExpr(q.expr));
          if (series.some((s) => s.value[1] !== "NaN")) empty.delete(key);
        }
        return empty.size === 0 ? true : undefined;
      },
      30_000,
      1_000,
    ).catch(() => undefined);
    assert.deepEqual([...empty], [], "panels without data");
  });

  test("Prometheus stores exemplars with trace ids for the latency histograms", async () => {
    const end = Date.now() / 1000;
    const res = await fetch(
      `${prometheus.url}/api/v1/query_exemplars?query=${encodeURIComponent("highgopress_http_server_request_duration_seconds_bucket")}&start=${end - 300}&end=${end}`,
    );
    const body = (await res.json()) as { data: Array<{ exemplars: Array<{ labels: Record<string, string> }> }> };
    const exemplars = body.data.flatMap((s) => s.exemplars);
    assert.ok(exemplars.length > 0, "no exemplars scraped (OpenMetrics negotiation?)");
    assert.match(exemplars[0]!.labels.trace_id ?? "", /^[0-9a-f]{32}$/);
  });
});

describe("Prometheus alert rules", { timeout: 120_000 }, () => {
  test("pass promtool check rules", () => {
    const r = spawnSync(PROMTOOL_BIN, ["check", "rules", ...alertRuleFiles()], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  test("cover error rate, latency, outbox age, consumer lag, autoscaler at max and target down, each explained", () => {
    const rules = alertRules();
    const exprs = rules.map((r) => r.expr).join("\n");
    for (const [what, pattern] of [
      ["error rate", /status_code=~"5\.\."/],
      ["P99 latency", /histogram_quantile\(0\.99/],
      ["outbox age", /highgopress_outbox_oldest_age_seconds/],
      ["consumer lag", /highgopress_analytics_consumer_lag_messages/],
      ["autoscaler at max replicas", /highgopress_autoscaler_max_replicas/],
      ["target down", /\bup\{/],
    ] as const) {
      assert.match(exprs, pattern, `no alert on ${what}`);
    }
    for (const r of rules) {
      assert.ok(r.labels?.severity, `${r.alert}: severity label`);
      assert.ok(r.annotations?.summary && r.annotations?.description, `${r.alert}: summary and description`);
    }
  });

  test("load in Prometheus and evaluate without errors", async () => {
    const rules = alertRules();
    await eventually(
      "every rule to be evaluated",
      async () => {
        const body = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as {
          data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> };
        };
        const loaded = body.data.groups.flatMap((g) => g.rules);
        for (const r of loaded) assert.ok(!r.lastError, `${r.name}: ${r.lastError}`);
        return loaded.length === rules.length && loaded.every((r) => r.health === "ok") ? true : undefined;
      },
      20_000,
      500,
    );
  });

  test("the query of every alert returns series on the running system", async () => {
    const empty: string[] = [];
    for (const r of alertRules()) {
      const query = alertQuery(r.expr);
      if ((await prometheus.query(query)).length === 0) empty.push(`${r.alert}: ${query}`);
    }
    assert.deepEqual(empty, [], "alerts that could never fire");
  });
});
