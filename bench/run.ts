/**
 * The five-level load test (make bench → scripts/bench.sh → this file).
 *
 * Starts the system as `make run` does (own ports and state under
 * .run/bench) and a bare fastify "ceiling" server, then for each scenario
 * and level sends the same requests with the same wrk settings to both,
 * back to back, and reports QPS, latency, errors, the ratio to the ceiling,
 * per-process CPU and RSS, and for writes a key-by-key consistency check of
 * Redis and of the analytics buckets after the events drained.
 *
 *   node dist/bench/run.js [--quick] [--levels L1,L5] [--scenarios health,write-hot]
 *     [--repeat N] [--threads T] [--profile gateway,counter,analytics,ceiling] [--env KEY=VALUE ...]
 *     [--infra redis,kafka,prometheus,jaeger] [--redis-mode standalone|cluster] [--keep-infra] [--warmup N] [--no-readme]
 *
 * --redis-mode cluster runs the services on a 6-node Redis Cluster of the
 * bench's own (scripts/redis-cluster.sh, ports from base - 6000).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { execFileSync } from "node:child_process";
import type { RedisClient } from "../services/lib/redis.js";
import { REDIS_MODES, type ShardLayout } from "../services/lib/redis-shards.js";
import {
  analyticsTotal,
  bucketHours,
  checkBounds,
  compareCounts,
  readAnalytics,
  readCounters,
  sumOf,
} from "./consistency.js";
import { hopBreakdown, scrapeHops, splitMean, type HopBreakdown } from "./hops.js";
import { UsageSampler, type UsageReport } from "./procstat.js";
import { cpuPerRequestUs, hopsTable, markdownReport, medianRepeats, resultsTable, SYSTEM_PROCESSES, type BenchResult, type ConsistencyRecord, type LevelRecord, type LoadSummary, type RunRecord } from "./report.js";
import { BENCH_PORTS, INFRA, repoRoot, SERVICES, startSystem, type InfraName, type RunningSystem, type ServiceName } from "./system.js";
import { runWrk, type LoadResult } from "./wrk.js";
import { buildWorkload, isWrite, LEVELS, requestFile, SCENARIOS, type Level, type Workload } from "./workload.js";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    levels: { type: "string" },
    scenarios: { type: "string" },
    repeat: { type: "string", default: "1" },
    threads: { type: "string", default: "1" },
    profile: { type: "string", default: "" },
    env: { type: "string", multiple: true, default: [] },
    infra: { type: "string", default: INFRA.join(",") },
    "redis-mode": { type: "string", default: "standalone" },
    "keep-infra": { type: "boolean", default: false },
    warmup: { type: "string", default: "5000" },
    "no-readme": { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});

if (args.help) {
  console.log(readFileSync(new URL(import.meta.url), "utf8").split("*/")[0]!.replace(/^\/\*\*?|^ \* ?/gm, ""));
  process.exit(0);
}

const list = (s: string | undefined) => (s ?? "").split(",").map((x) => x.trim()).filter(Boolean);
function pick<T extends string>(what: string, wanted: string[], known: readonly T[]): T[] {
  for (const w of wanted) if (!known.includes(w as T)) throw new Error(`unknown ${what} '${w}' (known: ${known.join(", ")})`);
  return wanted as T[];
}

const levels: Level[] = args.levels
  ? list(args.levels).map((n) => LEVELS.find((l) => l.name === n) ?? (() => { throw new Error(`unknown level '${n}' (known: ${LEVELS.map((l) => l.name).join(", ")})`); })())
  : args.quick
    ? LEVELS.filter((l) => l.name === "L1" || l.name === "L5")
    : [...LEVELS];
const scenarios = args.scenarios ? pick("scenario", list(args.scenarios), SCENARIOS) : [...SCENARIOS];
const repeat = Math.max(1, Number(args.repeat));
const threads = Math.max(1, Number(args.threads));
const warmup = Math.max(0, Number(args.warmup));
const profileTargets = pick("process to profile", list(args.profile), [...SERVICES, "ceiling"] as const);
const profile = profileTargets.filter((t): t is ServiceName => t !== "ceiling");
const redisMode = pick("Redis mode", [args["redis-mode"]!], REDIS_MODES)[0]!;
// In cluster mode the bench's Redis is a 6-node cluster (scripts/redis-cluster.sh) on ports of its own.
const infra: InfraName[] = pick("server", list(args.infra), INFRA).map((name) => (name === "redis" && redisMode === "cluster" ? "redis-cluster" : name));
const extraEnv: Record<string, string> = Object.fromEntries(
  (args.env as string[]).map((kv) => {
    const i = kv.indexOf("=");
    if (i < 1) throw new Error(`--env expects KEY=VALUE, got '${kv}'`);
    return [kv.slice(0, i), kv.slice(i + 1)];
  }),
);
const fullRun = levels.length === LEVELS.length && scenarios.length === SCENARIOS.length;

