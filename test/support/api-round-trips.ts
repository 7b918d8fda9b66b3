/**
 * The core API round trips, against a stack on standalone Redis (api.test.ts)
 * or on a Redis Cluster (redis-cluster.test.ts): the same answers in both.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { RedisMode } from "../../services/lib/redis-shards.js";
import { http, startStack, type Stack } from "./stack.js";

/** Starts a stack for the file and registers the round trips; the stack is for the file's other tests. */
export function apiRoundTrips(redisMode: RedisMode, env: Record<string, string> = {}): () => Stack {
  let stack: Stack;
  let url: string;
  before(async () => {
    // Answers, not load shedding (test/faults/overload.test.ts): on a box busy
    // with other suites, a burst of 1,000 must not be shed as 429s.
    stack = await startStack({ redisMode, env: { SHED_EVENT_LOOP_DELAY_MS: "0", ...env } });
    url = stack.gatewayUrl;
  });
  after(() => stack?.stop());
  const id = (name: string) => `${name}-${stack.runId}`;

  describe(`HTTP round trips through gateway, counter and Redis (${redisMode})`, () => {
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
      assert.equal(await stack.redis.get(stack.counterKey(id("article"), "like")), "5");
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
        assert.equal(await stack.redis.get(stack.counterKey(key, "like")), "20");
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
      assert.equal(await stack.redis.get(stack.counterKey(id("idem"), "like")), "7");

      const conflict = await http("POST", `${url}/api/v1/counter/increment`, { ...body, delta: 8 }, { "Idempotency-Key": key });
      assert.equal(conflict.status, 409);
      assert.match(conflict.body.error, /already used for a different increment/);
      assert.equal(await stack.redis.get(stack.counterKey(id("idem"), "like")), "7");
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
  return () => stack;
}
