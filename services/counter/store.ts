import type { Result } from "ioredis";
import { callReplicated, defineScript, type Durability, type RedisClient } from "../lib/redis.js";
import { untimed, type RedisMetrics } from "../lib/redis-metrics.js";
import { groupByShard, type ShardLayout } from "../lib/redis-shards.js";
import { formatTraceparent } from "../lib/telemetry.js";
import { createReplicaGate } from "./replica-gate.js";
import { planBatch, resolveResults, type IdempotentOutcome, type IncrementOp, type OpResult, type Refusal, type Refused, type Value } from "./batch.js";

/**
 * Everything that knows the counter's Redis layout: key names, the atomic
 * increment + outbox script, reads. In cluster mode a batch is split by
 * shard (lib/redis-shards.ts) and each shard's part is one script call on
 * its own counters, outbox stream and idempotency records, all calls in
 * parallel.
 */
export const counterKey = (layout: ShardLayout, resourceId: string, counterType: string) =>
  layout.key("counter", layout.shardOf(resourceId), `${resourceId}:${counterType}`);

export interface OutboxStream {
  key: string;
  /** The shard's hash tag, "" in standalone mode; it prefixes the stream's event ids, which are unique per stream only. */
  tag: string;
}

/** The outbox stream of each shard: `base` itself in standalone mode, `base:{tag}` per shard in a cluster. */
export const outboxStreams = (layout: ShardLayout, base: string): OutboxStream[] =>
  layout.tags.map((tag) => ({ key: tag ? `${base}:{${tag}}` : base, tag }));

const REFUSALS: Record<string, Refusal> = { "!not_a_counter": "not_a_counter", "!overflow": "overflow" };
const refusedBy = (reply: string): Refused => ({ refused: REFUSALS[reply] ?? "unexpected", detail: reply.slice(1) });

/** A group's reply: its value, or why it was refused ('!'). */
const groupValue = (v: number | string): Value | Refused => (typeof v === "string" && v.charCodeAt(0) === 33 ? refusedBy(v) : v);

function idempotentOutcome(v: number | string): IdempotentOutcome {
  if (typeof v === "number") return { value: v, duplicate: false };
  switch (v.charCodeAt(0)) {
    case 100: // 'd'
      return { value: v.slice(1), duplicate: true };
    case 99: // 'c'
      return { refused: "idempotency_conflict" };
    case 33: // '!'
      return refusedBy(v);
    default:
      return { value: v, duplicate: false };
  }
}

/** What MGET answers for one key: an int64 in decimal, nothing, or something else. */
const INT64 = /^-?\d{1,19}$/;

/** Counters per batch outbox entry: a coalesced batch of more distinct counters becomes several entries (and Kafka records). */
export const EVENT_COUNTERS = 500;

