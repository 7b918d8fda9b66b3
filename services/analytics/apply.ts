import type { Result } from "ioredis";
import type { CounterBatchEvent } from "../lib/gen/highgopress/events/v1/counter_event.js";
import { callReplicated, defineScript, type Durability, type RedisClient } from "../lib/redis.js";
import { groupByShard, type ShardLayout } from "../lib/redis-shards.js";
import { countKey, rankKey, sumKey } from "./buckets.js";

/**
 * Applies counter events to the hourly buckets, idempotently: an event id is
 * remembered (for longer than Kafka keeps a record) and a redelivered event
 * changes nothing. The whole call is one atomic script, so a crash leaves
 * either all or none of a chunk applied. A per-key CounterEvent arrives here
 * as a batch event of one counter. In cluster mode an event's counters are
 * applied per shard of their resources, each part with a dedup marker of
 * its own in that shard: a redelivered event adds nothing to any shard,
 * and a crash between parts leaves the missing ones to the redelivery. A
 * counter pod's event holds one shard's counters, so it is one part.
 */
// KEYS: per event its seen marker, then per bucket (counter type × hour) its
// rank, count and exact sum keys.
// ARGV: seen ttl, bucket ttl, number of events, then per event: its number of
// counters, then per counter: bucket (1-based), resource_id, delta, increment_count.
// The new events' counters are summed per bucket and resource first: one
// ZINCRBY (the ranking) and two HINCRBY (increment count, exact sum) per
// resource and bucket of the chunk, however many events name it, and each
// touched bucket's TTL is set once.
// Numbers go to redis.call as they are: Redis spells an integral one in
// plain digits (%.17g before 7.2, its integer printer since), which is what
// HINCRBY needs, at a fraction of what string.format costs in Lua.
// The exact sums stay exact: a delta a double cannot add exactly goes to
// HINCRBY on its own. A sum can only overflow int64 if a counter swept most
// of the range within the hour; it is then left as it was (pcall) rather
// than failing the chunk, and the ranking score still moves.
const APPLY_SCRIPT = `
local events = tonumber(ARGV[3])
local a = 4
local fresh = {}
local score, count, sum = {}, {}, {}
local EXACT = 9007199254740992
for i = 1, events do
  local n = tonumber(ARGV[a])
  a = a + 1
  local new = redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1])
  fresh[i] = new and '1' or '0'
  if new then
    for j = 1, n do
      local b = tonumber(ARGV[a])
      local r = ARGV[a + 1]
      local d = tonumber(ARGV[a + 2])
      local s = score[b]
      if not s then
        s = {}
        score[b] = s
        count[b] = {}
        sum[b] = {}
      end
      s[r] = (s[r] or 0) + d
      count[b][r] = (count[b][r] or 0) + tonumber(ARGV[a + 3])
      local t = (sum[b][r] or 0) + d
      if math.abs(d) < EXACT and math.abs(t) < EXACT then
        sum[b][r] = t
      else
        sum[b][r] = sum[b][r] or 0
        redis.pcall('HINCRBY', KEYS[events + 3 * b], r, ARGV[a + 2])
      end
      a = a + 4
    end
  else
    a = a + 4 * n
  end
end
for b, s in pairs(score) do
  local rank, counts, sums = KEYS[events + 3 * b - 2], KEYS[events + 3 * b - 1], KEYS[events + 3 * b]
  local cb, sb = count[b], sum[b]
  for r, v in pairs(s) do
    redis.call('ZINCRBY', rank, v, r)
    redis.call('HINCRBY', counts, r, cb[r])
    redis.pcall('HINCRBY', sums, r, sb[r])
  end
  redis.call('EXPIRE', rank, ARGV[2])
  redis.call('EXPIRE', counts, ARGV[2])
  redis.call('EXPIRE', sums, ARGV[2])
end
return table.concat(fresh)
`;

declare module "ioredis" {
  interface RedisCommander<Context> {
    hgpApplyEvents(numKeys: number, ...keysAndArgs: (string | number)[]): Result<string, Context>;
  }
}

export interface EventApplier {
  /** Returns how many events were new (the rest were duplicates); in cluster mode, new in at least one shard. */
  apply(events: readonly CounterBatchEvent[]): Promise<number>;
}

const countNew = (flags: string) => flags.split("1").length - 1;

export function createEventApplier(
  redis: RedisClient,
  layout: ShardLayout,
  options: { dedupTtlSeconds: number; bucketTtlSeconds: number; durability: Durability },
): EventApplier {
  defineScript(redis, "hgpApplyEvents", APPLY_SCRIPT);

  /** Per event, '1' if it was new here, '0' if a duplicate. */
  function applyShard(shard: number, events: readonly CounterBatchEvent[]): Promise<string> {
    const keys: string[] = events.map((e) => layout.key("seen", shard, e.eventId));
    const args: (string | number)[] = [options.dedupTtlSeconds, options.bucketTtlSeconds, events.length];
    const buckets = new Map<string, number>();
    for (const e of events) {
      args.push(e.counters.length);
      for (const c of e.counters) {
        const rank = rankKey(layout, shard, c.counterType, e.timestampMs);
        let bucket = buckets.get(rank);
        if (bucket === undefined) {
          bucket = buckets.size + 1;
          buckets.set(rank, bucket);
          keys.push(rank, countKey(layout, shard, c.counterType, e.timestampMs), sumKey(layout, shard, c.counterType, e.timestampMs));
        }
        args.push(bucket, c.resourceId, c.delta, c.incrementCount);
      }
    }
    // Offsets are committed after this: a chunk a failover could still lose would be lost to analytics for good.
    if (options.durability.replicas === 0) return redis.hgpApplyEvents(keys.length, ...keys, ...args);
    return callReplicated<string>(redis, (p) => p.hgpApplyEvents(keys.length, ...keys, ...args), options.durability);
  }

  return {
    async apply(events) {
      if (events.length === 0) return 0;
      if (layout.tags.length === 1) return countNew(await applyShard(0, events));
      const parts = new Map<number, { events: CounterBatchEvent[]; of: number[] }>();
      events.forEach((e, index) => {
        for (const [shard, counters] of groupByShard(layout, e.counters, (c) => c.resourceId)) {
          let part = parts.get(shard);
          if (!part) parts.set(shard, (part = { events: [], of: [] }));
          part.events.push({ ...e, counters: counters.map((c) => c.item) });
          part.of.push(index);
        }
      });
      const fresh = new Set<number>();
      await Promise.all(
        [...parts].map(async ([shard, part]) => {
          const flags = await applyShard(shard, part.events);
          part.of.forEach((index, k) => flags[k] === "1" && fresh.add(index));
        }),
      );
      return fresh.size;
    },
  };
}
