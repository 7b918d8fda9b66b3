/**
 * The consistency check of a write level. The arithmetic is pure; the
 * readers below fetch what Redis (the source of truth) and the analytics
 * buckets hold for the level's keys.
 *
 * - Redis: every key's value equals the deltas the clients were told
 *   succeeded (2xx answers, tallied per resource id by the generator).
 * - Analytics: once the events have drained (outbox → Kafka → analytics),
 *   every key's ranking score equals its Redis value, and its increment
 *   count equals the number of acknowledged increments.
 */
import { countKey, hourStart, HOUR_MS, rankKey } from "../services/analytics/buckets.js";
import { counterKey } from "../services/counter/store.js";
import type { RedisClient } from "../services/lib/redis.js";
import { groupByShard, type ShardLayout } from "../services/lib/redis-shards.js";

export interface Mismatch {
  id: string;
  expected: number;
  actual: number;
}

export interface KeyComparison {
  keys: number;
  mismatched: number;
  expectedSum: number;
  actualSum: number;
  /** The first few differences, for the report. */
  examples: Mismatch[];
}

export const sumOf = (m: ReadonlyMap<string, number>) => {
  let s = 0;
  for (const v of m.values()) s += v;
  return s;
};

/** Compares two per-key tallies over the union of their keys (a missing key counts as 0). */
export function compareCounts(expected: ReadonlyMap<string, number>, actual: ReadonlyMap<string, number>, maxExamples = 5): KeyComparison {
  const keys = new Set([...expected.keys(), ...actual.keys()]);
  const examples: Mismatch[] = [];
  let mismatched = 0;
  for (const id of keys) {
    const e = expected.get(id) ?? 0;
    const a = actual.get(id) ?? 0;
    if (e !== a) {
      mismatched++;
      if (examples.length < maxExamples) examples.push({ id, expected: e, actual: a });
    }
  }
  return { keys: keys.size, mismatched, expectedSum: sumOf(expected), actualSum: sumOf(actual), examples };
}

export interface Bounds {
  /** Keys holding more than was sent for them. */
  keysOver: number;
  examples: Mismatch[];
  storedSum: number;
  /** Fewer stored than acknowledged in total: an acknowledged increment was lost. */
  lostAcknowledged: boolean;
}

/**
 * What can be checked when some requests failed: the generator counts
 * statuses only (bench/wrk/hgp.lua), so which keys the failed requests
 * named is unknown, and each was either refused or applied with its answer
 * lost. A key may then hold anything up to what was sent for it, and the
 * total at least what was acknowledged.
 */
export function checkBounds(sent: ReadonlyMap<string, number>, stored: ReadonlyMap<string, number>, acknowledgedSum: number, maxExamples = 5): Bounds {
  const examples: Mismatch[] = [];
  let keysOver = 0;
  for (const [id, actual] of stored) {
    const expected = sent.get(id) ?? 0;
    if (actual > expected) {
      keysOver++;
      if (examples.length < maxExamples) examples.push({ id, expected, actual });
    }
  }
  const storedSum = sumOf(stored);
  return { keysOver, examples, storedSum, lostAcknowledged: storedSum < acknowledgedSum };
}

/** Scales a tally of acknowledged requests per id into delta sums. */
export function deltas(acked: ReadonlyMap<string, number>, delta: number): Map<string, number> {
  return new Map([...acked].map(([id, n]) => [id, n * delta]));
}

/** The hourly buckets an event written between `fromMs` and `toMs` can land in. */
export function bucketHours(fromMs: number, toMs: number): number[] {
  const hours: number[] = [];
  for (let h = hourStart(fromMs); h <= hourStart(toMs); h += HOUR_MS) hours.push(h);
  return hours;
}

/** Redis values of the ids' counters, missing as 0: an MGET per shard (a cluster refuses one across slots). */
export async function readCounters(redis: RedisClient, layout: ShardLayout, counterType: string, ids: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const part of groupByShard(layout, ids, (id) => id).values()) {
    for (let i = 0; i < part.length; i += 1_000) {
      const chunk = part.slice(i, i + 1_000).map((p) => p.item);
      const values = await redis.mget(chunk.map((id) => counterKey(layout, id, counterType)));
      chunk.forEach((id, j) => {
        const v = values[j];
        if (v !== null && v !== undefined && Number(v) !== 0) out.set(id, Number(v));
      });
    }
  }
  return out;
}

/** Each shard's keys for the hours (`key` names one), for commands that take one shard's keys at a time. */
const shardKeys = (layout: ShardLayout, hours: readonly number[], key: (shard: number, hour: number) => string) =>
  layout.tags.map((_, shard) => hours.map((h) => key(shard, h)));

const SUM_SCRIPT = `
local s = 0
for _, k in ipairs(KEYS) do
  local r = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  for i = 2, #r, 2 do s = s + tonumber(r[i]) end
end
return tostring(s)
`;

/** Sum of the ranking scores of a counter type over the hours: one cheap poll (a script per shard) while events drain. */
export async function analyticsTotal(redis: RedisClient, layout: ShardLayout, counterType: string, hours: readonly number[]): Promise<number> {
  const sums = await Promise.all(
    shardKeys(layout, hours, (shard, h) => rankKey(layout, shard, counterType, h)).map(async (keys) => Number(await redis.eval(SUM_SCRIPT, keys.length, ...keys))),
  );
  return sums.reduce((a, b) => a + b, 0);
}

async function readZsets(redis: RedisClient, keys: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const key of keys) {
    const flat = await redis.zrange(key, 0, -1, "WITHSCORES");
    for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i]!, (out.get(flat[i]!) ?? 0) + Number(flat[i + 1]));
  }
  return out;
}

async function readHashes(redis: RedisClient, keys: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const key of keys) {
    for (const [field, value] of Object.entries(await redis.hgetall(key))) out.set(field, (out.get(field) ?? 0) + Number(value));
  }
  return out;
}

/** Per resource id: summed ranking score and increment count over the hours. */
export async function readAnalytics(
  redis: RedisClient,
  layout: ShardLayout,
  counterType: string,
  hours: readonly number[],
): Promise<{ values: Map<string, number>; counts: Map<string, number> }> {
  const [values, counts] = await Promise.all([
    readZsets(redis, shardKeys(layout, hours, (shard, h) => rankKey(layout, shard, counterType, h)).flat()),
    readHashes(redis, shardKeys(layout, hours, (shard, h) => countKey(layout, shard, counterType, h)).flat()),
  ]);
  return { values, counts };
}