const runId = randomBytes(3).toString("hex");
const runDir = process.env.HIGHGOPRESS_BENCH_RUN ?? join(repoRoot, ".run/bench");
const workDir = join(runDir, "work");
const resultsDir = join(repoRoot, "bench/results");
const DRAIN_TIMEOUT_MS = 60_000;
const t0 = Date.now();
const log = (line: string) => console.log(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${line}`);

function wrkVersion(): string {
  try {
    execFileSync("wrk", ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? "");
    const m = /wrk [^\s]+/.exec(out);
    if (m) return m[0];
    throw new Error("wrk is not installed; run 'apt-get install -y wrk' (scripts/bench.sh does it)");
  }
  return "wrk";
}

async function startCeiling(): Promise<ChildProcess> {
  const nodeArgs = profileTargets.includes("ceiling")
    ? ["--cpu-prof", `--cpu-prof-dir=${join(runDir, "profiles")}`, `--cpu-prof-name=ceiling-${Date.now()}.cpuprofile`]
    : [];
  const child = spawn(process.execPath, [...nodeArgs, join(repoRoot, "dist/bench/ceiling-main.js"), String(BENCH_PORTS.ceiling)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`ceiling server exited with ${code}`)));
    child.stdout!.once("data", () => resolve());
  });
  return child;
}

const loadSummary = (r: LoadResult): LoadSummary => ({ ...r, seconds: Math.round(r.seconds * 1000) / 1000, qps: Math.round(r.qps) });

interface Measured {
  load: LoadResult;
  usage: UsageReport;
  finishedAt: number;
  startedWallMs: number;
}

let seq = 0;
async function measure(url: string, workload: Workload, level: Level, pids: () => Record<string, number | readonly number[] | undefined>): Promise<Measured> {
  const file = join(workDir, `requests-${workload.scenario}-${level.name}.txt`);
  writeFileSync(file, requestFile(workload.requests));
  let wrkPid: number | undefined;
  const sampler = new UsageSampler(() => ({ ...pids(), wrk: wrkPid }));
  let usage: UsageReport | undefined;
  let finishedAt = 0;
  const startedWallMs = Date.now();
  const load = await runWrk(
    {
      url,
      requestsFile: file,
      total: level.requests,
      connections: level.connections,
      threads: Math.min(threads, level.connections),
      outFile: join(workDir, `wrk-${++seq}.json`),
      capSeconds: 120,
    },
    {
      started(pid) {
        wrkPid = pid;
        sampler.start();
      },
      finished() {
        finishedAt = performance.now();
        usage = sampler.stop();
      },
    },
  );
  return { load, usage: usage!, finishedAt, startedWallMs };
}

async function checkConsistency(
  redis: RedisClient,
  layout: ShardLayout,
  gatewayUrl: string,
  workload: Workload,
  m: Measured,
  opsPerRequest: number,
): Promise<ConsistencyRecord> {
  // Every request answered 2xx: the acknowledged increments per key are the level's key sequence.
  // Otherwise which ones failed is unknown, so Redis is held to bounds (checkBounds).
  const allAcked = m.load.complete && m.load.errors === 0;
  const acknowledged = allAcked ? sumOf(workload.expected) : m.load.ok * opsPerRequest;
  const ids = [...workload.expected.keys()];
  const redisValues = await readCounters(redis, layout, workload.counterType, ids);
  const redisCmp = compareCounts(workload.expected, redisValues);
  const bounds = allAcked ? undefined : checkBounds(workload.expected, redisValues, acknowledged);
  const redisOk = bounds ? bounds.keysOver === 0 && !bounds.lostAcknowledged : redisCmp.mismatched === 0;
  const target = sumOf(redisValues);
  let drainSeconds: number | null = null;
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const total = await analyticsTotal(redis, layout, workload.counterType, bucketHours(m.startedWallMs, Date.now()));
    if (total === target) {
      drainSeconds = Math.round(performance.now() - m.finishedAt) / 1000;
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const a = await readAnalytics(redis, layout, workload.counterType, bucketHours(m.startedWallMs, Date.now()));
  const values = compareCounts(redisValues, a.values);
  const counts = compareCounts(redisValues, a.counts); // every delta is 1: increments == value
  let apiTop = { checked: 0, ok: false };
  try {
    const res = await fetch(`${gatewayUrl}/api/v1/analytics/top?counter_type=${workload.counterType}&limit=10&time_range=24h`);
    const body = (await res.json()) as { data: { items: Array<{ resource_id: string; value: number; increment_count: number }> } };
    const items = body.data.items;
    const maxValue = Math.max(...redisValues.values());
    apiTop = {
      checked: items.length,
      ok:
        items.length === Math.min(10, redisValues.size) &&
        items[0]?.value === maxValue &&
        items.every((i) => i.value === redisValues.get(i.resource_id) && i.increment_count === redisValues.get(i.resource_id)),
    };
  } catch {
    // reported as not ok
  }
  return {
    ok: redisOk && drainSeconds !== null && values.mismatched === 0 && counts.mismatched === 0 && apiTop.ok,
    sent: sumOf(workload.expected),
    acknowledged,
    redis: redisCmp,
    bounds,
    analytics: { values, counts, apiTop },
    drainSeconds,
  };
}

const pctList = (u: UsageReport, names: string[]) =>
  names.filter((n) => u.processes[n]).map((n) => `${n} ${Math.round(u.processes[n]!.cpuPercent)}%`).join(" ");

async function main(): Promise<void> {
  const wrk = wrkVersion();
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  mkdirSync(resultsDir, { recursive: true });
  const startedAt = new Date();
  log(`run ${runId}: scenarios ${scenarios.join(", ")}; levels ${levels.map((l) => `${l.name} ${l.requests}/${l.connections}c`).join(", ")}; repeat ${repeat}; ${wrk} -t ${threads}`);

  let system: RunningSystem | undefined;
  let ceiling: ChildProcess | undefined;
  let redis: RedisClient | undefined;
  const stopAll = async () => {
    ceiling?.kill("SIGTERM");
    redis?.disconnect();
    await system?.stop(args["keep-infra"]);
  };
  process.once("SIGINT", () => {
    log("interrupted; stopping what the bench started");
    void stopAll().finally(() => process.exit(130));
  });

  const records: LevelRecord[] = [];
  try {
    ceiling = await startCeiling();
    system = await startSystem({ runDir, infra, redisMode, profile, serviceEnv: extraEnv, log });
    redis = await system.connectRedis();
    const sysPids = system.pids;
    const ceilingPids = () => ({ ceiling: ceiling!.pid });
    const ceilingUrl = `http://127.0.0.1:${BENCH_PORTS.ceiling}`;
    const metricsUrls = { gateway: `${system.gatewayUrl}/metrics`, counter: `http://127.0.0.1:${BENCH_PORTS.counterMetrics}/metrics` };
    const total = scenarios.length * levels.length * repeat;
    let done = 0;

    for (const scenario of scenarios) {
      if (warmup > 0) {
        const level: Level = { name: "warmup", requests: warmup, connections: 50 };
        const wl = buildWorkload(scenario, warmup, `b${runId}-warm-${scenario}`, `warmup/${scenario}`);
        await measure(ceilingUrl, wl, level, ceilingPids);
        const m = await measure(system.gatewayUrl, wl, level, sysPids);
        let note = "";
        if (isWrite(scenario)) {
          const c = await checkConsistency(redis, system.layout, system.gatewayUrl, wl, m, sumOf(wl.expected) / warmup);
          note = `, events drained in ${c.drainSeconds ?? "> " + DRAIN_TIMEOUT_MS / 1000}s`;
        }
        log(`${scenario} warm-up: ${Math.round(m.load.qps)} req/s, ${m.load.errors} errors${note}`);
      }
      for (const level of levels) {
        for (let rep = 1; rep <= repeat; rep++) {
          const counterType = `b${runId}-${scenario}-${level.name}-${rep}`;
          const wl = buildWorkload(scenario, level.requests, counterType, `${scenario}/${level.name}/${rep}`);
          let sys: Measured;
          let ceil: Measured;
          let consistency: ConsistencyRecord | undefined;
          let hops: HopBreakdown | undefined;
          const runSystem = async () => {
            const before = await scrapeHops(metricsUrls.gateway, metricsUrls.counter);
            sys = await measure(system!.gatewayUrl, wl, level, sysPids);
            hops = hopBreakdown(scenario, before, await scrapeHops(metricsUrls.gateway, metricsUrls.counter));
            if (isWrite(scenario)) consistency = await checkConsistency(redis!, system!.layout, system!.gatewayUrl, wl, sys, sumOf(wl.expected) / level.requests);
          };
          const runCeiling = async () => {
            ceil = await measure(ceilingUrl, wl, level, ceilingPids);
          };
          // Alternate the order between repeats; a system run's events drain before the next run either way.
          if (rep % 2 === 1) {
            await runCeiling();
            await runSystem();
          } else {
            await runSystem();
            await runCeiling();
          }
          const ratio = ceil!.load.qps > 0 ? sys!.load.qps / ceil!.load.qps : 0;
          const record: LevelRecord = {
            scenario,
            level: level.name,
            requests: level.requests,
            connections: level.connections,
            repeat: rep,
            counterType,
            system: { load: loadSummary(sys!.load), usage: sys!.usage } satisfies RunRecord,
            ceiling: { load: loadSummary(ceil!.load), usage: ceil!.usage },
            ratio: Math.round(ratio * 1000) / 1000,
            consistency,
            hops,
          };
          records.push(record);
          done++;
          const l = sys!.load;
          log(
            `[${done}/${total}] ${scenario} ${level.name}${repeat > 1 ? ` #${rep}` : ""}: ${Math.round(l.qps).toLocaleString("en-US")} req/s ` +
              `(P99 ${l.latencyMs.p99} ms, ${l.errors} errors) vs ceiling ${Math.round(ceil!.load.qps).toLocaleString("en-US")} → ${ratio.toFixed(2)}` +
              (consistency ? ` · consistency ${consistency.ok ? (consistency.bounds ? "ok within the failed requests' bounds" : "ok") : "FAILED"}, drain ${consistency.drainSeconds ?? "timeout"} s` : "") +
              ` · cpu ${pctList(sys!.usage, ["gateway", "counter", "analytics", "redis", "kafka", "wrk"])} other ${Math.round(sys!.usage.otherCpuPercent)}%` +
              ` · CPU µs/request system ${Math.round(cpuPerRequestUs(record.system, SYSTEM_PROCESSES))} (gateway ${Math.round(cpuPerRequestUs(record.system, ["gateway"]))}), ceiling ${Math.round(cpuPerRequestUs(record.ceiling, ["ceiling"]))}`,
          );
          if (hops) {
            const f = (x: number) => x.toFixed(2);
            const x = splitMean(l.latencyMs.mean, hops);
            log(
              `  hops (ms): wrk mean ${f(l.latencyMs.mean)} = outside hooks ${f(x.outsideHooks)} + gateway own ${f(x.gatewayOwn)} ` +
                `+ wait ${f(x.coalesceWait)} + call ${f(hops.callMs)} (transport ${f(x.transport)}, counter own ${f(x.counterOwn)}, redis ${f(x.redis)}); ${hops.batchSize.toFixed(1)} requests per call`,
            );
          }
          if (consistency && !consistency.ok) log(`  consistency detail: ${JSON.stringify({ redis: consistency.redis, bounds: consistency.bounds, analytics: consistency.analytics })}`);
        }
      }
    }
  } finally {
    log("stopping the system and the ceiling server");
    await stopAll().catch((err) => log(`stop failed: ${(err as Error).message}`));
  }

  const finishedAt = new Date();
  const stamp = startedAt.toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "Z");
  const result: BenchResult = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    command: `make bench${process.argv.length > 2 ? ` BENCH_ARGS=\"${process.argv.slice(2).join(" ")}\"` : ""}`,
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? "unknown",
      node: process.version,
      wrk,
      memMiB: Math.round(totalmem() / 2 ** 20),
    },
    settings: {
      threads,
      repeat,
      levels: levels.map((l) => l.name),
      scenarios,
      redisMode,
      serviceEnv: extraEnv,
      notes: [
        "QPS: answered requests / (first request sent → last answer received); ratio = system QPS / ceiling QPS, measured back to back with the same wrk settings and requests.",
        "Errors: non-2xx answers + socket errors and timeouts. Batch rows are HTTP requests of 10 increments each.",
        "Consistency: per key, Redis value = acknowledged increments, and after the drain the analytics ranking score and increment count = Redis value, and GET /api/v1/analytics/top agrees.",
        "Drain: from the level's last answer until analytics held every event (outbox → Kafka → analytics).",
      ],
    },
    levels: records,
  };
  const md = markdownReport(result);
  writeFileSync(join(resultsDir, `${stamp}.json`), JSON.stringify(result, null, 2) + "\n");
  writeFileSync(join(resultsDir, `${stamp}.md`), md);
  console.log("\n" + resultsTable(medianRepeats(records)) + "\n");
  const hopRows = hopsTable(medianRepeats(records));
  if (hopRows) console.log(hopRows + "\n");
  log(`results: bench/results/${stamp}.json and .md`);
  if (fullRun && redisMode === "standalone" && !args["no-readme"]) updateReadme(md);
}

function updateReadme(md: string): void {
  const path = join(repoRoot, "bench/README.md");
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return;
  }
  const start = "<!-- bench:latest:start -->";
  const end = "<!-- bench:latest:end -->";
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) return;
  writeFileSync(path, `${text.slice(0, i + start.length)}\n${md}\n${text.slice(j)}`);
  log("bench/README.md: latest table updated");
}

main().catch((err) => {
  console.error(`bench failed: ${(err as Error).stack ?? err}`);
  process.exit(1);
});
