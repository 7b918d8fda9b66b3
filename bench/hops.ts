/**
 * Where a request's time goes, hop by hop, from the services' own metrics:
 * the gateway's and the counter's /metrics are read before and after a
 * system run, and the difference of each histogram's sum and count gives
 * the run's mean for that hop. Pure apart from `scrapeHops`.
 */
import type { Scenario } from "./workload.js";

/** Series (`name{labels}`) → value, for the `_sum`/`_count` lines and counters of one exposition. */
export type Exposition = Map<string, number>;

export function parseExposition(text: string): Exposition {
  const out: Exposition = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    const value = Number(line.slice(space + 1));
    if (space > 0 && Number.isFinite(value)) out.set(line.slice(0, space), value);
  }
  return out;
}

/** Per series name and label filter, the increase between two expositions, summed over matching series. */
function increase(before: Exposition, after: Exposition, name: string, labels: readonly string[] = []): number {
  let total = 0;
  for (const [series, value] of after) {
    const brace = series.indexOf("{");
    if ((brace < 0 ? series : series.slice(0, brace)) !== name) continue;
    if (!labels.every((l) => series.includes(l))) continue;
    total += value - (before.get(series) ?? 0);
  }
  return total;
}

/** The route label with the most requests in the run (the scenario's route; scrapes and probes are few). */
function busiestRoute(before: Exposition, after: Exposition): string | undefined {
  const counts = new Map<string, number>();
  for (const series of after.keys()) {
    if (!series.startsWith("highgopress_http_server_request_duration_seconds_count{")) continue;
    const route = /route="([^"]*)"/.exec(series)?.[1];
    if (route === undefined) continue;
    counts.set(route, (counts.get(route) ?? 0) + increase(before, after, "highgopress_http_server_request_duration_seconds_count", [`route="${route}"`]));
  }
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}

export interface HopSnapshot {
  gateway: Exposition;
  counter: Exposition;
}

/** Means over one run, in milliseconds; per request unless it says per call. */
export interface HopBreakdown {
  route: string;
  requests: number;
  /** Downstream calls that carried them, and the mean items per call. */
  calls: number;
  batchSize: number;
  /** In the gateway's HTTP hooks: from routing until the answer is handed to the socket. */
  gatewayMs: number;
  /** Of that, waiting in the coalescer for a call slot. */
  coalesceWaitMs: number;
  /** The gRPC call as the gateway sees it (per call): send until the answer is decoded. */
  callMs: number;
  /** The call as the counter handles it (per call): from the request decoded until the answer is written. */
  counterMs: number;
  /** The counter's Redis round trip (per call): script or MGET, send to reply. */
  redisMs: number;
}

const KIND: Partial<Record<Scenario, { kind: string; method: string; command: string }>> = {
  read: { kind: "get", method: "BatchGetCounters", command: "mget" },
  "write-hot": { kind: "increment", method: "BatchIncrementCounters", command: "hgp_increment" },
  "write-zipf": { kind: "increment", method: "BatchIncrementCounters", command: "hgp_increment" },
  batch: { kind: "increment", method: "BatchIncrementCounters", command: "hgp_increment" },
};

const mean = (sum: number, count: number) => (count > 0 ? (sum / count) * 1000 : 0);

export function hopBreakdown(scenario: Scenario, before: HopSnapshot, after: HopSnapshot): HopBreakdown | undefined {
  const k = KIND[scenario];
  const route = busiestRoute(before.gateway, after.gateway);
  if (!k || route === undefined) return undefined;
  const g = (name: string, labels: string[]) => increase(before.gateway, after.gateway, name, labels);
  const c = (name: string, labels: string[]) => increase(before.counter, after.counter, name, labels);
  const http = `route="${route}"`;
  const kind = `kind="${k.kind}"`;
  const method = `grpc_method="${k.method}"`;
  const command = `command="${k.command}"`;
  const requests = g("highgopress_http_server_request_duration_seconds_count", [http]);
  const items = g("highgopress_gateway_coalesced_batch_size_sum", [kind]);
  const calls = g("highgopress_gateway_coalesced_batch_size_count", [kind]);
  return {
    route,
    requests,
    calls,
    batchSize: calls > 0 ? items / calls : 0,
    gatewayMs: mean(g("highgopress_http_server_request_duration_seconds_sum", [http]), requests),
    coalesceWaitMs: mean(g("highgopress_gateway_coalesce_wait_seconds_total", [kind]), items),
    callMs: mean(g("highgopress_grpc_client_handling_seconds_sum", [method]), g("highgopress_grpc_client_handling_seconds_count", [method])),
    counterMs: mean(c("highgopress_grpc_server_handling_seconds_sum", [method]), c("highgopress_grpc_server_handling_seconds_count", [method])),
    redisMs: mean(c("highgopress_redis_command_duration_seconds_sum", [command]), c("highgopress_redis_command_duration_seconds_count", [command])),
  };
}

/** wrk's mean latency split into hops that add up to it, in ms per request. */
export interface HopSplit {
  outsideHooks: number;
  gatewayOwn: number;
  coalesceWait: number;
  transport: number;
  counterOwn: number;
  redis: number;
}

export function splitMean(wrkMeanMs: number, h: HopBreakdown): HopSplit {
  return {
    outsideHooks: wrkMeanMs - h.gatewayMs,
    gatewayOwn: h.gatewayMs - h.coalesceWaitMs - h.callMs,
    coalesceWait: h.coalesceWaitMs,
    transport: h.callMs - h.counterMs,
    counterOwn: h.counterMs - h.redisMs,
    redis: h.redisMs,
  };
}

export async function scrapeHops(gatewayMetricsUrl: string, counterMetricsUrl: string): Promise<HopSnapshot> {
  const read = async (url: string) => parseExposition(await (await fetch(url, { signal: AbortSignal.timeout(5_000) })).text());
  const [gateway, counter] = await Promise.all([read(gatewayMetricsUrl), read(counterMetricsUrl)]);
  return { gateway, counter };
}
