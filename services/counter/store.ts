import type { Result } from "ioredis";
import type { Redis } from "../lib/redis.js";
import { untimed, type RedisMetrics } from "../lib/redis-metrics.js";
import { formatTraceparent } from "../lib/telemetry.js";
import { planBatch, resolveResults, type IdempotentOutcome, type IncrementOp, type OpResult } from "./batch.js";

/**
 * Everything that knows the counter's Redis layout: key names, the atomic
 * increment + outbox script, reads. A move to Redis Cluster (one outbox per
 * slot, batches routed per slot) stays inside this module.
 */
export const counterKey = (resourceId: string, counterType: string) => `counter:${resourceId}:${counterType}`;
const idempotencyKey = (requestId: string) => `idem:${requestId}`;

export class IdempotencyConflictError extends Error {
  constructor(readonly requestId: string) {
    super(`idempotency key '${requestId}' was already used for a different increment`);
  }
}

// KEYS: outbox stream, one key per counter group, one idempotency key per idempotent op.
// ARGV: now_ms, n_groups, n_idempotent, idempotency_ttl_s, traceparent,
//       then per group: sum, count, resource_id, counter_type,
//       then per idempotent op: group (1-based), delta, fingerprint.
// Returns per group its value after the summed INCRBY, then per idempotent
// op its value, prefixed with 'd' when the key had been seen before.
const INCREMENT_SCRIPT = `
local n = tonumber(ARGV[2])
local m = tonumber(ARGV[3])
local g0 = 6
local i0 = g0 + 4 * n
local prior = {}
local firstUse = {}
for j = 1, m do
  local key = KEYS[1 + n + j]
  local fp = ARGV[i0 + 3 * (j - 1) + 2]
  if firstUse[key] then
    if firstUse[key] ~= fp then return redis.error_reply('IDEMPOTENCY_CONFLICT ' .. j) end
  else
    firstUse[key] = fp
    local stored = redis.call('GET', key)
    if stored then
      local sep = string.find(stored, '|', 1, true)
      if string.sub(stored, sep + 1) ~= fp then return redis.error_reply('IDEMPOTENCY_CONFLICT ' .. j) end
      prior[j] = string.sub(stored, 1, sep - 1)
    end
  end
end
local out = {}
local extraDelta, extraCount, last = {}, {}, {}
for j = 1, m do
  local base = i0 + 3 * (j - 1)
  local g = tonumber(ARGV[base])
  local key = KEYS[1 + n + j]
  local seen = prior[j]
  if not seen then
    local stored = redis.call('GET', key)
    if stored then seen = string.sub(stored, 1, string.find(stored, '|', 1, true) - 1) end
  end
  if seen then
    out[n + j] = 'd' .. seen
  else
    local v = redis.call('INCRBY', KEYS[1 + g], ARGV[base + 1])
    redis.call('SET', key, string.format('%d', v) .. '|' .. ARGV[base + 2], 'EX', ARGV[4])
    extraDelta[g] = (extraDelta[g] or 0) + tonumber(ARGV[base + 1])
    extraCount[g] = (extraCount[g] or 0) + 1
    last[g] = v
    out[n + j] = v
  end
end
for g = 1, n do
  local base = g0 + 4 * (g - 1)
  local count = tonumber(ARGV[base + 1])
  local value = last[g]
  local delta = extraDelta[g] or 0
  if count > 0 then
    value = redis.call('INCRBY', KEYS[1 + g], ARGV[base])
    delta = delta + tonumber(ARGV[base])
  end
  out[g] = value or 0
  local folded = count + (extraCount[g] or 0)
  if folded > 0 then
    -- 'tp' only for traced batches: an empty field in every entry costs Redis and the relay for nothing.
    if ARGV[5] == '' then
      redis.call('XADD', KEYS[1], '*', 'r', ARGV[base + 2], 't', ARGV[base + 3],
        'd', string.format('%d', delta), 'n', string.format('%d', folded),
        'v', string.format('%d', value), 'ts', ARGV[1])
    else
      redis.call('XADD', KEYS[1], '*', 'r', ARGV[base + 2], 't', ARGV[base + 3],
        'd', string.format('%d', delta), 'n', string.format('%d', folded),
        'v', string.format('%d', value), 'ts', ARGV[1], 'tp', ARGV[5])
    end
  end
end
return out
`;

declare module "ioredis" {
  interface RedisCommander<Context> {
    hgpIncrement(numKeys: number, ...keysAndArgs: (string | number)[]): Result<(number | string)[], Context>;
  }
}

export interface CounterStoreOptions {
  redis: Redis;
  outboxStream: string;
  idempotencyTtlSeconds: number;
  /** Latency of the script and read calls (and their spans when the batch is traced). */
  redisMetrics?: RedisMetrics;
}

export interface CounterStore {
  /** Applies the batch with one script call; results are in op order. */
  increment(ops: readonly IncrementOp[], traceparent?: string): Promise<OpResult[]>;
  get(counters: ReadonlyArray<{ resourceId: string; counterType: string }>): Promise<number[]>;
}

export function createCounterStore({ redis, outboxStream, idempotencyTtlSeconds, redisMetrics }: CounterStoreOptions): CounterStore {
  redis.defineCommand("hgpIncrement", { lua: INCREMENT_SCRIPT });
  const timeIncrement = redisMetrics?.command("hgp_increment", "EVALSHA hgpIncrement") ?? untimed;
  const timeGet = redisMetrics?.command("mget", "MGET") ?? untimed;
  return {
    async increment(ops, traceparent = "") {
      const plan = planBatch(ops);
      const keys: string[] = [outboxStream];
      const args: (string | number)[] = [
        Date.now(),
        plan.groups.length,
        plan.idempotent.length,
        idempotencyTtlSeconds,
        traceparent,
      ];
      for (const g of plan.groups) {
        keys.push(counterKey(g.resourceId, g.counterType));
        args.push(g.sum, g.count, g.resourceId, g.counterType);
      }
      for (const op of plan.idempotent) {
        keys.push(idempotencyKey(op.requestId));
        args.push(op.group + 1, op.delta, op.fingerprint);
      }
      let reply: (number | string)[];
      try {
        reply = await timeIncrement.time(
          (span) => {
            // A traced batch hands the script span's context to its outbox entries (relay → Kafka → analytics).
            if (span) args[4] = formatTraceparent(span.spanContext());
            return redis.hgpIncrement(keys.length, ...keys, ...args);
          },
          { "db.redis.keys": keys.length, "highgopress.batch.size": ops.length },
        );
      } catch (err) {
        const match = /IDEMPOTENCY_CONFLICT (\d+)/.exec((err as Error).message);
        if (match) throw new IdempotencyConflictError(plan.idempotent[Number(match[1]) - 1]!.requestId);
        throw err;
      }
      const n = plan.groups.length;
      const totals = reply.slice(0, n).map(Number);
      const outcomes: IdempotentOutcome[] = reply.slice(n).map((v) =>
        typeof v === "string" && v.startsWith("d")
          ? { value: Number(v.slice(1)), duplicate: true }
          : { value: Number(v), duplicate: false },
      );
      return resolveResults(plan, totals, outcomes);
    },
    async get(counters) {
      if (counters.length === 0) return [];
      const values = await timeGet.time(() => redis.mget(counters.map((c) => counterKey(c.resourceId, c.counterType))), {
        "db.redis.keys": counters.length,
      });
      return values.map((v) => (v === null ? 0 : Number(v)));
    },
  };
}