// KEYS: outbox stream, one key per counter group, one idempotency key per idempotent op.
// ARGV: now_ms, n_groups, n_idempotent, idempotency_ttl_s, traceparent, event format
//       ('b': one outbox entry per batch, 'k': one per counter),
//       then per group: sum, count, resource_id, counter_type,
//       then per idempotent op: group (1-based), delta, fingerprint.
// Returns per group its value after the summed INCRBY, then per idempotent
// op its value, prefixed with 'd' when the key had been seen before. A value
// is a number below 2^53 and a decimal string from there on (Lua numbers are
// doubles). An INCRBY Redis refuses (wrong type, not an integer, overflow)
// changes nothing; its group or op answers '!' and a reason instead, 'c'
// marks an idempotency key reused for another increment, and the rest of
// the batch is applied as usual.
// A batch entry holds field 'c': "resource type delta count value" per
// counter, space-separated (identifiers have no spaces), at most
// EVENT_COUNTERS counters per entry so one Kafka record stays small.
const INCREMENT_SCRIPT = `
local n = tonumber(ARGV[2])
local m = tonumber(ARGV[3])
local g0 = 7
local perBatch = ARGV[6] == 'b'
local i0 = g0 + 4 * n
local function incr(key, delta)
  local v = redis.pcall('INCRBY', key, delta)
  if type(v) == 'table' then
    local e = v.err or ''
    if string.find(e, 'overflow', 1, true) then return nil, '!overflow' end
    if string.find(e, 'WRONGTYPE', 1, true) or string.find(e, 'not an integer', 1, true) then return nil, '!not_a_counter' end
    return nil, '!' .. e
  end
  if v >= 9007199254740992 or v <= -9007199254740992 then return redis.call('GET', key) end
  return v
end
-- 'tp' only for traced batches: an empty field in every entry costs Redis and the relay for nothing.
local function outbox(fields)
  if ARGV[5] ~= '' then
    fields[#fields + 1] = 'tp'
    fields[#fields + 1] = ARGV[5]
  end
  redis.call('XADD', KEYS[1], '*', unpack(fields))
end
local function dec(v)
  if type(v) == 'string' then return v end
  return string.format('%d', v)
end
local prior = {}
local firstUse = {}
local conflict = {}
for j = 1, m do
  local key = KEYS[1 + n + j]
  local fp = ARGV[i0 + 3 * (j - 1) + 2]
  if firstUse[key] then
    if firstUse[key] ~= fp then conflict[j] = true end
  else
    firstUse[key] = fp
    local stored = redis.call('GET', key)
    if stored then
      local sep = string.find(stored, '|', 1, true)
      if string.sub(stored, sep + 1) ~= fp then conflict[j] = true else prior[j] = string.sub(stored, 1, sep - 1) end
    end
  end
end
local out = {}
local batch = {}
local extraDelta, extraCount, last = {}, {}, {}
for j = 1, m do
  local base = i0 + 3 * (j - 1)
  local g = tonumber(ARGV[base])
  local key = KEYS[1 + n + j]
  local seen = prior[j]
  if not seen and not conflict[j] then
    local stored = redis.call('GET', key)
    if stored then seen = string.sub(stored, 1, string.find(stored, '|', 1, true) - 1) end
  end
  if conflict[j] then
    out[n + j] = 'c'
  elseif seen then
    out[n + j] = 'd' .. seen
  else
    local v, refused = incr(KEYS[1 + g], ARGV[base + 1])
    if refused then
      out[n + j] = refused
    else
      redis.call('SET', key, dec(v) .. '|' .. ARGV[base + 2], 'EX', ARGV[4])
      extraDelta[g] = (extraDelta[g] or 0) + tonumber(ARGV[base + 1])
      extraCount[g] = (extraCount[g] or 0) + 1
      last[g] = v
      out[n + j] = v
    end
  end
end
for g = 1, n do
  local base = g0 + 4 * (g - 1)
  local count = tonumber(ARGV[base + 1])
  local value = last[g]
  local delta = extraDelta[g] or 0
  local folded = extraCount[g] or 0
  out[g] = value or 0
  if count > 0 then
    local v, refused = incr(KEYS[1 + g], ARGV[base])
    if refused then
      out[g] = refused
    else
      value = v
      out[g] = v
      delta = delta + tonumber(ARGV[base])
      folded = folded + count
    end
  end
  if folded > 0 then
    if perBatch then
      local k = #batch
      batch[k + 1] = ARGV[base + 2]
      batch[k + 2] = ARGV[base + 3]
      -- Nothing folded in: the caller's own decimal strings, without string.format.
      batch[k + 3] = extraCount[g] and string.format('%d', delta) or ARGV[base]
      batch[k + 4] = extraCount[g] and string.format('%d', folded) or ARGV[base + 1]
      batch[k + 5] = dec(value)
    else
      outbox({ 'r', ARGV[base + 2], 't', ARGV[base + 3], 'd', string.format('%d', delta),
        'n', string.format('%d', folded), 'v', dec(value), 'ts', ARGV[1] })
    end
  end
end
local per = 5 * ${EVENT_COUNTERS}
for first = 1, #batch, per do
  outbox({ 'c', table.concat(batch, ' ', first, math.min(first + per - 1, #batch)), 'ts', ARGV[1] })
end
return out
`;

declare module "ioredis" {
  interface RedisCommander<Context> {
    hgpIncrement(numKeys: number, ...keysAndArgs: (string | number)[]): Result<(number | string)[], Context>;
  }
}

/** What the outbox holds: one entry per counter batch, or one per counter (what releases before batch events wrote, read by every analytics). */
export const EVENT_FORMATS = ["batch", "per-key"] as const;
export type EventFormat = (typeof EVENT_FORMATS)[number];

export interface CounterStoreOptions {
  redis: RedisClient;
  layout: ShardLayout;
  /** The outbox stream's name; per shard `name:{tag}` in cluster mode. */
  outboxStream: string;
  eventFormat: EventFormat;
  idempotencyTtlSeconds: number;
  /** Replicas that must hold a batch's writes before it is answered (WAIT after the script); none by default. */
  durability?: Durability;
  onNotReplicated?: () => void;
  /** A script call wrote to the outbox stream of `shard` (the relay reads it at once). */
  onOutboxWrite?: (shard: number) => void;
  /** Latency of the script and read calls (and their spans when the batch is traced). */
  redisMetrics?: RedisMetrics;
}

