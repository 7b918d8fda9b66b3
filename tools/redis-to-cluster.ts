/**
 * Moves a standalone Redis data set into a Redis Cluster, in the cluster
 * key layout (docs/ARCHITECTURE.md, "Redis Cluster mode"): counters,
 * idempotency records (with their remaining TTL), analytics buckets (split
 * by shard, with their TTL) and the pending outbox, whose entries keep their
 * event ids, so an event the old relay had already published is still
 * recognised by analytics. Run it with the counter and analytics services
 * stopped (analytics commits its offsets when it stops).
 *
 *   node dist/tools/redis-to-cluster.js --from redis://127.0.0.1:6379 --to 127.0.0.1:7000 \
 *     [--shards 12] [--outbox-stream outbox:counter-events]
 *
 * REDIS_PASSWORD, when set, is used for both. Running it again is safe: a
 * counter already in the cluster with the same value is skipped, an outbox
 * entry is deleted from the source once copied (a copy made twice carries
 * the same event id and is applied once). A counter that exists in the
 * cluster with another value is a conflict: it is left alone, listed, and
 * the exit status is 1.
 */
import { parseArgs } from "node:util";
import { Cluster, Redis } from "ioredis";
import { BUCKET_PREFIXES } from "../services/analytics/buckets.js";
import { packBatchCounters, parseBatchCounters, type StreamEntry } from "../services/counter/outbox-entry.js";
import { counterKey, outboxStreams } from "../services/counter/store.js";
import type { CounterDelta } from "../services/lib/gen/highgopress/events/v1/counter_event.js";
import { clusterLayout, DEFAULT_CLUSTER_SHARDS, groupByShard } from "../services/lib/redis-shards.js";

const { values: args } = parseArgs({
  options: {
    from: { type: "string", default: "redis://127.0.0.1:6379" },
    to: { type: "string", default: "127.0.0.1:7000" },
    shards: { type: "string", default: String(DEFAULT_CLUSTER_SHARDS) },
    "outbox-stream": { type: "string", default: "outbox:counter-events" },
  },
});
const layout = clusterLayout(Number(args.shards));
const password = process.env.REDIS_PASSWORD || undefined;
const source = new Redis(args.from!, { password, lazyConnect: true });
const target = new Cluster(
  args.to!.split(",").map((node) => ({ host: node.slice(0, node.lastIndexOf(":")), port: Number(node.slice(node.lastIndexOf(":") + 1)) })),
  { redisOptions: { password }, lazyConnect: true },
);
const say = (line: string) => console.log(`==> redis-to-cluster: ${line}`);

/** Every key matching `pattern`, a page at a time (ioredis's SCAN stream, without its empty pages). */
async function* scan(pattern: string): AsyncGenerator<string[]> {
  for await (const keys of source.scanStream({ match: pattern, count: 1000 }) as AsyncIterable<string[]>) if (keys.length > 0) yield keys;
}

async function counters(): Promise<{ copied: number; same: number; conflicts: string[] }> {
  const result = { copied: 0, same: 0, conflicts: [] as string[] };
  let nextReport = 10_000;
  for await (const keys of scan("counter:*")) {
    const values = await source.mget(keys);
    await Promise.all(
      keys.map(async (key, i) => {
        const [, resourceId, counterType] = key.split(":");
        const value = values[i];
        if (value === null || value === undefined || !resourceId || !counterType) return;
        const to = counterKey(layout, resourceId, counterType);
        const set = await target.set(to, value, "NX");
        if (set) result.copied++;
        else if ((await target.get(to)) === value) result.same++;
        else result.conflicts.push(`${key} = ${value}, but ${to} already holds ${await target.get(to)}`);
      }),
    );
    if (result.copied + result.same >= nextReport) {
      say(`counters: ${result.copied + result.same} so far`);
      nextReport += 10_000;
    }
  }
  return result;
}

