import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { http, startStack, type Stack } from "../support/stack.js";
import { mulberry32 } from "../../bench/prng.js";
import { fuzzCase, rawCase, type FuzzCase } from "./support/fuzz.js";
import { runLoad, summarize } from "./support/load.js";
import { report } from "./support/report.js";

/**
 * At least 10,000 generated malformed requests (bad JSON, wrong types, huge
 * and overflowing numbers, unicode, path tricks, oversized bodies, missing
 * fields, key-collision attempts, bad keys and headers) plus raw protocol
 * garbage: only 4xx answers with a clear JSON message, no 5xx, no stack
 * trace, no crash.
 */
const CASES = Number(process.env.FAULT_FUZZ_CASES ?? 12_000);
const SEED = Number(process.env.FAULT_FUZZ_SEED ?? 20261122);
const API_KEY = "fuzz-test-key-0123456789";

let stack: Stack;
before(async () => {
  stack = await startStack({ env: { API_KEYS: API_KEY } });
});
after(() => stack?.stop());

test(`${CASES} malformed requests: only 4xx with a clear message, no 5xx, no crash`, { timeout: 240_000 }, async () => {
  const type = stack.counterType("fuzz");
  const rand = mulberry32(SEED);
  const cases: FuzzCase[] = Array.from({ length: CASES }, () => fuzzCase(rand, type));
  const bad: string[] = [];
  const byKind = new Map<string, Record<number, number>>();
  const summary = await runLoad({
    origin: stack.gatewayUrl,
    connections: 32,
    maxRequests: CASES,
    durationMs: 200_000,
    timeoutMs: 10_000,
    next: (i) => {
      const c = cases[i]!;
      return { ...c, headers: { "x-api-key": API_KEY, ...c.headers } };
    },
    onResult: (i, o) => {
      const c = cases[i]!;
      const counts = byKind.get(c.kind) ?? {};
      counts[o.status] = (counts[o.status] ?? 0) + 1;
      byKind.set(c.kind, counts);
      let message: unknown;
      try {
        const parsed = JSON.parse(o.body ?? "");
        message = parsed.status === "error" ? parsed.error : undefined;
      } catch {
        message = undefined;
      }
      const problem =
        o.status < 400 || o.status >= 500
          ? `answered ${o.status || o.error}`
          : typeof message !== "string" || message.length === 0
            ? "no {status:'error', error:<message>} body"
            : /\n\s+at |\.js:\d+/.test(o.body ?? "")
              ? "stack trace in the body"
              : undefined;
      if (problem && bad.length < 20) bad.push(`#${i} ${c.kind} ${c.method} ${c.path.slice(0, 100)} ${String(c.body ?? "").slice(0, 100)}: ${problem}`);
    },
  });
  assert.equal(summary.requests, CASES);
  assert.deepEqual(bad, [], "every malformed request gets a 4xx with a message");
  console.log(`# fuzz: ${summarize(summary)}`);

  // Raw protocol garbage on fresh sockets: a 4xx or a closed connection, never a 5xx.
  const rawRand = mulberry32(SEED + 1);
  const rawAnswers: Record<string, number> = {};
  const rawStarted = Date.now();
  const raws = Array.from({ length: 300 }, () => rawCase(rawRand));
  for (let i = 0; i < raws.length; i += 30) {
    const answers = await Promise.all(raws.slice(i, i + 30).map((raw) => rawExchange(stack.ports.gateway, raw)));
    for (const answer of answers) {
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? "closed";
      rawAnswers[status] = (rawAnswers[status] ?? 0) + 1;
      assert.ok(status === "closed" || status.startsWith("4"), `raw request answered ${status}: ${answer.slice(0, 200)}`);
    }
  }

  console.log(`# raw: 300 exchanges in ${Date.now() - rawStarted} ms`);

  // Nothing crashed and nothing was written.
  for (const name of ["gateway", "counter", "analytics"] as const) assert.equal(stack.process(name)?.exitCode, null, `${name} is running`);
  assert.equal((await http("GET", `${stack.gatewayUrl}/readyz`)).status, 200);
  const ok = await http("POST", `${stack.gatewayUrl}/api/v1/counter/increment`, { resource_id: "after-fuzz", counter_type: type }, { "x-api-key": API_KEY });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.data.current_value, 1, "no fuzz request incremented the fuzz counter type");
  const longest = await http("GET", `${stack.gatewayUrl}/api/v1/counter/${"x".repeat(128)}/${type}`);
  assert.equal(longest.status, 200, "a 128-character id (the longest allowed) is not mistaken for an attack");
  const written = await stack.redis.keys(`counter:*:${type}`);
  assert.deepEqual(written, [`counter:after-fuzz:${type}`]);

  report("fuzz", {
    requests: summary.requests,
    seed: SEED,
    load: summarize(summary),
    byKind: Object.fromEntries(byKind),
    rawRequests: 300,
    rawAnswers,
    fiveHundreds: Object.entries(summary.byStatus).filter(([s]) => s.startsWith("5")).length,
  });
});

/** Writes raw bytes, returns whatever comes back before the server closes or 1 s passes. */
function rawExchange(port: number, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let data = "";
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data);
    };
    const timer = setTimeout(done, 1_000);
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
      if (/\r\n\r\n/.test(data)) done();
    });
    socket.on("error", done);
    socket.on("close", done);
    socket.write(payload);
  });
}