export interface CounterStore {
  /** Applies the batch with one script call per shard; results are in op order. */
  increment(ops: readonly IncrementOp[], traceparent?: string): Promise<OpResult[]>;
  /** Decimal values ("0" for a missing key), or why a key cannot be read as a counter. */
  get(counters: ReadonlyArray<{ resourceId: string; counterType: string }>): Promise<Array<string | Refused>>;
}

/** After a failed call, how long a shard's writes fail at once (replica-gate.ts). */
const SHARD_HOLD_MS = 1_000;

export function createCounterStore(options: CounterStoreOptions): CounterStore {
  const { redis, layout, outboxStream, eventFormat, idempotencyTtlSeconds, durability = { replicas: 0, timeoutMs: 0 }, redisMetrics } = options;
  const format = eventFormat === "batch" ? "b" : "k";
  const streams = outboxStreams(layout, outboxStream);
  const gate = createReplicaGate(layout.tags.length, SHARD_HOLD_MS, options.onNotReplicated);
  defineScript(redis, "hgpIncrement", INCREMENT_SCRIPT);
  const timeIncrement = redisMetrics?.command("hgp_increment", "EVALSHA hgpIncrement") ?? untimed;
  const timeGet = redisMetrics?.command("mget", "MGET") ?? untimed;

  async function incrementShard(shard: number, ops: readonly IncrementOp[], traceparent: string): Promise<OpResult[]> {
    const plan = planBatch(ops);
    const keys: string[] = [streams[shard]!.key];
    const args: (string | number)[] = [Date.now(), plan.groups.length, plan.idempotent.length, idempotencyTtlSeconds, traceparent, format];
    for (const g of plan.groups) {
      keys.push(layout.key("counter", shard, `${g.resourceId}:${g.counterType}`));
      args.push(g.sum, g.count, g.resourceId, g.counterType);
    }
    for (const op of plan.idempotent) {
      keys.push(layout.key("idem", shard, op.requestId));
      args.push(op.group + 1, op.delta, op.fingerprint);
    }
    const reply = await timeIncrement.time(
      (span) => {
        // A traced batch hands the script span's context to its outbox entries (relay → Kafka → analytics).
        if (span) args[4] = formatTraceparent(span.spanContext());
        if (durability.replicas === 0) return redis.hgpIncrement(keys.length, ...keys, ...args);
        return gate.run(shard, () => callReplicated<Array<number | string>>(redis, (p) => p.hgpIncrement(keys.length, ...keys, ...args), durability));
      },
      { "db.redis.keys": keys.length, "highgopress.batch.size": ops.length },
    );
    options.onOutboxWrite?.(shard);
    const n = plan.groups.length;
    return resolveResults(plan, reply.slice(0, n).map(groupValue), reply.slice(n).map(idempotentOutcome));
  }

  async function getShard(shard: number, counters: ReadonlyArray<{ resourceId: string; counterType: string }>): Promise<Array<string | Refused>> {
    const values = await timeGet.time(() => redis.mget(counters.map((c) => layout.key("counter", shard, `${c.resourceId}:${c.counterType}`))), {
      "db.redis.keys": counters.length,
    });
    // MGET answers nil for a key of another type, as for a missing one.
    return values.map((v) => (v === null ? "0" : INT64.test(v) ? v : { refused: "not_a_counter", detail: "not an integer" }));
  }

  /**
   * Runs `perShard` on each shard's part of `items` in parallel and puts the
   * answers back in item order. On a cluster a shard that fails answers
   * "unavailable" for its part while the others answer as usual: a call
   * never fails as a whole for one primary's loss, so callers' circuit
   * breakers (which count failed calls) stay closed for the other shards.
   */
  async function byShard<T extends { resourceId: string }, R>(items: readonly T[], perShard: (shard: number, part: T[]) => Promise<R[]>): Promise<Array<R | Refused>> {
    if (layout.tags.length === 1) return perShard(0, items as T[]);
    const parts = [...groupByShard(layout, items, (item) => item.resourceId)];
    const settled = await Promise.allSettled(parts.map(([shard, part]) => perShard(shard, part.map((p) => p.item))));
    const results: Array<R | Refused> = new Array(items.length);
    parts.forEach(([, part], k) => {
      const outcome = settled[k]!;
      part.forEach((p, i) => {
        results[p.index] = outcome.status === "fulfilled" ? outcome.value[i]! : { refused: "unavailable", detail: String((outcome.reason as Error)?.message ?? outcome.reason) };
      });
    });
    return results;
  }

  return {
    increment: (ops, traceparent = "") => byShard(ops, (shard, part) => incrementShard(shard, part, traceparent)),
    get: async (counters) => (counters.length === 0 ? [] : byShard(counters, getShard)),
  };
}
