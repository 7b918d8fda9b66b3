import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { eventually, http, sleep, startStack, type Stack } from "../support/stack.js";
import { percentile, rssBytes, runLoad, scrape, summarize, type LoadRequest, type Outcome } from "./support/load.js";
import { report } from "./support/report.js";

/**
 * Far more load than the box can serve: the gateway sheds the excess with
 * 429 + Retry-After (its coalescing queue is bounded, and it refuses
 * requests unread while its event loop lags), its memory stays bounded, it
 * does not crash, no refused increment is applied, and it serves normally as
 * soon as the load drops.
 */
const KEYS = 500;
const GATEWAY_LIMITS = { MAX_QUEUED_REQUESTS: "400", SHED_EVENT_LOOP_DELAY_MS: "50" };

let stack: Stack;
before(async () => {
  stack = await startStack({ env: GATEWAY_LIMITS });
});
after(() => stack?.stop());

test("overload: 429s with Retry-After, bounded memory, no crash, exact counts, recovery", { timeout: 120_000 }, async () => {
  const type = stack.counterType("overload");
  const acked = new Array<number>(KEYS).fill(0);
  const doubt = new Array<number>(KEYS).fill(0);
  const request = (i: number): LoadRequest => ({
    method: "POST",
    path: "/api/v1/counter/increment",
    body: `{"resource_id":"ov${i % KEYS}","counter_type":"${type}","delta":1}`,
  });
  const tally = (i: number, o: Outcome) => {
    if (o.status === 200) acked[i % KEYS]!++;
    else if (o.status === 0 || o.status >= 500) doubt[i % KEYS]!++;
  };

  // What the system serves at a sane concurrency.
  const baseline = await runLoad({ origin: stack.gatewayUrl, connections: 32, durationMs: 5_000, next: request, onResult: tally });
  const capacity = Math.round((baseline.requests * 1000) / baseline.elapsedMs);

  const gatewayPid = stack.process("gateway")!.pid!;
  const rssBefore = rssBytes(gatewayPid);
  const rss: number[] = [];
  const sampler = setInterval(() => rss.push(rssBytes(gatewayPid)), 250);
  const retryAfter = new Set<string>();
  const servedLatency: number[] = [];
  let overload;
  try {
    overload = await runLoad({
      origin: stack.gatewayUrl,
      connections: 2_000,
      durationMs: 12_000,
      timeoutMs: 10_000,
      next: request,
      onResult: (i, o) => {
        tally(i, o);
        if (o.status === 429) retryAfter.add(o.retryAfter ?? "missing");
        if (o.status === 200) servedLatency.push(o.latencyMs);
      },
    });
  } finally {
    clearInterval(sampler);
  }
  const offered = Math.round((overload.requests * 1000) / overload.elapsedMs);
  const shed = overload.byStatus["429"] ?? 0;
  const served = overload.byStatus["200"] ?? 0;
  const otherStatuses = Object.keys(overload.byStatus).filter((s) => s !== "200" && s !== "429");
  assert.ok(shed > 0, `the excess is shed with 429: ${summarize(overload)}`);
  assert.deepEqual([...retryAfter], ["1"], "every 429 carries Retry-After");
  assert.deepEqual(otherStatuses, [], `only 200 and 429: ${JSON.stringify(overload.byStatus)}`);
  assert.ok(stack.process("gateway")!.exitCode === null, "the gateway is still running");
  const rssMax = Math.max(...rss);
  const third = Math.floor(rss.length / 3);
  const early = Math.max(...rss.slice(0, third));
  const late = Math.max(...rss.slice(2 * third));
  assert.ok(rssMax < 512 * 1024 * 1024, `gateway RSS stays under the chart's 512 MiB limit (max ${(rssMax / 2 ** 20).toFixed(0)} MiB)`);
  assert.ok(late < early * 1.25 + 32 * 2 ** 20, `RSS does not keep growing under overload (early ${early >> 20} MiB, late ${late >> 20} MiB)`);

  // Recovery: with the load gone, requests are served at once.
  const recoverStart = Date.now();
  await eventually("the gateway to serve normally again", async () => {
    const t0 = performance.now();
    const r = await http("POST", `${stack.gatewayUrl}/api/v1/counter/increment`, { resource_id: "ov0", counter_type: type, delta: 1 });
    if (r.status === 200) acked[0]!++;
    return r.status === 200 && performance.now() - t0 < 200 ? true : undefined;
  }, 10_000, 100);
  const recoveredMs = Date.now() - recoverStart;
  const after = [];
  for (let i = 0; i < 20; i++) {
    const r = await http("POST", `${stack.gatewayUrl}/api/v1/counter/increment`, { resource_id: `ov${i}`, counter_type: type, delta: 1 });
    if (r.status === 200) acked[i]!++;
    after.push(r.status);
    await sleep(20);
  }
  assert.ok(after.every((s) => s === 200), `served after the overload: ${after}`);

  // Exact counts: a refused (429) increment was never applied, an acknowledged one exactly once.
  const stored = (await stack.redis.mget(Array.from({ length: KEYS }, (_, k) => `counter:ov${k}:${type}`))).map((v) => Number(v ?? 0));
  const wrong = stored.flatMap((v, k) => (v < acked[k]! || v > acked[k]! + doubt[k]! ? [`ov${k}: stored ${v}, acknowledged ${acked[k]}, in doubt ${doubt[k]}`] : []));
  assert.deepEqual(wrong.slice(0, 5), []);
  const ackedSum = acked.reduce((a, b) => a + b, 0);
  const storedSum = stored.reduce((a, b) => a + b, 0);
  const shedCounted = await scrape(`${stack.gatewayUrl}/metrics`, "highgopress_gateway_rejected_requests_total", true);

  report("overload", {
    capacityPerSecond: capacity,
    baseline: summarize(baseline),
    overload: summarize(overload),
    offeredPerSecond: offered,
    servedPerSecond: Math.round((served * 1000) / overload.elapsedMs),
    shedRate: Number((shed / overload.requests).toFixed(3)),
    p99ServedMs: Number(percentile(servedLatency, 99).toFixed(1)),
    p99ShedOrServedMs: Number(percentile(overload.latencies, 99).toFixed(1)),
    rejectedByAdmissionMetric: shedCounted,
    gatewayRssBeforeMiB: Math.round(rssBefore / 2 ** 20),
    gatewayRssMaxMiB: Math.round(rssMax / 2 ** 20),
    recoveredMs,
    acknowledgedSum: ackedSum,
    storedSum,
    inDoubt: doubt.reduce((a, b) => a + b, 0),
  });
});
