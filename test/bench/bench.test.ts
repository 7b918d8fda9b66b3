/**
 * The bench's pure parts: Zipf sampling, workloads and their per-key
 * expectations, wrk result arithmetic, /proc parsing, consistency
 * comparison and the result tables. (The load test itself is `make bench`.)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bucketHours, checkBounds, compareCounts, deltas, sumOf } from "../../bench/consistency.js";
import { CEILING_BODIES } from "../../bench/ceiling.js";
import { hopBreakdown, parseExposition } from "../../bench/hops.js";
import { parseMachineTicks, parseRssKb, parseStatTicks } from "../../bench/procstat.js";
import { areaOf } from "../../bench/profile-summary.js";
import { compareTable, consistencyCell, hopsTable, medianRepeats, resultsTable, type LevelRecord } from "../../bench/report.js";
import { parseListeners } from "../../bench/system.js";
import { buildWorkload, LEVELS, requestFile, seedOf, threadQuota, ZIPF_IDS } from "../../bench/workload.js";
import { summarize, type WrkRaw } from "../../bench/wrk.js";
import { mulberry32 } from "../../bench/prng.js";
import { countKeys, Zipf } from "../../bench/zipf.js";

describe("zipf", () => {
  it("is deterministic per seed and differs between seeds", () => {
    const z = new Zipf(1_000, 1.1);
    assert.deepEqual(z.sample(100, 7), z.sample(100, 7));
    assert.notDeepEqual(z.sample(100, 7), z.sample(100, 8));
  });

  it("draws ranks within 1..n with Zipf frequencies", () => {
    const z = new Zipf(ZIPF_IDS, 1.1);
    const ranks = z.sample(200_000, 42);
    let ones = 0;
    let twos = 0;
    for (const r of ranks) {
      assert.ok(r >= 1 && r <= ZIPF_IDS);
      if (r === 1) ones++;
      if (r === 2) twos++;
    }
    // P(1) ≈ 0.0917 for s = 1.1 over 100,000 ids; rank 1 is 2^1.1 ≈ 2.14 times as likely as rank 2.
    assert.ok(Math.abs(ones / ranks.length - z.p(1)) < 0.003, `P(1) observed ${ones / ranks.length}, expected ${z.p(1)}`);
    assert.ok(Math.abs(ones / twos - 2 ** 1.1) < 0.15, `P(1)/P(2) observed ${ones / twos}`);
  });

  it("has a PRNG in [0, 1)", () => {
    const random = mulberry32(1);
    for (let i = 0; i < 10_000; i++) {
      const x = random();
      assert.ok(x >= 0 && x < 1);
    }
  });
});

describe("workloads", () => {
  it("are the original five levels", () => {
    assert.deepEqual(
      LEVELS.map((l) => [l.requests, l.connections]),
      [[1_000, 10], [5_000, 50], [10_000, 100], [20_000, 200], [50_000, 500]],
    );
  });

  it("expect one increment per acknowledged request, per key", () => {
    const hot = buildWorkload("write-hot", 500, "t1", "x");
    assert.equal(hot.requests.length, 1);
    assert.deepEqual([...hot.expected], [["hot", 500]]);
    const zipf = buildWorkload("write-zipf", 1_000, "t2", "x");
    assert.equal(zipf.requests.length, 1_000);
    assert.equal(sumOf(zipf.expected), 1_000);
    const bodies = zipf.requests.map((r) => JSON.parse(r.body!) as { resource_id: string; counter_type: string });
    assert.deepEqual(countKeys(bodies.map((b) => b.resource_id)), zipf.expected);
    assert.ok(bodies.every((b) => b.counter_type === "t2"));
    const batch = buildWorkload("batch", 100, "t3", "x");
    assert.equal(sumOf(batch.expected), 1_000);
    assert.equal((JSON.parse(batch.requests[0]!.body!) as { operations: unknown[] }).operations.length, 10);
  });

  it("give the same requests for the same seed label", () => {
    assert.deepEqual(buildWorkload("write-zipf", 50, "t", "a").requests, buildWorkload("write-zipf", 50, "t", "a").requests);
    assert.notEqual(seedOf("write-zipf/L5/1"), seedOf("write-zipf/L5/2"));
  });

  it("split exactly `total` requests over the threads as the Lua script does", () => {
    for (const [total, threads] of [[1_000, 2], [1_001, 2], [50_000, 3], [7, 4]] as const) {
      let sum = 0;
      for (let t = 0; t < threads; t++) sum += threadQuota(total, threads, t);
      assert.equal(sum, total);
    }
  });

  it("write one tab-separated request per line", () => {
    const text = requestFile([{ method: "GET", path: "/a" }, { method: "POST", path: "/b", body: '{"x":1}' }]);
    assert.equal(text, 'GET\t/a\t\nPOST\t/b\t{"x":1}\n');
  });
});

describe("wrk results", () => {
  const raw = (overrides: Partial<WrkRaw> = {}): WrkRaw => ({
    requests: 100,
    errors: { connect: 0, read: 0, write: 0, status: 1, timeout: 0 },
    latency_us: { mean: 1500, stdev: 10, max: 9000, p50: 1000, p90: 2000, p99: 5000, "p99.9": 8000 },
    threads: [
      { tid: 1, quota: 50, issued: 50, idle: 5, conns: 5, t0: 10, t1: 10.5 },
      { tid: 2, quota: 50, issued: 50, idle: 5, conns: 5, t0: 10.1, t1: 11 },
    ],
    ...overrides,
  });

  it("count QPS from the first request to the last answer", () => {
    const r = summarize(raw(), 100, 60);
    assert.equal(r.complete, true);
    assert.equal(r.seconds, 1);
    assert.equal(r.qps, 100);
    assert.equal(r.errors, 1);
    assert.equal(r.non2xx, 1);
    assert.equal(r.ok, 99);
    assert.equal(r.latencyMs.p99, 5);
  });

  it("count unanswered requests as errors and use the cap as the duration", () => {
    const base = raw();
    const r = summarize(
      raw({ requests: 90, threads: [base.threads[0]!, { ...base.threads[1]!, idle: 4, t1: 0 }], errors: { connect: 0, read: 2, write: 0, status: 1, timeout: 0 } }),
      100,
      60,
    );
    assert.equal(r.complete, false);
    assert.equal(r.seconds, 60);
    assert.equal(r.socketErrors, 10);
    assert.equal(r.errors, 11);
  });
});

describe("/proc parsing", () => {
  it("reads utime + stime + children's times even when the command name has spaces and parentheses", () => {
    const stat = "1234 (node (x) y) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 75 10 5 20 0 11 0 500 1000 2000";
    assert.equal(parseStatTicks(stat), 340);
  });

  it("reads VmRSS and machine ticks", () => {
    assert.equal(parseRssKb("Name:\tnode\nVmRSS:\t  123456 kB\nVmSwap:\t0 kB\n"), 123456);
    assert.deepEqual(parseMachineTicks("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n"), { busy: 150, total: 1000 });
  });

  it("finds who listens on a port", () => {
    const out = 'LISTEN 0 511 127.0.0.1:6379 0.0.0.0:* users:(("redis-server",pid=12882,fd=6))\nLISTEN 0 50 [::ffff:127.0.0.1]:9092 *:* users:(("java",pid=7,fd=160))\n';
    const l = parseListeners(out);
    assert.equal(l.get(6379), 12882);
    assert.equal(l.get(9092), 7);
  });
});

describe("consistency", () => {
  it("compares per key, a missing key counting as zero", () => {
    const c = compareCounts(new Map([["a", 2], ["b", 1]]), new Map([["a", 2], ["c", 4]]));
    assert.equal(c.keys, 3);
    assert.equal(c.mismatched, 2);
    assert.equal(c.expectedSum, 3);
    assert.equal(c.actualSum, 6);
    assert.deepEqual(c.examples.map((e) => e.id).sort(), ["b", "c"]);
    assert.equal(compareCounts(new Map([["a", 1]]), new Map([["a", 1]])).mismatched, 0);
  });

  it("with failed requests, holds each key to what was sent and the total to what was acknowledged", () => {
    const sent = new Map([["a", 5], ["b", 3]]);
    const within = checkBounds(sent, new Map([["a", 4], ["b", 3]]), 6);
    assert.deepEqual(within, { keysOver: 0, examples: [], storedSum: 7, lostAcknowledged: false });
    const over = checkBounds(sent, new Map([["a", 6], ["c", 1]]), 6);
    assert.equal(over.keysOver, 2);
    assert.deepEqual(over.examples.map((e) => e.id).sort(), ["a", "c"]);
    assert.equal(checkBounds(sent, new Map([["a", 2], ["b", 3]]), 6).lostAcknowledged, true);
  });

  it("scales acknowledged counts by the delta", () => {
    assert.deepEqual(deltas(new Map([["a", 3]]), 5), new Map([["a", 15]]));
  });

  it("looks in every hour bucket the level touched", () => {
    const h = 3_600_000;
    assert.deepEqual(bucketHours(10 * h + 5, 10 * h + 100), [10 * h]);
    assert.deepEqual(bucketHours(10 * h + 5, 11 * h + 1), [10 * h, 11 * h]);
  });
});

describe("report", () => {
  const record = (ratio: number, rep: number): LevelRecord => {
    const load = { requests: 10, ok: 10, non2xx: 0, socketErrors: 0, errors: 0, seconds: 1, qps: 10 * ratio, latencyMs: { mean: 1, p50: 1, p90: 1, p99: 2, p999: 3, max: 4 }, complete: true };
    const usage = { seconds: 1, processes: {}, machineCpuPercent: 0, otherCpuPercent: 0 };
    return {
      scenario: "write-hot",
      level: "L5",
      requests: 10,
      connections: 5,
      repeat: rep,
      counterType: "t",
      system: { load, usage },
      ceiling: { load: { ...load, qps: 10 }, usage },
      ratio,
      consistency: {
        ok: true,
        sent: 10,
        acknowledged: 10,
        redis: compareCounts(new Map([["hot", 10]]), new Map([["hot", 10]])),
        drainSeconds: 0.2,
      },
    };
  };

  it("keeps the median-ratio repeat", () => {
    assert.deepEqual(medianRepeats([record(0.9, 1), record(0.5, 2), record(0.7, 3)]).map((r) => r.ratio), [0.7]);
  });

  it("renders a row per level with ratio and consistency", () => {
    const table = resultsTable([record(0.8, 1)]);
    assert.match(table, /\| write-hot \| L5 \| 10 \/ 5 \| 8 \| 10 \| 0\.80 \|/);
    assert.match(table, /\| 2\.00 \| 3\.00 \| 2\.00 \| 0 \| ✔ 10\/10 \| 0\.20 \|/);
    const bad = record(0.8, 1);
    bad.consistency = { ...bad.consistency!, ok: false, drainSeconds: null, redis: compareCounts(new Map([["hot", 10]]), new Map([["hot", 9]])) };
    assert.equal(consistencyCell(bad.consistency), "✘ redis 1 keys off, not drained");
    const failed = record(0.8, 1);
    failed.consistency = { ...failed.consistency!, sent: 10_000, acknowledged: 9_000, bounds: checkBounds(new Map([["hot", 10_000]]), new Map([["hot", 9_300]]), 9_000) };
    assert.equal(consistencyCell(failed.consistency), "✔ 9,000/10,000, 300 of the 1,000 failed applied");
    failed.consistency = { ...failed.consistency, ok: false, bounds: checkBounds(new Map([["hot", 10_000]]), new Map([["hot", 8_900]]), 9_000) };
    assert.equal(consistencyCell(failed.consistency), "✘ redis 100 below acknowledged");
  });

  it("compares two runs level by level, CPU per request of each process before → after", () => {
    const run = (ratio: number, gatewayPercent: number) => {
      const r = record(ratio, 1);
      r.system.usage = { ...r.system.usage, processes: { gateway: { cpuPercent: gatewayPercent, rssMiB: 1 } } };
      return r;
    };
    const table = compareTable([run(0.5, 50), run(0.6, 40), run(0.4, 70)], [run(0.8, 30)]);
    // Median before: ratio 0.5, 50% of one core for 1 s over 10 requests = 50,000 µs each; after 30,000.
    assert.match(table, /\| write-hot \| L5 \| 0\.50 → 0\.80 \| 5 → 8 \| 2\.00 → 2\.00 \| 0\.20 → 0\.20 \| 50000 → 30000 \| 0 → 0 \|/);
    assert.equal(compareTable([], [run(0.8, 30)]).split("\n").length, 2, "a level only one run has is left out");
  });

  it("has ceiling bodies that are JSON shaped like the gateway's answers", () => {
    const counter = JSON.parse(CEILING_BODIES.counter) as { status: string; data: { resource_id: string } };
    assert.equal(counter.status, "success");
    assert.equal(counter.data.resource_id, "ceiling");
    assert.equal((JSON.parse(CEILING_BODIES.batch) as { data: { results: unknown[] } }).data.results.length, 10);
  });

  it("names profile areas by package", () => {
    assert.equal(areaOf("file:///x/node_modules/@grpc/grpc-js/build/src/call.js", "f"), "@grpc/grpc-js");
    assert.equal(areaOf("file:///work/main/dist/services/gateway/coalescer.js", "f"), "services/gateway/coalescer");
    assert.equal(areaOf("", "(garbage collector)"), "(garbage collector)");
  });
});

describe("hop breakdown", () => {
  // Two scrapes of the gateway's and the counter's /metrics around a run: 100 reads in 20 calls.
  const gateway = (requests: number, httpSum: number, calls: number, callSum: number, waitSum: number) =>
    parseExposition(
      [
        "# HELP highgopress_http_server_request_duration_seconds x",
        `highgopress_http_server_request_duration_seconds_sum{method="GET",route="/api/v1/counter/:resource_id/:counter_type",status_code="200"} ${httpSum}`,
        `highgopress_http_server_request_duration_seconds_count{method="GET",route="/api/v1/counter/:resource_id/:counter_type",status_code="200"} ${requests}`,
        'highgopress_http_server_request_duration_seconds_count{method="GET",route="/metrics",status_code="200"} 3',
        `highgopress_gateway_coalesced_batch_size_sum{kind="get"} ${requests}`,
        `highgopress_gateway_coalesced_batch_size_count{kind="get"} ${calls}`,
        `highgopress_gateway_coalesce_wait_seconds_total{kind="get"} ${waitSum}`,
        `highgopress_grpc_client_handling_seconds_sum{grpc_service="highgopress.counter.v1.CounterService",grpc_method="BatchGetCounters",grpc_code="OK"} ${callSum}`,
        `highgopress_grpc_client_handling_seconds_count{grpc_service="highgopress.counter.v1.CounterService",grpc_method="BatchGetCounters",grpc_code="OK"} ${calls}`,
        "",
      ].join("\n"),
    );
  const counter = (calls: number, handledSum: number, redisSum: number) =>
    parseExposition(
      [
        `highgopress_grpc_server_handling_seconds_sum{grpc_service="highgopress.counter.v1.CounterService",grpc_method="BatchGetCounters",grpc_code="OK"} ${handledSum}`,
        `highgopress_grpc_server_handling_seconds_count{grpc_service="highgopress.counter.v1.CounterService",grpc_method="BatchGetCounters",grpc_code="OK"} ${calls}`,
        `highgopress_redis_command_duration_seconds_sum{command="mget"} ${redisSum}`,
        `highgopress_redis_command_duration_seconds_count{command="mget"} ${calls}`,
      ].join("\n"),
    );
  const before = { gateway: gateway(10, 0.01, 2, 0.002, 0.001), counter: counter(2, 0.001, 0.0005) };
  const usage = { seconds: 1, processes: {}, machineCpuPercent: 0, otherCpuPercent: 0 };
  const load = (mean: number) => ({
    requests: 100, ok: 100, non2xx: 0, socketErrors: 0, errors: 0, seconds: 1, qps: 100, latencyMs: { mean, p50: mean, p90: mean, p99: mean, p999: mean, max: mean }, complete: true,
  });
  const after = { gateway: gateway(110, 0.21, 22, 0.022, 0.011), counter: counter(22, 0.011, 0.0065) };

  it("gives each hop's mean over the run from the scrapes' differences", () => {
    const h = hopBreakdown("read", before, after)!;
    assert.equal(h.route, "/api/v1/counter/:resource_id/:counter_type");
    assert.equal(h.requests, 100);
    assert.equal(h.calls, 20);
    assert.equal(h.batchSize, 5);
    const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} ≠ ${expected}`);
    close(h.gatewayMs, 2); // 0.2 s over 100 requests
    close(h.coalesceWaitMs, 0.1); // 0.01 s over 100 items
    close(h.callMs, 1); // 0.02 s over 20 calls
    close(h.counterMs, 0.5);
    close(h.redisMs, 0.3);
    assert.equal(hopBreakdown("health", before, after), undefined);
  });

  it("renders the split of wrk's mean latency", () => {
    const h = hopBreakdown("read", before, after)!;
    const r: LevelRecord = {
      scenario: "read",
      level: "L1",
      requests: 100,
      connections: 10,
      repeat: 1,
      counterType: "like",
      ratio: 0.3,
      system: { load: load(3), usage },
      ceiling: { load: load(1), usage },
      hops: h,
    };
    // 3 ms = 1 outside + 0.9 gateway own + 0.1 wait + (0.5 transport + 0.2 counter own + 0.3 Redis)
    assert.match(hopsTable([r]), /\| read \| L1 \| 3\.00 \| 1\.00 \| 0\.90 \| 0\.10 \| 0\.50 \| 0\.20 \| 0\.30 \| 5\.0 \|/);
    assert.equal(hopsTable([{ ...r, hops: undefined }]), "");
  });
});
