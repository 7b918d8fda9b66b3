import calculateSlot from "cluster-key-slot";

/**
 * Where a key lives, pure. Standalone Redis has one shard and the key names
 * releases before cluster mode wrote. In cluster mode a resource belongs to
 * one of `count` shards, and every key of a shard carries the shard's hash
 * tag, so one script can touch a shard's counters, outbox stream and
 * idempotency records (or its analytics buckets and dedup markers) at once.
 * The tags are chosen to spread evenly over the 16,384 hash slots: with
 * slots split evenly between the primaries (as `redis-cli --cluster create`
 * does), a count divisible by the number of primaries puts the same number
 * of shards on each.
 */
export const HASH_SLOTS = 16_384;

/** Divisible by 1, 2, 3, 4, 6 and 12 primaries: each gets the same number of shards. */
export const DEFAULT_CLUSTER_SHARDS = 12;

export const REDIS_MODES = ["standalone", "cluster"] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

/** Tag k lands in slot range [k·16384/count, (k+1)·16384/count): the first of `s<k>.0`, `s<k>.1`, … that does. */
export function shardTags(count: number): string[] {
  return Array.from({ length: count }, (_, k) => {
    const low = Math.ceil((k * HASH_SLOTS) / count);
    const high = Math.ceil(((k + 1) * HASH_SLOTS) / count);
    for (let x = 0; ; x++) {
      const tag = `s${k}.${x}`;
      const slot = calculateSlot(tag);
      if (slot >= low && slot < high) return tag;
    }
  });
}

export interface ShardLayout {
  /** One per shard; a single "" in standalone mode. */
  readonly tags: readonly string[];
  /** The shard a resource's counters (and its analytics) live in. */
  shardOf(resourceId: string): number;
  /** `prefix:{tag}:rest`, or `prefix:rest` untagged in standalone mode. */
  key(prefix: string, shard: number, rest: string): string;
}

export const STANDALONE: ShardLayout = {
  tags: [""],
  shardOf: () => 0,
  key: (prefix, _shard, rest) => `${prefix}:${rest}`,
};

export function clusterLayout(count: number): ShardLayout {
  const tags = shardTags(count);
  return {
    tags,
    shardOf: (resourceId) => calculateSlot(resourceId) % count,
    key: (prefix, shard, rest) => `${prefix}:{${tags[shard]}}:${rest}`,
  };
}

export function shardLayout(mode: RedisMode, shards: number): ShardLayout {
  return mode === "cluster" ? clusterLayout(shards) : STANDALONE;
}

/** Items grouped by shard, each with its index in `items`; shards with none are left out. */
export function groupByShard<T>(layout: ShardLayout, items: readonly T[], resourceOf: (item: T) => string): Map<number, Array<{ item: T; index: number }>> {
  const groups = new Map<number, Array<{ item: T; index: number }>>();
  items.forEach((item, index) => {
    const shard = layout.shardOf(resourceOf(item));
    let group = groups.get(shard);
    if (!group) groups.set(shard, (group = []));
    group.push({ item, index });
  });
  return groups;
}
