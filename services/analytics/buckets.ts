import type { ShardLayout } from "../lib/redis-shards.js";
import type { TimeRange } from "../lib/validation.js";

/**
 * Hourly buckets, pure. Events land in the UTC hour of their timestamp; a
 * range of N hours is the current hour and the N-1 before it.
 */
export const HOUR_MS = 3_600_000;

export const RANGE_HOURS: Record<TimeRange, number> = { "1h": 1, "24h": 24, "7d": 168, "30d": 720 };

export function hourStart(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

let lastHour = Number.NaN;
let lastHourId = "";

/** `2026112214` for 14:00-15:00 UTC on 22 Nov 2026. Remembers the last hour: events come in runs of the same hour. */
export function hourId(ms: number): string {
  const hour = hourStart(ms);
  if (hour !== lastHour) {
    lastHourId = new Date(hour).toISOString().slice(0, 13).replace(/[-T]/g, "");
    lastHour = hour;
  }
  return lastHourId;
}

/** Hour starts of the range, oldest first. */
export function rangeHours(range: TimeRange, nowMs: number): number[] {
  const n = RANGE_HOURS[range];
  const last = hourStart(nowMs);
  return Array.from({ length: n }, (_, i) => last - (n - 1 - i) * HOUR_MS);
}

/** A bucket's key, under the shard's hash tag in cluster mode (lib/redis-shards.ts): a resource's buckets live with its shard. */
const bucketKey = (prefix: (typeof BUCKET_PREFIXES)[number]) => (layout: ShardLayout, shard: number, counterType: string, hourMs: number) =>
  layout.key(prefix, shard, `${counterType}:${hourId(hourMs)}`);

/** The key prefixes of the hourly buckets below, in their order there. */
export const BUCKET_PREFIXES = ["rank", "rankc", "rankn", "ranks"] as const;

export const rankKey = bucketKey("rank");
/** Increment counts per resource and hour (HINCRBY: a counter per field costs a third of a sorted-set update). */
export const countKey = bucketKey("rankc");
/** Increment counts as releases before per-batch events kept them, in sorted sets: read, never written, until they expire. */
export const legacyCountKey = bucketKey("rankn");
/** Exact int64 sums per resource and hour (HINCRBY); the rank bucket's double scores order the ranking. */
export const sumKey = bucketKey("ranks");
