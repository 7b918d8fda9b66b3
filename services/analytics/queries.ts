import type { Redis } from "../lib/redis.js";
import type { TimeRange } from "../lib/validation.js";
import { countKey, hourId, rangeHours, rankKey } from "./buckets.js";
import { seriesStats, type HourPoint, type SeriesStats } from "./stats.js";

export interface TopItem {
  rank: number;
  resourceId: string;
  value: number;
  incrementCount: number;
}

export interface AnalyticsQueries {
  top(counterType: string, range: TimeRange, limit: number, page: number): Promise<{ items: TopItem[]; totalItems: number }>;
  stats(resourceId: string, counterType: string, range: TimeRange): Promise<SeriesStats & { series: HourPoint[] }>;
}

/**
 * Reads over the hourly buckets. A range's ranking is the union of its
 * buckets, kept for `topCacheSeconds` so a burst of ranking reads costs one
 * union.
 */
export function createAnalyticsQueries(redis: Redis, options: { topCacheSeconds: number; now?: () => number }): AnalyticsQueries {
  const now = options.now ?? Date.now;
  return {
    async top(counterType, range, limit, page) {
      const hours = rangeHours(range, now());
      const newest = hours[hours.length - 1]!;
      const unionKey = `top:${counterType}:${range}:${hourId(newest)}`;
      const unionCountKey = `${unionKey}:n`;
      if (!(await redis.exists(unionKey))) {
        await redis
          .multi()
          .zunionstore(unionKey, hours.length, ...hours.map((h) => rankKey(counterType, h)))
          .zunionstore(unionCountKey, hours.length, ...hours.map((h) => countKey(counterType, h)))
          .expire(unionKey, options.topCacheSeconds)
          .expire(unionCountKey, options.topCacheSeconds)
          .exec();
      }
      const start = (page - 1) * limit;
      const [ranked, totalItems] = await Promise.all([
        redis.zrevrange(unionKey, start, start + limit - 1, "WITHSCORES"),
        redis.zcard(unionKey),
      ]);
      const members: string[] = [];
      const values: number[] = [];
      for (let i = 0; i + 1 < ranked.length; i += 2) {
        members.push(ranked[i]!);
        values.push(Number(ranked[i + 1]));
      }
      const counts = members.length > 0 ? await redis.zmscore(unionCountKey, ...members) : [];
      return {
        totalItems,
        items: members.map((resourceId, i) => ({
          rank: start + i + 1,
          resourceId,
          value: values[i]!,
          incrementCount: Number(counts[i] ?? 0),
        })),
      };
    },
    async stats(resourceId, counterType, range) {
      const hours = rangeHours(range, now());
      const pipeline = redis.pipeline();
      for (const h of hours) pipeline.zscore(rankKey(counterType, h), resourceId).zscore(countKey(counterType, h), resourceId);
      const replies = (await pipeline.exec()) ?? [];
      const failed = replies.find(([err]) => err);
      if (failed) throw failed[0];
      const series = hours.map((hourStartMs, i) => ({
        hourStartMs,
        value: Number(replies[2 * i]?.[1] ?? 0),
        incrementCount: Number(replies[2 * i + 1]?.[1] ?? 0),
      }));
      return { ...seriesStats(series), series };
    },
  };
}
