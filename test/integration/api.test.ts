import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { apiRoundTrips } from "../support/api-round-trips.js";
import { http, type HttpResult } from "../support/stack.js";

const stackOf = apiRoundTrips("standalone");

describe("invalid input gets a 4xx with a clear message, never a 5xx", () => {
  const url = () => stackOf().gatewayUrl;
  const id = (name: string) => `${name}-${stackOf().runId}`;
  const post = (path: string, body: unknown, headers?: Record<string, string>) => http("POST", `${url()}${path}`, body, headers);
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
    ["empty body", () => http("POST", `${url()}${inc}`, "", { "content-type": "application/json" }), 400, /empty/],
    ["wrong content type", () => http("POST", `${url()}${inc}`, "resource_id=a", { "content-type": "text/plain" }), 415, /content-type/],
    ["body over 64 KiB", () => post(inc, { resource_id: "a", counter_type: "like", pad: "x".repeat(70_000) }), 413, /too large/],
    ["empty Idempotency-Key is fine but a 300-char one is not", () => post(inc, { resource_id: "a", counter_type: "like" }, { "Idempotency-Key": "k".repeat(300) }), 400, /Idempotency-Key/],
    ["batch-increment with 101 operations", () => post("/api/v1/counter/batch-increment", { operations: Array.from({ length: 101 }, () => ({ resource_id: "a", counter_type: "like" })) }), 400, /must NOT have more than 100 items/],
    ["batch-increment with no operations", () => post("/api/v1/counter/batch-increment", { operations: [] }), 400, /must NOT have fewer than 1 items/],
    ["batch-increment with a bad operation", () => post("/api/v1/counter/batch-increment", { operations: [{ resource_id: "a", counter_type: "like" }, { resource_id: "a b", counter_type: "like" }] }), 400, /operations\.1\.resource_id/],
    ["batch get without queries", () => post("/api/v1/counter/batch", {}), 400, /queries is required/],
    ["batch get with 101 queries", () => post("/api/v1/counter/batch", { queries: Array.from({ length: 101 }, () => ({ resource_id: "a", counter_type: "like" })) }), 400, /more than 100/],
    ["GET with a bad id", () => http("GET", `${url()}/api/v1/counter/a%3Ab/like`), 400, /resource_id must be 1-128/],
    ["top without counter_type", () => http("GET", `${url()}/api/v1/analytics/top`), 400, /counter_type is required/],
    ["top with limit 101", () => http("GET", `${url()}/api/v1/analytics/top?counter_type=like&limit=101`), 400, /limit must be between 1 and 100/],
    ["top with limit 0", () => http("GET", `${url()}/api/v1/analytics/top?counter_type=like&limit=0`), 400, /limit must be between 1 and 100/],
    ["top with a word as limit", () => http("GET", `${url()}/api/v1/analytics/top?counter_type=like&limit=ten`), 400, /limit/],
    ["top with an unknown time range", () => http("GET", `${url()}/api/v1/analytics/top?counter_type=like&time_range=2d`), 400, /time_range must be equal to one of the allowed values/],
    ["stats with an unknown time range", () => http("GET", `${url()}/api/v1/analytics/stats/a/like?time_range=1y`), 400, /time_range/],
    ["unknown route", () => http("GET", `${url()}/api/v1/nothing`), 404, /no route/],
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
    const r = await http("POST", `${url()}/api/v1/counter/increment`, { resource_id: id("extra"), counter_type: "like", colour: "blue" });
    assert.equal(r.status, 200);
    assert.equal(r.body.data.current_value, 1);
  });
});
