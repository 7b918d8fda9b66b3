import type { RedisClient } from "../lib/redis.js";
import { groupByShard, type ShardLayout } from "../lib/redis-shards.js";
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
 * summed over the hours for the members of the page only. In cluster mode
 * each shard ranks its own resources and a page is merged from the shards'
 * first pages: a resource is in one shard only, so the merge is exact.
 */
export function createAnalyticsQueries(redis: RedisClient, layout: ShardLayout, options: { topCacheSeconds: number; now?: () => number }): AnalyticsQueries {
  const now = options.now ?? Date.now;
  const shards = layout.tags.map((_, shard) => shard);

  /** The shard's ranking over the range, ranks from..to (0-based, inclusive), and its size. */
  async function shardTop(shard: number, counterType: string, range: TimeRange, hours: readonly number[], from: number, to: number) {
    const unionKey = layout.key("top", shard, `${counterType}:${range}:${hourId(hours[hours.length - 1]!)}`);
    if (!(await redis.exists(unionKey))) {
      await redis
        .multi()
        .zunionstore(unionKey, hours.length, ...hours.map((h) => rankKey(layout, shard, counterType, h)))
        .expire(unionKey, options.topCacheSeconds)
        .exec();
    }
    const [ranked, size] = await Promise.all([redis.zrevrange(unionKey, from, to, "WITHSCORES"), redis.zcard(unionKey)]);
    const entries: Array<{ member: string; score: string }> = [];
    for (let i = 0; i + 1 < ranked.length; i += 2) entries.push({ member: ranked[i]!, score: ranked[i + 1]! });
    return { entries, size };
  }

  return {
    async top(counterType, range, limit, page) {
      const hours = rangeHours(range, now());
      const start = (page - 1) * limit;
      let ranked: Array<{ member: string; score: string }>;
      let totalItems: number;
      if (shards.length === 1) {
        const { entries, size } = await shardTop(0, counterType, range, hours, start, start + limit - 1);
        ranked = entries;
        totalItems = size;
      } else {
        const perShard = await Promise.all(shards.map((shard) => shardTop(shard, counterType, range, hours, 0, start + limit - 1)));
        totalItems = perShard.reduce((n, p) => n + p.size, 0);
        // As ZREVRANGE orders one set: score, then member, both descending.
        ranked = perShard
          .flatMap((p) => p.entries)
          .sort((a, b) => Number(b.score) - Number(a.score) || (a.member < b.member ? 1 : a.member > b.member ? -1 : 0))
          .slice(start, start + limit);
      }
      const members = ranked.map((e) => e.member);
      const scores = ranked.map((e) => e.score);
      const counts = await perMember(redis, layout, members, (pipeline, shard, part) => {
        for (const h of hours) pipeline.hmget(countKey(layout, shard, counterType, h), ...part).zmscore(legacyCountKey(layout, shard, counterType, h), ...part);
      });
      const values = scores.map((score) => exactScore(score)?.toString());
      const inexact = members.filter((_, i) => values[i] === undefined);
      if (inexact.length > 0) {
        const sums = await perMember(redis, layout, inexact, (pipeline, shard, part) => {
          for (const h of hours) pipeline.hmget(sumKey(layout, shard, counterType, h), ...part);
        });
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
          incrementCount: Number(counts[i] ?? 0n),
        })),
      };
    },
    async stats(resourceId, counterType, range) {
      const hours = rangeHours(range, now());
      const shard = layout.shardOf(resourceId);
      const pipeline = redis.pipeline();
      for (const h of hours) {
        pipeline
          .hget(sumKey(layout, shard, counterType, h), resourceId)
          .zscore(rankKey(layout, shard, counterType, h), resourceId)
          .hget(countKey(layout, shard, counterType, h), resourceId)
          .zscore(legacyCountKey(layout, shard, counterType, h), resourceId);
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

async function execOrThrow(pipeline: ReturnType<RedisClient["pipeline"]>): Promise<unknown[]> {
  const replies = (await pipeline.exec()) ?? [];
  const failed = replies.find(([err]) => err);
  if (failed) throw failed[0];
  return replies.map(([, reply]) => reply);
}

/**
 * Per member, the sum of what the queued commands answer for it (undefined
 * where none answers): `queue` adds to one pipeline per shard commands that
 * each answer one value per member of `part` (HMGET, ZMSCORE over the
 * hours), e.g. the increment counts, which sum the hourly count hashes and
 * the sorted sets older releases kept them in (until those expire).
 */
async function perMember(
  redis: RedisClient,
  layout: ShardLayout,
  members: readonly string[],
  queue: (pipeline: ReturnType<RedisClient["pipeline"]>, shard: number, part: string[]) => void,
): Promise<Array<bigint | undefined>> {
  const sums: Array<bigint | undefined> = new Array(members.length);
  if (members.length === 0) return sums;
  await Promise.all(
    [...groupByShard(layout, members, (m) => m)].map(async ([shard, part]) => {
      const pipeline = redis.pipeline();
      queue(pipeline, shard, part.map((p) => p.item));
      for (const reply of (await execOrThrow(pipeline)) as Array<Array<string | null>>) {
        reply.forEach((v, k) => {
          const i = part[k]!.index;
          if (v !== null) sums[i] = (sums[i] ?? 0n) + BigInt(v);
        });
      }
    }),
  );
  return sums;
}