/** An idempotency record is "value|resource:type:delta": it goes to its resource's shard, with the time it has left. */
async function idempotencyRecords(): Promise<number> {
  let copied = 0;
  for await (const keys of scan("idem:*")) {
    await Promise.all(
      keys.map(async (key) => {
        const [value, ttlMs] = await Promise.all([source.get(key), source.pttl(key)]);
        const resourceId = value?.slice(value.indexOf("|") + 1).split(":")[0];
        if (!value || !resourceId || ttlMs === -2) return;
        const to = layout.key("idem", layout.shardOf(resourceId), key.slice("idem:".length));
        if (ttlMs > 0) await target.set(to, value, "PX", ttlMs, "NX");
        else await target.set(to, value, "NX");
        copied++;
      }),
    );
  }
  return copied;
}

/** Rankings (sorted sets) and counts and sums (hashes) per hour, each member into its resource's shard. */
async function buckets(): Promise<number> {
  let moved = 0;
  for (const prefix of BUCKET_PREFIXES) {
    for await (const keys of scan(`${prefix}:*`)) {
      for (const key of keys) {
        const rest = key.slice(prefix.length + 1);
        const [type, ttlMs] = await Promise.all([source.type(key), source.pttl(key)]);
        const entries: Array<[member: string, value: string]> = [];
        if (type === "zset") {
          const flat = await source.zrange(key, 0, -1, "WITHSCORES");
          for (let i = 0; i + 1 < flat.length; i += 2) entries.push([flat[i]!, flat[i + 1]!]);
        } else if (type === "hash") {
          entries.push(...Object.entries(await source.hgetall(key)));
        } else continue;
        await Promise.all(
          [...groupByShard(layout, entries, ([member]) => member)].map(async ([shard, part]) => {
            const to = layout.key(prefix, shard, rest);
            const pipeline = target.pipeline();
            if (type === "zset") pipeline.zadd(to, ...part.flatMap(({ item: [member, score] }) => [score, member]));
            else pipeline.hset(to, Object.fromEntries(part.map(({ item }) => item)));
            if (ttlMs > 0) pipeline.pexpire(to, ttlMs);
            await pipeline.exec();
          }),
        );
        moved++;
      }
    }
  }
  return moved;
}

/** An outbox entry's counters: a batch entry ('c') or a per-key one. */
function entryCounters(fields: readonly string[]): { counters: CounterDelta[]; ts: string } {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  const counters = f.c !== undefined ? parseBatchCounters(f.c) : [{ resourceId: f.r!, counterType: f.t!, delta: Number(f.d), incrementCount: Number(f.n), newValue: f.v! }];
  return { counters, ts: f.ts ?? String(Date.now()) };
}

/** Pending events: each entry split by shard into batch entries that keep its event id ('id'), then deleted from the source. */
async function outbox(): Promise<{ entries: number; parts: number }> {
  const streams = outboxStreams(layout, args["outbox-stream"]!);
  let entries = 0;
  let parts = 0;
  for (;;) {
    const page = (await source.xrange(args["outbox-stream"]!, "-", "+", "COUNT", 500)) as StreamEntry[];
    if (page.length === 0) break;
    for (const [id, fields] of page) {
      const { counters, ts } = entryCounters(fields);
      for (const [shard, part] of groupByShard(layout, counters, (c) => c.resourceId)) {
        await target.xadd(streams[shard]!.key, "*", "c", packBatchCounters(part.map((p) => p.item)), "ts", ts, "id", id);
        parts++;
      }
      await source.xdel(args["outbox-stream"]!, id);
      entries++;
    }
  }
  return { entries, parts };
}

try {
  await Promise.all([source.connect(), target.connect()]);
  await new Promise<void>((resolve) => (target.status === "ready" ? resolve() : target.once("ready", () => resolve())));
  say(`from ${args.from} to the cluster at ${args.to} (${layout.tags.length} shards)`);
  const c = await counters();
  say(`counters: ${c.copied} copied, ${c.same} already there with the same value, ${c.conflicts.length} conflicts`);
  say(`idempotency records: ${await idempotencyRecords()} copied`);
  say(`analytics buckets: ${await buckets()} split by shard`);
  const o = await outbox();
  say(`outbox: ${o.entries} pending entries moved as ${o.parts} shard entries (event ids kept)`);
  if (c.conflicts.length > 0) {
    for (const line of c.conflicts.slice(0, 20)) console.error(`conflict: ${line}`);
    process.exitCode = 1;
  }
} catch (err) {
  console.error(`==> redis-to-cluster: failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  source.disconnect();
  target.disconnect();
}
