/**
 * Test support for the observability tests: a Prometheus of the test's own
 * (Debian package, temp dir, free port, 1 s scrape, exemplar storage, the
 * chart's alert rules), the chart's dashboards and rules as data, a short
 * mixed load against a stack, and the Jaeger query API.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { http, repoRoot } from "../support/stack.js";

export const chartDir = join(repoRoot, "charts/highgopress");
export const dashboardsDir = join(chartDir, "dashboards");
export const alertsDir = join(chartDir, "files/alerts");
export const PROMTOOL_BIN = process.env.PROMTOOL_BIN ?? "/usr/bin/promtool";
export const JAEGER_URL = process.env.JAEGER_QUERY_URL ?? `http://127.0.0.1:${process.env.JAEGER_UI_PORT ?? 16686}`;
export const OTLP_URL = process.env.TEST_OTLP_ENDPOINT ?? `http://127.0.0.1:${process.env.JAEGER_OTLP_HTTP_PORT ?? 4318}`;
export const JAEGER_THRIFT_URL = `http://127.0.0.1:${process.env.JAEGER_THRIFT_HTTP_PORT ?? 14268}/api/traces`;

export const hex = (bytes: number) => randomBytes(bytes).toString("hex");

export function alertRuleFiles(): string[] {
  return readdirSync(alertsDir)
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => join(alertsDir, f));
}

export { startTestPrometheus, type PromSeries, type TestPrometheus } from "../support/prometheus.js";

// ---- dashboards and rules as data

export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
  exemplar: boolean;
  datasourceUid: string;
}

interface DashboardJson {
  uid: string;
  title: string;
  panels: Array<{ type: string; title: string; datasource?: { uid?: string }; targets?: Array<{ refId: string; expr: string; exemplar?: boolean; datasource?: { uid?: string } }> }>;
  templating?: { list: Array<{ name: string; type: string; query?: string }> };
}

export function loadDashboards(): Array<{ file: string; json: DashboardJson }> {
  return readdirSync(dashboardsDir)
    .filter((f) => f.endsWith(".json"))
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(dashboardsDir, file), "utf8")) as DashboardJson }));
}

export function panelQueries(): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const { file, json } of loadDashboards()) {
    for (const panel of json.panels) {
      for (const t of panel.targets ?? []) {
        out.push({
          dashboard: file,
          panel: panel.title,
          refId: t.refId,
          expr: t.expr,
          exemplar: t.exemplar === true,
          datasourceUid: t.datasource?.uid ?? panel.datasource?.uid ?? "",
        });
      }
    }
  }
  return out;
}

/** Grafana's built-in variables, as Grafana would fill them for a short range at a 1 s scrape. */
export function grafanaExpr(expr: string, rateInterval = "30s"): string {
  return expr.replaceAll("$__rate_interval", rateInterval).replaceAll("${__rate_interval}", rateInterval).replaceAll("$__range", "5m");
}

export interface AlertRule {
  file: string;
  group: string;
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function alertRules(): AlertRule[] {
  const rules: AlertRule[] = [];
  for (const file of alertRuleFiles()) {
    const doc = parseYaml(readFileSync(file, "utf8")) as { groups: Array<{ name: string; rules: Array<Record<string, unknown>> }> };
    for (const g of doc.groups) {
      for (const r of g.rules) {
        if (typeof r.alert !== "string") continue;
        rules.push({ file, group: g.name, alert: r.alert, expr: String(r.expr), for: r.for as string | undefined, labels: r.labels as never, annotations: r.annotations as never });
      }
    }
  }
  return rules;
}

/** `<query> <op> <number>` → `<query>`: what must return series on a healthy system. */
export function alertQuery(expr: string): string {
  const m = /^([\s\S]*\S)\s*(>=|<=|==|!=|>|<)\s*(-?[0-9.]+(?:e[+-]?\d+)?)\s*$/i.exec(expr.trim());
  if (!m) throw new Error(`alert expression is not '<query> <comparison> <number>': ${expr}`);
  return m[1]!;
}

// ---- load

export interface LoadResult {
  requests: number;
  byStatus: Record<number, number>;
}

/**
 * A mixed load for `ms`: increments (known and unknown counter types), batch
 * increments, idempotent increments, reads, analytics queries, and a few bad
 * requests and unknown routes, from `workers` concurrent loops.
 */
export async function mixedLoad(gatewayUrl: string, counterType: (name: string) => string, ms: number, workers = 8): Promise<LoadResult> {
  const result: LoadResult = { requests: 0, byStatus: {} };
  const types = ["like", "view", "follow", counterType("custom")];
  const deadline = Date.now() + ms;
  const record = (status: number) => {
    result.requests++;
    result.byStatus[status] = (result.byStatus[status] ?? 0) + 1;
  };
  const worker = async (w: number) => {
    for (let i = 0; Date.now() < deadline; i++) {
      const type = types[i % types.length]!;
      const id = `obs-${w}-${i % 17}`;
      const step = i % 20;
      let r;
      if (step < 10) r = await http("POST", `${gatewayUrl}/api/v1/counter/increment`, { resource_id: id, counter_type: type, delta: 1 + (i % 3) });
      else if (step < 13) r = await http("GET", `${gatewayUrl}/api/v1/counter/${id}/${type}`);
      else if (step === 13)
        r = await http("POST", `${gatewayUrl}/api/v1/counter/batch-increment`, {
          operations: [
            { resource_id: id, counter_type: type, delta: 1 },
            { resource_id: `${id}-b`, counter_type: type, delta: 2 },
          ],
        });
      else if (step === 14) r = await http("POST", `${gatewayUrl}/api/v1/counter/batch`, { queries: [{ resource_id: id, counter_type: type }] });
      else if (step === 15)
        r = await http("POST", `${gatewayUrl}/api/v1/counter/increment`, { resource_id: id, counter_type: type }, { "idempotency-key": `obs-${w}-${i % 40}` });
      else if (step === 16) r = await http("GET", `${gatewayUrl}/api/v1/analytics/top?counter_type=${type}&limit=5&time_range=1h`);
      else if (step === 17) r = await http("GET", `${gatewayUrl}/api/v1/analytics/stats/${id}/${type}?time_range=24h`);
      else if (step === 18) r = await http("POST", `${gatewayUrl}/api/v1/counter/increment`, { resource_id: "bad id!", counter_type: type });
      else r = await http("GET", `${gatewayUrl}/api/v1/no-such-route/${id}`);
      record(r.status);
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return result;
}

// ---- Jaeger

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Array<{ refType: "CHILD_OF" | "FOLLOWS_FROM"; traceID: string; spanID: string }>;
  tags: Array<{ key: string; value: unknown }>;
  processID: string;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

export async function jaegerReachable(): Promise<boolean> {
  const r = await fetch(`${JAEGER_URL}/api/services`).catch(() => undefined);
  return r?.ok === true;
}

export async function jaegerTrace(traceId: string): Promise<JaegerTrace | undefined> {
  const res = await fetch(`${JAEGER_URL}/api/traces/${traceId}`);
  if (res.status === 404) return undefined;
  const body = (await res.json()) as { data?: JaegerTrace[] };
  return body.data?.[0];
}

export const tag = (span: JaegerSpan, key: string) => span.tags.find((t) => t.key === key)?.value;
export const serviceOf = (trace: JaegerTrace, span: JaegerSpan) => trace.processes[span.processID]?.serviceName ?? "";
export const parentOf = (span: JaegerSpan) => span.references.find((r) => r.refType === "CHILD_OF");
