/**
 * Result records and their markdown tables, pure.
 */
import type { RedisMode } from "../services/lib/redis-shards.js";
import type { Bounds, KeyComparison } from "./consistency.js";
import { splitMean, type HopBreakdown } from "./hops.js";
import type { UsageReport } from "./procstat.js";
import type { LoadResult } from "./wrk.js";
import type { Scenario } from "./workload.js";

/** A load run as recorded: wrk's result with seconds and QPS rounded. */
export type LoadSummary = LoadResult;

export interface RunRecord {
  load: LoadSummary;
  usage: UsageReport;
}

export interface ConsistencyRecord {
  /**
   * Redis equals what was acknowledged key by key (when requests failed:
   * within `bounds`), and analytics equals Redis key by key.
   */
  ok: boolean;
  /** Increments sent vs acknowledged (2xx). */
  sent: number;
  acknowledged: number;
  /** Redis against what was sent, key by key. */
  redis: KeyComparison;
  /** Present when requests failed: Redis is then checked against bounds instead (checkBounds). */
  bounds?: Bounds;
  analytics?: { values: KeyComparison; counts: KeyComparison; apiTop: { checked: number; ok: boolean } };
  /** Seconds from the level's last answer until analytics held every event; null if it never did. */
  drainSeconds: number | null;
}

export interface LevelRecord {
  scenario: Scenario;
  level: string;
  requests: number;
  connections: number;
  repeat: number;
  counterType: string;
  system: RunRecord;
  ceiling: RunRecord;
  /** system QPS / ceiling QPS, same generator and settings, measured back to back. */
  ratio: number;
  consistency?: ConsistencyRecord;
  /** Per-hop means of the system run, from the services' metrics (scenarios that reach the counter). */
  hops?: HopBreakdown;
}

export interface BenchResult {
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: { cpus: number; model: string; node: string; wrk: string; memMiB: number };
  settings: {
    threads: number;
    repeat: number;
    levels: string[];
    scenarios: string[];
    /** Absent in results from before cluster mode: standalone. */
    redisMode?: RedisMode;
    serviceEnv: Record<string, string>;
    notes: string[];
  };
  levels: LevelRecord[];
}

