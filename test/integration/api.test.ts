import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { http, startStack, type HttpResult, type Stack } from "../support/stack.js";

let stack: Stack;
let url: string;
before(async () => {
  stack = await startStack();
  url = stack.gatewayUrl;
});
after(() => stack?.stop());

const id = (name: string) => `${name}-${stack.runId}`;

describe("HTTP round trips through gateway, counter and Redis", () => {
  test("increment, then get, returns the original JSON shape", async () => {
    const r = await http("POST", `${url}/api/v1/counter/increment`, { resource_id: id("article"), counter_type: "like", delta: 3 });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, "success");
    assert.deepEqual(Object.keys(r.body.data).sort(), ["counter_type", "current_value", "resource_id", "success", "timestamp"]);
    assert.equal(r.body.data.current_value, 3);
    assert.equal(r.body.data.success, true);
    assert.ok(Math.abs(r.body.data.timestamp - Date.now() / 1000) < 60);

    const again = await http("POST", `${url}/api/v1/counter/increment`, { resource_id: id("article"), counter_type: "like", increment: 2, user_id: "u1" });
    assert.equal(again.body.data.current_value, 5, "`increment` is accepted as an alias of delta");

    const g = await http("GET", `${url}/api/v1/counter/${id("article")}/like`);
    assert.equal(g.status, 200);
    assert.equal(g.body.data.current_value, 5);
    assert.equal(await stack.redis.get(`counter:${id("article")}:like`), "5");
  });

  test("an unknown counter reads as 0", async () => {
    const g = await http("GET", `${url}/api/v1/counter/${id("never")}/view`);
    assert.equal(g.status, 200);
    assert.equal(g.body.data.current_value, 0);
  });

  test("batch-increment answers per operation, in order, with exact values", async () => {
    const ops = [
      { resource_id: id("b1"), counter_type: "like", delta: 1 },
      { resource_id: id("b2"), counter_type: "view", delta: 10 },
      { resource_id: id("b1"), counter_type: "like", delta: 4 },
      { resource_id: id("b1"), counter_type: "like" },
    ];
    const r = await http("POST", `${url}/api/v1/counter/batch-increment`, { operations: ops });
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.data.results.map((x: any) => [x.resource_id, x.counter_type, x.current_value]),
      [
        [id("b1"), "like", 1],
        [id("b2"), "view", 10],
        [id("b1"), "like", 5],
        [id("b1"), "like", 6],
      ],
    );
    assert.equal(r.body.data.count, 4);
  });

  test("batch get returns values in query order", async () => {
    const r = await http("POST", `${url}/api/v1/counter/batch`, {
      queries: [
        { resource_id: id("b2"), counter_type: "view" },
        { resource_id: id("nothing"), counter_type: "like" },
        { resource_id: id("b1"), counter_type: "like" },
      ],
    });
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.data.results.map((x: any) => x.current_value),
      [10, 0, 6],
    );
  });

  test("1,000 concurrent increments over 50 keys: exact totals, each caller a distinct correct value", async () => {
    const keys = Array.from({ length: 50 }, (_, i) => id(`hot${i}`));
    const calls = Array.from({ length: 1000 }, (_, i) => ({ resource_id: keys[i % 50]!, counter_type: "like", delta: 1 }));
    const answers = await Promise.all(calls.map((body) => http("POST", `${url}/api/v1/counter/increment`, body)));
    assert.ok(answers.every((a) => a.status === 200), `statuses: ${[...new Set(answers.map((a) => a.status))]}`);
    const seen = new Map<string, number[]>();
    for (const a of answers) {
      const list = seen.get(a.body.data.resource_id) ?? [];
      list.push(a.body.data.current_value);
      seen.set(a.body.data.resource_id, list);
    }
    for (const key of keys) {
      const values = (seen.get(key) ?? []).sort((a, b) => a - b);
      assert.deepEqual(values, Array.from({ length: 20 }, (_, i) => i + 1), `values returned for ${key}`);
      assert.equal(await stack.redis.get(`counter:${key}:like`), "20");
    }
  });

  test("an Idempotency-Key repeated returns the first result and counts once", async () => {
    const key = `idem-${stack.runId}`;
    const body = { resource_id: id("idem"), counter_type: "like", delta: 7 };
    const first = await http("POST", `${url}/api/v1/counter/increment`, body, { "Idempotency-Key": key });
    const second = await http("POST", `${url}/api/v1/counter/increment`, body, { "Idempotency-Key": key });
    const concurrent = await Promise.all(
      Array.from({ length: 20 }, () => http("POST", `${url}/api/v1/counter/increment`, body, { "Idempotency-Key": key })),
    );
    assert.equal(first.status, 200);
    assert.equal(first.body.data.current_value, 7);
    assert.equal(second.body.data.current_value, 7);
    assert.equal(second.headers.get("idempotent-replayed"), "true");
    assert.ok(concurrent.every((r) => r.status === 200 && r.body.data.current_value === 7));
    assert.equal(await stack.redis.get(`counter:${id("idem")}:like`), "7");

    const conflict = await http("POST", `${url}/api/v1/counter/increment`, { ...body, delta: 8 }, { "Idempotency-Key": key });
    assert.equal(conflict.status, 409);
    assert.match(conflict.body.error, /already used for a different increment/);
    assert.equal(await stack.redis.get(`counter:${id("idem")}:like`), "7");
  });

  test("health, liveness, readiness and metrics answer", async () => {
    const h = await http("GET", `${url}/api/v1/health`);
    assert.equal(h.status, 200);
    assert.equal(h.body.data.status, "healthy");
    assert.equal((await http("GET", `${url}/healthz`)).status, 200);
    const ready = await http("GET", `${url}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.body.downstreams, { counter: true, analytics: true });
    const m = await http("GET", `${url}/metrics`);
    assert.equal(m.status, 200);
    assert.match(m.body, /highgopress_gateway_coalesced_batch_size_bucket/);
  });
});

describe("invalid input gets a 4xx with a clear message, never a 5xx", () => {
  const post = (path: string, body: unknown, headers?: Record<string, string>) => http("POST", `${url}${path}`, body, headers);
  const inc = "/api/v1/counter/increment";
  const cases: Array<[string, () => Promise<HttpResult>, number, RegExp]> = [
    ["missing resource_id", () => post(inc, { counter_type: "like" }), 400, /resource_id is required/],
    ["missing counter_type", () => post(inc, { resource_id: "a" }), 400, /counter_type is required/],
    ["empty resource_id", () => post(inc, { resource_id: "", counter_type: "like" }), 400, /resource_id must be 1-128 characters/],
    ["129-character resource_id", () => post(inc, { resource_id: "x".repeat(129), counter_type: "like" }), 400, /resource_id must be 1-128/],
    ["':' in resource_id (key collision attempt)", () => post(inc, { resource_id: "a:b", counter_type: "like" }), 400, /resource_id must be 1-128/],
    ["unicode counter_type", () => post(inc, { resource_id: "a", counter_type: "like😀" }), 400, /counter_type must be 1-128/],
    ["path trick", () => post(inc, { resource_id: "../../etc", counter_type: "like" }), 400, /resource_id/],
    ["numeric resource_id", () => post(inc, { resource_id: 12, counter_type: "like" }), 400, /resource_id must be string/],
    ["string delta", () => post(inc, { resource_id: "a", counter_type: "like", delta: "5" }), 400, /delta must be integer/],
    ["fractional delta", () => post(inc, { resource_id: "a", counter_type: "like", delta: 1.5 }), 400, /delta must be integer/],
    ["delta over 1e9", () => post(inc, { resource_id: "a", counter_type: "like", delta: 1_000_000_001 }), 400, /delta must be <= 1000000000/],
    ["delta under -1e9", () => post(inc, { resource_id: "a", counter_type: "like", delta: -1_000_000_001 }), 400, /delta must be >= -1000000000/],
    ["huge delta", () => post(inc, '{"resource_id":"a","counter_type":"like","delta":1e400}'), 400, /delta/],
    ["bad JSON", () => post(inc, '{"resource_id": "a",'), 400, /not valid JSON/],
    ["JSON array body", () => post(inc, "[1,2]"), 400, /body must be object/],
    ["empty body", () => http("POST", `${url}${inc}`, "", { "content-type": "application/json" }), 400, /empty/],
    ["wrong content type", () => http("POST", `${url}${inc}`, "resource_id=a", { "content-type": "text/plain" }), 415, /content-type/],
    ["body over 64 KiB", () => post(inc, { resource_id: "a", counter_type: "like", pad: "x".repeat(70_000) }), 413, /too large/],
    ["empty Idempotency-Key is fine but a 300-char one is not", () => post(inc, { resource_id: "a", counter_type: "like" }, { "Idempotency-Key": "k".repeat(300) }), 400, /Idempotency-Key/],
    ["batch-increment with 101 operations", () => post("/api/v1/counter/batch-increment", { operations: Array.from({ length: 101 }, () => ({ resource_id: "a", counter_type: "like" })) }), 400, /must NOT have more than 100 items/],
    ["batch-increment with no operations", () => post("/api/v1/counter/batch-increment", { operations: [] }), 400, /must NOT have fewer than 1 items/],
    ["batch-increment with a bad operation", () => post("/api/v1/counter/batch-increment", { operations: [{ resource_id: "a", counter_type: "like" }, { resource_id: "a b", counter_type: "like" }] }), 400, /operations\.1\.resource_id/],
    ["batch get without queries", () => post("/api/v1/counter/batch", {}), 400, /queries is required/],
    ["batch get with 101 queries", () => post("/api/v1/counter/batch", { queries: Array.from({ length: 101 }, () => ({ resource_id: "a", counter_type: "like" })) }), 400, /more than 100/],
    ["GET with a bad id", () => http("GET", `${url}/api/v1/counter/a%3Ab/like`), 400, /resource_id must be 1-128/],
    ["top without counter_type", () => http("GET", `${url}/api/v1/analytics/top`), 400, /counter_type is required/],
    ["top with limit 101", () => http("GET", `${url}/api/v1/analytics/top?counter_type=like&limit=101`), 400, /limit must be between 1 and 100/],
    ["top with limit 0", () => http("GET", `${url}/api/v1/analytics/top?counter_type=like&limit=0`), 400, /limit must be between 1 and 100/],
    ["top with a word as limit", () => http("GET", `${url}/api/v1/analytics/top?counter_type=like&limit=ten`), 400, /limit/],
    ["top with an unknown time range", () => http("GET", `${url}/api/v1/analytics/top?counter_type=like&time_range=2d`), 400, /time_range must be equal to one of the allowed values/],
    ["stats with an unknown time range", () => http("GET", `${url}/api/v1/analytics/stats/a/like?time_range=1y`), 400, /time_range/],
    ["unknown route", () => http("GET", `${url}/api/v1/nothing`), 404, /no route/],
  ];
  for (const [name, send, status, message] of cases) {
    test(name, async () => {
      const r = await send();
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.status, "error");
      assert.match(r.body.error, message);
      assert.doesNotMatch(JSON.stringify(r.body), /at .*\.js:\d+/, "no stack trace");
    });
  }

  test("unknown fields are ignored", async () => {
    const r = await http("POST", `${url}/api/v1/counter/increment`, { resource_id: id("extra"), counter_type: "like", colour: "blue" });
    assert.equal(r.status, 200);
    assert.equal(r.body.data.current_value, 1);
  });
});
