import type { Result } from "ioredis";
import type { CounterEvent } from "../lib/gen/highgopress/events/v1/counter_event.js";
import type { Redis } from "../lib/redis.js";
import { countKey, rankKey, sumKey } from "./buckets.js";

/**
 * Applies counter events to the hourly buckets, idempotently: an event id is
 * remembered (for longer than Kafka keeps a record) and a redelivered event
 * changes nothing. The whole call is one atomic script, so a crash leaves
 * either all or none of a chunk applied.
 */
// KEYS: per event: seen marker, rank bucket, count bucket, exact sum bucket.
// ARGV: seen ttl, bucket ttl, then per event: resource_id, delta, increment_count.
// A chunk's events share a few hour buckets: each bucket's TTL is set once per call, not per event.
// The exact sum can only overflow int64 if a counter swept most of the range
// within the hour; that sum is then left as it was (pcall) rather than
// failing the chunk, and the ranking score still moves.
const APPLY_SCRIPT = `
local applied = 0
local touched = {}
for i = 1, #KEYS / 4 do
  local k = 4 * i
  if redis.call('SET', KEYS[k - 3], '1', 'NX', 'EX', ARGV[1]) then
    local a = 3 * i
    redis.call('ZINCRBY', KEYS[k - 2], ARGV[a + 1], ARGV[a])
    redis.call('ZINCRBY', KEYS[k - 1], ARGV[a + 2], ARGV[a])
    redis.pcall('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1])
    touched[KEYS[k - 2]] = true
    touched[KEYS[k - 1]] = true
    touched[KEYS[k]] = true
    applied = applied + 1
  end
end
for key in pairs(touched) do redis.call('EXPIRE', key, ARGV[2]) end
return applied
`;

declare module "ioredis" {
  interface RedisCommander<Context> {
    hgpApplyEvents(numKeys: number, ...keysAndArgs: (string | number)[]): Result<number, Context>;
  }
}

export interface EventApplier {
  /** Returns how many events were new (the rest were duplicates). */
  apply(events: readonly CounterEvent[]): Promise<number>;
}

export function createEventApplier(redis: Redis, options: { dedupTtlSeconds: number; bucketTtlSeconds: number }): EventApplier {
  redis.defineCommand("hgpApplyEvents", { lua: APPLY_SCRIPT });
  return {
    async apply(events) {
      if (events.length === 0) return 0;
      const keys: string[] = [];
      const args: (string | number)[] = [options.dedupTtlSeconds, options.bucketTtlSeconds];
      for (const e of events) {
        keys.push(`seen:${e.eventId}`, rankKey(e.counterType, e.timestampMs), countKey(e.counterType, e.timestampMs), sumKey(e.counterType, e.timestampMs));
        args.push(e.resourceId, e.delta, e.incrementCount);
      }
      return redis.hgpApplyEvents(keys.length, ...keys, ...args);
    },
  };
}
