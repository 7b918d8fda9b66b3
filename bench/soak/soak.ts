/**
 * The soak: the whole system (gateway, counter, analytics on the local
 * Redis and Kafka) under a steady mixed load at a fraction of its measured
 * capacity for a long time, watching for memory growth, errors and drift.
 *
 *   scripts/soak.sh                       # 10 minutes at half capacity
 *   scripts/soak.sh --minutes 30 --fraction 0.5 --connections 64
 *
 * Steps: measure capacity (closed loop, increments, 15 s), then pace 80 %
 * increments / 20 % reads over 10,000 keys at `fraction` of it; sample each
 * service's RSS every 10 s; at the end check that Redis holds exactly the
 * acknowledged increments and that analytics caught up; print a summary and
 * write it to $HIGHGOPRESS_RUN/soak/<start>.json.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { eventually, runDir, startStack } from "../../test/support/stack.js";
import { percentile, rssBytes, runLoad, type LoadRequest, type Outcome } from "../../test/faults/support/load.js";

const { values: args } = parseArgs({
  options: {
    minutes: { type: "string", default: process.env.SOAK_MINUTES ?? "10" },
    fraction: { type: "string", default: "0.5" },
    connections: { type: "string", default: "64" },
    keys: { type: "string", default: "10000" },
  },
});
const minutes = Number(args.minutes);
const fraction = Number(args.fraction);
const connections = Number(args.connections);
const KEYS = Number(args.keys);
const SERVICES = ["gateway", "counter", "analytics"] as const;
const MiB = 2 ** 20;

const stack = await startStack({ env: { LOG_LEVEL: "warn" } });
const type = stack.counterType("soak");
const acked = new Float64Array(KEYS);
const pick = (i: number) => (Math.imul(i, 2654435761) >>> 0) % KEYS;
const request = (i: number): LoadRequest =>
  i % 5 === 4
    ? { method: "GET", path: `/api/v1/counter/s${pick(i)}/${type}` }
    : { method: "POST", path: "/api/v1/counter/increment", body: `{"resource_id":"s${pick(i)}","counter_type":"${type}","delta":${1 + (i % 3)}}` };
const errors: Record<string, number> = {};
const onResult = (i: number, o: Outcome) => {
  if (o.status !== 200) errors[o.status || o.error || "?"] = (errors[o.status || o.error || "?"] ?? 0) + 1;
  else if (i % 5 !== 4) acked[pick(i)]! += 1 + (i % 3);
};

try {
  console.log(`soak: measuring capacity (${connections} connections, 15 s)`);
  const probe = await runLoad({ origin: stack.gatewayUrl, connections, durationMs: 15_000, next: request, onResult });
  const capacity = Math.round((probe.requests * 1000) / probe.elapsedMs);
  const rate = Math.max(1, Math.round(capacity * fraction));
  console.log(`soak: capacity ≈ ${capacity}/s; running ${minutes} min at ${rate}/s (${fraction * 100} %)`);

  const samples: Array<{ t: number; rss: Record<string, number>; outbox: number }> = [];
  const started = Date.now();
  const sample = async () => {
    const rss: Record<string, number> = {};
    for (const name of SERVICES) rss[name] = rssBytes(stack.process(name)!.pid!);
    samples.push({ t: (Date.now() - started) / 1000, rss, outbox: await stack.redis.xlen(stack.env.OUTBOX_STREAM!) });
    const last = samples[samples.length - 1]!;
    console.log(`soak: t=${last.t.toFixed(0)}s ${SERVICES.map((s) => `${s} ${(last.rss[s]! / MiB).toFixed(0)} MiB`).join(", ")}, outbox ${last.outbox}, errors ${JSON.stringify(errors)}`);
  };
  await sample();
  const sampler = setInterval(() => void sample(), 10_000);
  const latencies: number[] = [];
  const soak = await runLoad({
    origin: stack.gatewayUrl,
    connections,
    ratePerSecond: rate,
    durationMs: minutes * 60_000,
    next: request,
    onResult: (i, o) => {
      onResult(i, o);
      if (latencies.length < 5_000_000) latencies.push(o.latencyMs);
    },
  });
  clearInterval(sampler);
  await sample();

  // Consistency: every acknowledged increment is in Redis, exactly.
  const stored = new Float64Array(KEYS);
  for (let k = 0; k < KEYS; k += 1000) {
    const values = await stack.redis.mget(Array.from({ length: Math.min(1000, KEYS - k) }, (_, j) => `counter:s${k + j}:${type}`));
    values.forEach((v, j) => (stored[k + j] = Number(v ?? 0)));
  }
  const mismatched = Array.from(acked).filter((a, k) => a !== stored[k]).length;
  const drainStart = Date.now();
  await eventually("the outbox to drain", async () => ((await stack.redis.xlen(stack.env.OUTBOX_STREAM!)) === 0 ? true : undefined), 120_000, 500);
  const drainMs = Date.now() - drainStart;

  // RSS growth after a one-minute warm-up: first vs last sample, and the fitted slope.
  const warm = samples.filter((s) => s.t >= 60);
  const growth = Object.fromEntries(
    SERVICES.map((name) => {
      const points = warm.map((s) => [s.t / 60, s.rss[name]! / MiB] as const);
      const n = points.length;
      const mx = points.reduce((a, p) => a + p[0], 0) / n;
      const my = points.reduce((a, p) => a + p[1], 0) / n;
      const slope = points.reduce((a, p) => a + (p[0] - mx) * (p[1] - my), 0) / Math.max(1e-9, points.reduce((a, p) => a + (p[0] - mx) ** 2, 0));
      const first = points[0]?.[1] ?? 0;
      const last = points[n - 1]?.[1] ?? 0;
      return [name, { startMiB: Number(first.toFixed(1)), endMiB: Number(last.toFixed(1)), growthMiB: Number((last - first).toFixed(1)), slopeMiBPerMin: Number(slope.toFixed(2)), maxMiB: Number(Math.max(...points.map((p) => p[1])).toFixed(1)) }];
    }),
  );
  const result = {
    minutes,
    fraction,
    connections,
    capacityPerSecond: capacity,
    ratePerSecond: rate,
    requests: soak.requests,
    achievedPerSecond: Math.round((soak.requests * 1000) / soak.elapsedMs),
    errors,
    p50Ms: Number(percentile(latencies, 50).toFixed(1)),
    p99Ms: Number(percentile(latencies, 99).toFixed(1)),
    acknowledgedSum: acked.reduce((a, b) => a + b, 0),
    storedSum: stored.reduce((a, b) => a + b, 0),
    keysMismatched: mismatched,
    outboxDrainMs: drainMs,
    rss: growth,
    samples,
  };
  const dir = join(runDir, "soak");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date(started).toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify({ ...result, samples: undefined }, null, 2));
  console.log(`soak: results in ${file}`);
  if (mismatched > 0 || Object.keys(errors).length > 0) process.exitCode = 1;
} finally {
  await stack.stop();
}