/** Of the repeats of one scenario and level, the one with the median ratio (the lower middle for an even count). */
export function medianRepeats(records: readonly LevelRecord[]): LevelRecord[] {
  const groups = new Map<string, LevelRecord[]>();
  for (const r of records) {
    const key = `${r.scenario}/${r.level}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((g) => [...g].sort((a, b) => a.ratio - b.ratio)[Math.floor((g.length - 1) / 2)]!);
}

const int = (x: number) => Math.round(x).toLocaleString("en-US");
const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const pct = (x: number | undefined) => (x === undefined ? "–" : `${Math.round(x)}%`);

export function consistencyCell(c: ConsistencyRecord | undefined): string {
  if (!c) return "–";
  if (c.ok) {
    const failed = c.bounds ? `, ${int(c.bounds.storedSum - c.acknowledged)} of the ${int(c.sent - c.acknowledged)} failed applied` : "";
    return `✔ ${int(c.acknowledged)}/${int(c.sent)}${failed}`;
  }
  const parts: string[] = [];
  if (c.bounds) {
    if (c.bounds.keysOver > 0) parts.push(`redis ${c.bounds.keysOver} keys above what was sent`);
    if (c.bounds.lostAcknowledged) parts.push(`redis ${int(c.acknowledged - c.bounds.storedSum)} below acknowledged`);
  } else if (c.redis.mismatched > 0) parts.push(`redis ${c.redis.mismatched} keys off`);
  if (c.analytics && c.analytics.values.mismatched > 0) parts.push(`analytics ${c.analytics.values.mismatched} keys off`);
  if (c.analytics && c.analytics.counts.mismatched > 0) parts.push(`counts ${c.analytics.counts.mismatched} keys off`);
  if (c.analytics && !c.analytics.apiTop.ok) parts.push("top API differs");
  if (c.drainSeconds === null) parts.push("not drained");
  return `✘ ${parts.join(", ") || "?"}`;
}

export function resultsTable(records: readonly LevelRecord[]): string {
  const rows = [
    "| scenario | level | requests / conns | QPS | ceiling QPS | ratio | mean ms | P50 ms | P99 ms | P99.9 ms | ceiling P99 ms | errors | consistency (acked/sent) | drain s |",
    "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|",
  ];
  for (const r of records) {
    const l = r.system.load;
    rows.push(
      `| ${r.scenario} | ${r.level} | ${int(r.requests)} / ${r.connections} | ${int(l.qps)} | ${int(r.ceiling.load.qps)} | ${r.ratio.toFixed(2)} | ` +
        `${ms(l.latencyMs.mean)} | ${ms(l.latencyMs.p50)} | ${ms(l.latencyMs.p99)} | ${ms(l.latencyMs.p999)} | ${ms(r.ceiling.load.latencyMs.p99)} | ${l.errors} | ` +
        `${consistencyCell(r.consistency)} | ${r.consistency ? (r.consistency.drainSeconds === null ? "–" : r.consistency.drainSeconds.toFixed(2)) : "–"} |`,
    );
  }
  return rows.join("\n");
}

/** CPU microseconds per answered request spent by the named processes: a cost that contention does not distort much. */
export function cpuPerRequestUs(run: RunRecord, names: readonly string[]): number {
  if (run.load.requests === 0) return 0;
  let percentSeconds = 0;
  for (const n of names) percentSeconds += (run.usage.processes[n]?.cpuPercent ?? 0) * run.usage.seconds;
  return (percentSeconds / 100 / run.load.requests) * 1e6;
}

export const SYSTEM_PROCESSES = ["gateway", "counter", "analytics", "redis", "kafka", "prometheus", "jaeger"] as const;

export function usageTable(records: readonly LevelRecord[]): string {
  const rows = [
    "| scenario | level | gateway | counter | analytics | redis | kafka | prometheus | jaeger | wrk | other load | ceiling (its run) | wrk (ceiling run) | CPU µs/request: system / gateway / ceiling | RSS MiB gw / counter / analytics / redis / kafka |",
    "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
  ];
  for (const r of records) {
    const u = r.system.usage.processes;
    const c = r.ceiling.usage.processes;
    const rss = ["gateway", "counter", "analytics", "redis", "kafka"].map((n) => (u[n] ? Math.round(u[n]!.rssMiB) : "–")).join(" / ");
    rows.push(
      `| ${r.scenario} | ${r.level} | ${pct(u.gateway?.cpuPercent)} | ${pct(u.counter?.cpuPercent)} | ${pct(u.analytics?.cpuPercent)} | ` +
        `${pct(u.redis?.cpuPercent)} | ${pct(u.kafka?.cpuPercent)} | ${pct(u.prometheus?.cpuPercent)} | ${pct(u.jaeger?.cpuPercent)} | ` +
        `${pct(u.wrk?.cpuPercent)} | ${pct(r.system.usage.otherCpuPercent)} | ${pct(c.ceiling?.cpuPercent)} | ${pct(c.wrk?.cpuPercent)} | ` +
        `${Math.round(cpuPerRequestUs(r.system, SYSTEM_PROCESSES))} / ${Math.round(cpuPerRequestUs(r.system, ["gateway"]))} / ${Math.round(cpuPerRequestUs(r.ceiling, ["ceiling"]))} | ${rss} |`,
    );
  }
  return rows.join("\n");
}

/** The processes whose CPU per request a before/after comparison shows, then the system's sum. */
const COMPARED = ["gateway", "counter", "redis", "kafka", "analytics"] as const;

/**
 * Two runs side by side, per scenario and level both have (median repeats):
 * ratio, QPS, P99, drain, and CPU µs per request of each process, before → after.
 */
export function compareTable(before: readonly LevelRecord[], after: readonly LevelRecord[]): string {
  const rows = [
    `| scenario | level | ratio | QPS | P99 ms | drain s | ${COMPARED.map((n) => `${n} µs/req`).join(" | ")} | system µs/req |`,
    `|---|---|---|---|---|---|${COMPARED.map(() => "---|").join("")}---|`,
  ];
  const earlier = new Map(medianRepeats(before).map((r) => [`${r.scenario}/${r.level}`, r]));
  const arrow = (a: string, b: string) => `${a} → ${b}`;
  const drain = (r: LevelRecord) => (r.consistency?.drainSeconds == null ? "–" : r.consistency.drainSeconds.toFixed(2));
  const us = (r: LevelRecord, names: readonly string[]) => String(Math.round(cpuPerRequestUs(r.system, names)));
  for (const b of medianRepeats(after)) {
    const a = earlier.get(`${b.scenario}/${b.level}`);
    if (!a) continue;
    rows.push(
      `| ${b.scenario} | ${b.level} | ${arrow(a.ratio.toFixed(2), b.ratio.toFixed(2))} | ${arrow(int(a.system.load.qps), int(b.system.load.qps))} | ` +
        `${arrow(ms(a.system.load.latencyMs.p99), ms(b.system.load.latencyMs.p99))} | ${arrow(drain(a), drain(b))} | ` +
        `${COMPARED.map((n) => arrow(us(a, [n]), us(b, [n]))).join(" | ")} | ${arrow(us(a, SYSTEM_PROCESSES), us(b, SYSTEM_PROCESSES))} |`,
    );
  }
  return rows.join("\n");
}

/**
 * A request's mean time split by hop. Calls are per batch: every request of a
 * batch waits for the whole call, so the call's mean is each request's share.
 */
export function hopsTable(records: readonly LevelRecord[]): string {
  const rows = [
    "| scenario | level | wrk mean | outside the gateway's hooks | gateway own | coalescer wait | gRPC transport and grpc-js | counter own | Redis | requests per call |",
    "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const r of records) {
    if (!r.hops) continue;
    const mean = r.system.load.latencyMs.mean;
    const x = splitMean(mean, r.hops);
    rows.push(
      `| ${r.scenario} | ${r.level} | ${ms(mean)} | ${ms(x.outsideHooks)} | ${ms(x.gatewayOwn)} | ${ms(x.coalesceWait)} | ` +
        `${ms(x.transport)} | ${ms(x.counterOwn)} | ${ms(x.redis)} | ${r.hops.batchSize.toFixed(1)} |`,
    );
  }
  return rows.length > 2 ? rows.join("\n") : "";
}

export function markdownReport(result: BenchResult): string {
  const chosen = medianRepeats(result.levels);
  const m = result.machine;
  return [
    `Run ${result.startedAt} → ${result.finishedAt}: \`${result.command}\``,
    "",
    `Machine: ${m.cpus} × ${m.model}, ${int(m.memMiB)} MiB; node ${m.node}; ${m.wrk}; wrk -t ${result.settings.threads}` +
      (result.settings.repeat > 1 ? `; each row is the median-ratio run of ${result.settings.repeat}` : "") +
      (result.settings.redisMode === "cluster" ? "; Redis Cluster (3 primaries, 3 replicas)" : "") +
      (Object.keys(result.settings.serviceEnv).length ? `; service env ${JSON.stringify(result.settings.serviceEnv)}` : ""),
    "",
    resultsTable(chosen),
    "",
    "CPU during each system run (% of one core; the box has " + m.cpus + " cores = " + m.cpus * 100 + "%), and peak RSS:",
    "",
    usageTable(chosen),
    ...(chosen.some((r) => r.hops)
      ? ["", "Where a request's time went (means in ms, from the gateway's and the counter's own metrics during the system run):", "", hopsTable(chosen)]
      : []),
    ...(result.settings.notes.length ? ["", ...result.settings.notes.map((n) => `- ${n}`)] : []),
    "",
  ].join("\n");
}
