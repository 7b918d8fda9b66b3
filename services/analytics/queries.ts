import type { Redis } from "../lib/redis.js";
import type { TimeRange } from "../lib/validation.js";
import { countKey, hourId, legacyCountKey, rangeHours, rankKey, sumKey } from "./buckets.js";
import { seriesStats, type HourPoint, type SeriesStats } from "./stats.js";

export interface TopItem {
  rank: number;
  resourceId: string;
  /** Exact int64, as a decimal string. */
  value: string;
  incrementCount: number;
}

/** A sum of integers held in a double is exact while it stays below 2^53; 2^52 leaves room for the partial sums of a union. */
const EXACT_IN_DOUBLE = 2 ** 52;

function exactScore(score: string | null | undefined): bigint | undefined {
  if (score === null || score === undefined) return undefined;
  const n = Number(score);
  return Math.abs(n) < EXACT_IN_DOUBLE ? BigInt(Math.round(n)) : undefined;
}

export interface AnalyticsQueries {
  top(counterType: string, range: TimeRange, limit: number, page: number): Promise<{ items: TopItem[]; totalItems: number }>;
  /** Sums as exact decimal strings. */
  stats(
    resourceId: string,
    counterType: string,
    range: TimeRange,
  ): Promise<Omit<SeriesStats, "total" | "peak"> & { total: string; peak: string; series: Array<Omit<HourPoint, "value"> & { value: string }> }>;
}

/**
 * Reads over the hourly buckets. A range's ranking is the union of its
 * buckets, kept for `topCacheSeconds` so a burst of ranking reads costs one
 * union. Ranking scores are doubles: a value too large for one to hold
 * exactly is summed again from the exact hourly sums. Increment counts are
 * summed over the hours for the members of the page only.
 */
export function createAnalyticsQueries(redis: Redis, options: { topCacheSeconds: number; now?: () => number }): AnalyticsQueries {
  const now = options.now ?? Date.now;
  return {
    async top(counterType, range, limit, page) {
      const hours = rangeHours(range, now());
      const newest = hours[hours.length - 1]!;
      const unionKey = `top:${counterType}:${range}:${hourId(newest)}`;
      if (!(await redis.exists(unionKey))) {
        await redis
          .multi()
          .zunionstore(unionKey, hours.length, ...hours.map((h) => rankKey(counterType, h)))
          .expire(unionKey, options.topCacheSeconds)
          .exec();
      }
      const start = (page - 1) * limit;
      const [ranked, totalItems] = await Promise.all([
        redis.zrevrange(unionKey, start, start + limit - 1, "WITHSCORES"),
        redis.zcard(unionKey),
      ]);
      const members: string[] = [];
      const scores: string[] = [];
      for (let i = 0; i + 1 < ranked.length; i += 2) {
        members.push(ranked[i]!);
        scores.push(ranked[i + 1]!);
      }
      const counts = await incrementCounts(redis, counterType, hours, members);
      const values = scores.map((score) => exactScore(score)?.toString());
      const inexact = members.filter((_, i) => values[i] === undefined);
      if (inexact.length > 0) {
        const pipeline = redis.pipeline();
        for (const h of hours) pipeline.hmget(sumKey(counterType, h), ...inexact);
        const sums = await exactSums(pipeline, inexact.length);
        members.forEach((_, i) => {
          if (values[i] === undefined) values[i] = (sums[inexact.indexOf(members[i]!)] ?? BigInt(Math.round(Number(scores[i])))).toString();
        });
      }
      return {
        totalItems,
        items: members.map((resourceId, i) => ({
          rank: start + i + 1,
          resourceId,
          value: values[i]!,
          incrementCount: counts[i]!,
        })),
      };
    },
    async stats(resourceId, counterType, range) {
      const hours = rangeHours(range, now());
      const pipeline = redis.pipeline();
      for (const h of hours) {
        pipeline
          .hget(sumKey(counterType, h), resourceId)
          .zscore(rankKey(counterType, h), resourceId)
          .hget(countKey(counterType, h), resourceId)
          .zscore(legacyCountKey(counterType, h), resourceId);
      }
      const replies = await execOrThrow(pipeline);
      const series = hours.map((hourStartMs, i) => {
        const [sum, score, count, legacyCount] = replies.slice(4 * i, 4 * i + 4) as Array<string | null>;
        // Hours written before the exact sums existed have only the score.
        const value = sum !== null && sum !== undefined ? BigInt(sum) : (exactScore(score) ?? BigInt(Math.round(Number(score ?? 0))));
        return { hourStartMs, value, incrementCount: Number(count ?? 0) + Number(legacyCount ?? 0) };
      });
      const stats = seriesStats(series);
      return {
        ...stats,
        series: series.map((p) => ({ ...p, value: p.value.toString() })),
        total: stats.total.toString(),
        peak: stats.peak.toString(),
      };
    },
  };
}

async function execOrThrow(pipeline: ReturnType<Redis["pipeline"]>): Promise<unknown[]> {
  const replies = (await pipeline.exec()) ?? [];
  const failed = replies.find(([err]) => err);
  if (failed) throw failed[0];
  return replies.map(([, reply]) => reply);
}

/**
 * Per member, its increment count over the hours: the hourly count hashes,
 * plus the sorted sets older releases kept them in (hours written before
 * the upgrade; they expire with their bucket).
 */
async function incrementCounts(redis: Redis, counterType: string, hours: readonly number[], members: readonly string[]): Promise<number[]> {
  const counts: number[] = new Array(members.length).fill(0);
  if (members.length === 0) return counts;
  const pipeline = redis.pipeline();
  for (const h of hours) pipeline.hmget(countKey(counterType, h), ...members).zmscore(legacyCountKey(counterType, h), ...members);
  for (const hour of (await execOrThrow(pipeline)) as Array<Array<string | null>>) {
    hour.forEach((v, m) => {
      if (v !== null) counts[m]! += Number(v);
    });
  }
  return counts;
}

/** Per member, the sum over the hours of its exact hourly sums (undefined where no hour has one). */
async function exactSums(pipeline: ReturnType<Redis["pipeline"]>, members: number): Promise<Array<bigint | undefined>> {
  const sums: Array<bigint | undefined> = new Array(members);
  for (const hour of (await execOrThrow(pipeline)) as Array<Array<string | null>>) {
    hour.forEach((v, m) => {
      if (v !== null) sums[m] = (sums[m] ?? 0n) + BigInt(v);
    });
  }
  return sums;
}
