/**
 * Increments through the gateway and the analytics totals they must become:
 * the shared steps of the tests that follow events through Kafka.
 */
import assert from "node:assert/strict";
import { outboxStreams } from "../../services/counter/store.js";
import { eventually, http, type Stack } from "./stack.js";

export interface TopPage {
  total: number;
  items: Array<{ rank: number; resource_id: string; value: number; increment_count: number }>;
}

/** A page of the ranking of a counter type over the last 24 h, through the gateway. */
export async function topOf(stack: Stack, counterType: string, limit = 100, page = 1): Promise<TopPage> {
  const r = await http("GET", `${stack.gatewayUrl}/api/v1/analytics/top?counter_type=${counterType}&limit=${limit}&page=${page}&time_range=24h`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.data as TopPage;
}

/** The outbox stream of every shard (the one stream on one Redis). */
export const outboxKeys = (stack: Stack) => outboxStreams(stack.layout, stack.env.OUTBOX_STREAM!).map(({ key }) => key);

/** Entries waiting in the outbox, over every shard. */
export async function outboxLength(stack: Stack): Promise<number> {
  const lengths = await Promise.all(outboxKeys(stack).map((key) => stack.redis.xlen(key)));
  return lengths.reduce((sum, n) => sum + n, 0);
}

/** Entries the relays have read and not yet acknowledged, over every shard. */
export async function outboxPending(stack: Stack): Promise<number> {
  const pending = await Promise.all(outboxKeys(stack).map((key) => stack.redis.xpending(key, "outbox-relay") as Promise<[number, ...unknown[]]>));
  return pending.reduce((sum, [count]) => sum + count, 0);
}

/** Waits until the outbox of every shard is empty. */
export const outboxDrained = (stack: Stack, timeoutMs = 60_000) =>
  eventually("every shard's outbox to drain", async () => ((await outboxLength(stack)) === 0 ? true : undefined), timeoutMs, 250);

/** Increments through the gateway; returns the expected analytics total per resource. */
export async function writeSome(stack: Stack, type: string): Promise<Map<string, number>> {
  const expected = new Map<string, number>();
  const writes = Array.from({ length: 60 }, (_, i) => ({ resource: `r${i % 4}`, delta: 1 + (i % 3) }));
  const answers = await Promise.all(
    writes.map((w) => http("POST", `${stack.gatewayUrl}/api/v1/counter/increment`, { resource_id: w.resource, counter_type: type, delta: w.delta })),
  );
  assert.deepEqual([...new Set(answers.map((a) => a.status))], [200]);
  for (const w of writes) expected.set(w.resource, (expected.get(w.resource) ?? 0) + w.delta);
  return expected;
}

export async function analyticsEquals(stack: Stack, type: string, expected: Map<string, number>): Promise<void> {
  await eventually(
    "analytics to hold every increment exactly once",
    async () => {
      const r = await http("GET", `${stack.gatewayUrl}/api/v1/analytics/top?counter_type=${type}&limit=100&time_range=24h`);
      const items: Array<{ resource_id: string; value: number }> = r.body.data?.items ?? [];
      const same = items.length === expected.size && items.every((i) => expected.get(i.resource_id) === i.value);
      return same ? true : undefined;
    },
    60_000,
    250,
  );
}
