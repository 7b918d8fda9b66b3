/**
 * Failure isolation and exact 64-bit counters, through the real gateway,
 * counter and Redis: a key Redis refuses to increment fails only the
 * requests for it (409, stable message, nothing applied), the rest of the
 * coalesced batch is applied and answered; values beyond 2^53 are read and
 * written digit for digit; an increment past the int64 range is refused and
 * not applied. Every answer is compared with what Redis holds.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startStack, type Stack } from "../support/stack.js";

let stack: Stack;
before(async () => {
  stack = await startStack({ services: ["gateway", "counter"] });
});
after(() => stack?.stop());

const key = (name: string) => `counter:${name}:like`;
const id = (name: string) => `${name}-${stack.runId}`;

/** What a lossless JSON client reads: integers beyond 2^53 from their source digits. */
function parseExact(text: string): any {
  const reviver = (_key: string, value: unknown, context?: { source?: string }) =>
    typeof value === "number" && !Number.isSafeInteger(value) && context?.source ? BigInt(context.source) : value;
  return JSON.parse(text, reviver as (this: unknown, key: string, value: unknown) => unknown);
}

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.gatewayUrl}${path}`, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, body: parseExact(text) };
}

const increment = (resource: string, delta = 1, headers: Record<string, string> = {}) =>
  call("POST", "/api/v1/counter/increment", { resource_id: resource, counter_type: "like", delta }, headers);

async function circuitOpen(): Promise<string | undefined> {
  const text = await (await fetch(`${stack.gatewayUrl}/metrics`)).text();
  return /highgopress_gateway_circuit_open\{[^}]*downstream="counter"[^}]*\} (\d)/.exec(text)?.[1];
}

describe("one bad key fails one request", () => {
  test("a wrong-type key in a coalesced batch: its 10 requests get 409, the 190 others are applied and answered 200", async () => {
    const bad = id("wt");
    await stack.redis.hset(key(bad), "a", "1");
    const healthy = Array.from({ length: 19 }, (_, k) => id(`ok${k}`));
    const targets = Array.from({ length: 200 }, (_, i) => (i % 20 === 0 ? bad : healthy[i % 19]!));
    const answers = await Promise.all(targets.map((t) => increment(t)));
    const badAnswers = answers.filter((_, i) => targets[i] === bad);
    const okAnswers = answers.filter((_, i) => targets[i] !== bad);
    assert.deepEqual([...new Set(badAnswers.map((a) => a.status))], [409], badAnswers[0]?.text);
    for (const a of badAnswers) {
      assert.equal(a.body.error, `counter ${bad}:like holds a value that is not a 64-bit integer; nothing was changed`);
      assert.doesNotMatch(a.text, /WRONGTYPE|ERR /);
    }
    assert.deepEqual([...new Set(okAnswers.map((a) => a.status))], [200], okAnswers.find((a) => a.status !== 200)?.text);
    for (const resource of healthy) {
      const mine = okAnswers.filter((a) => a.body.data.resource_id === resource).map((a) => a.body.data.current_value).sort((x, y) => x - y);
      const stored = Number(await stack.redis.get(key(resource)));
      assert.deepEqual(mine, Array.from({ length: stored }, (_, k) => k + 1), `${resource}: answers ${mine} against ${stored} in Redis`);
    }
    assert.deepEqual(await stack.redis.hgetall(key(bad)), { a: "1" }, "the bad key is unchanged");
    assert.equal(await circuitOpen(), "0", "a refusal is not an outage: the circuit stays closed");
    assert.equal((await increment(id("after"))).status, 200);
  });

  test("a keyed (idempotent) increment of a wrong-type key is 409 at once, not a retried 503", async () => {
    const bad = id("wt-keyed");
    await stack.redis.hset(key(bad), "a", "1");
    const r = await increment(bad, 1, { "Idempotency-Key": `k-${bad}` });
    assert.equal(r.status, 409, r.text);
    assert.doesNotMatch(r.text, /WRONGTYPE/);
    assert.equal(await stack.redis.exists(`idem:k-${bad}`), 0, "a refused increment leaves no idempotency record");
  });

  test("a text value: increment and read both 409, the value untouched", async () => {
    const bad = id("txt");
    await stack.redis.set(key(bad), "abc");
    assert.equal((await increment(bad)).status, 409);
    const read = await call("GET", `/api/v1/counter/${bad}/like`);
    assert.equal(read.status, 409, read.text);
    assert.equal(await stack.redis.get(key(bad)), "abc");
  });

  test("batch-increment with one refused operation: 207, each result says whether it was applied", async () => {
    const bad = id("wt-batch");
    const good = id("good-batch");
    await stack.redis.hset(key(bad), "a", "1");
    const r = await call("POST", "/api/v1/counter/batch-increment", {
      operations: [
        { resource_id: good, counter_type: "like", delta: 2 },
        { resource_id: bad, counter_type: "like", delta: 1 },
        { resource_id: good, counter_type: "like", delta: 3 },
      ],
    });
    assert.equal(r.status, 207, r.text);
    assert.equal(r.body.status, "partial");
    assert.deepEqual(
      r.body.data.results.map((x: any) => [x.resource_id, x.success, x.current_value ?? x.status]),
      [
        [good, true, 2],
        [bad, false, 409],
        [good, true, 5],
      ],
    );
    assert.equal(await stack.redis.get(key(good)), "5");
  });
});

describe("exact 64-bit counters", () => {
  test("above 2^53: read and incremented digit for digit", async () => {
    const big = id("big");
    await stack.redis.set(key(big), "9007199254740993");
    const read = await call("GET", `/api/v1/counter/${big}/like`);
    assert.equal(read.status, 200, read.text);
    assert.match(read.text, /"current_value":9007199254740993[,}]/);
    const inc = await increment(big);
    assert.equal(inc.status, 200, inc.text);
    assert.equal(inc.body.data.current_value, 9007199254740994n);
    assert.equal(await stack.redis.get(key(big)), "9007199254740994");
    const batch = await call("POST", "/api/v1/counter/batch-increment", {
      operations: [1, 2, 3].map((delta) => ({ resource_id: big, counter_type: "like", delta })),
    });
    assert.deepEqual(batch.body.data.results.map((x: any) => x.current_value), [9007199254740995n, 9007199254740997n, 9007199254741000n]);
    assert.equal(await stack.redis.get(key(big)), "9007199254741000");
  });

  test("up to the int64 maximum and no further: the overflowing increment is refused and not applied", async () => {
    const top = id("ovf");
    await stack.redis.set(key(top), "9223372036854775800");
    const first = await increment(top, 1);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.body.data.current_value, 9223372036854775801n);
    const over = await increment(top, 10);
    assert.equal(over.status, 409, over.text);
    assert.equal(over.body.error, `the increment would take counter ${top}:like outside the 64-bit integer range; it was not applied`);
    assert.equal(await stack.redis.get(key(top)), "9223372036854775801");
    const max = await increment(top, 6);
    assert.equal(max.body.data.current_value, 9223372036854775807n);
    assert.equal(await stack.redis.get(key(top)), "9223372036854775807");
    // The next increment of that key travels with others and fails alone.
    const [again, neighbour] = await Promise.all([increment(top, 1), increment(id("ovf-neighbour"), 1)]);
    assert.equal(again.status, 409);
    assert.equal(neighbour.status, 200, neighbour.text);
    assert.equal(neighbour.body.data.current_value, 1);
  });

  test("down to the int64 minimum", async () => {
    const low = id("low");
    await stack.redis.set(key(low), "-9223372036854775800");
    const min = await increment(low, -8);
    assert.equal(min.body.data.current_value, -9223372036854775808n);
    assert.equal((await increment(low, -1)).status, 409);
    assert.equal(await stack.redis.get(key(low)), "-9223372036854775808");
  });
});
