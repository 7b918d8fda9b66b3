import { NotReplicatedError } from "../lib/redis.js";

/**
 * Writes that wait for replicas (WAIT), one call per shard in flight. WAIT
 * holds the primary's connection: calls queued behind a WAIT that times out
 * would each be applied and then wait their own timeout, in doubt and late.
 * Queued here instead, they see the first call's outcome: after a call
 * failed (too few replicas, its primary gone, its slot moving for too
 * long), the shard's calls fail at once for `holdMs`, not applied, and then
 * one call tries again.
 */
export interface ReplicaGate {
  run<T>(shard: number, call: () => Promise<T>): Promise<T>;
}

export class ShardHeldError extends Error {
  constructor(reason: string) {
    super(`not applied: the shard failed a call a moment ago (${reason})`);
    this.name = "ShardHeldError";
  }
}

export function createReplicaGate(shards: number, holdMs: number, onNotReplicated?: () => void): ReplicaGate {
  const lanes: Array<Promise<unknown>> = Array.from({ length: shards }, () => Promise.resolve());
  const held: Array<{ until: number; reason: string }> = Array.from({ length: shards }, () => ({ until: 0, reason: "" }));
  return {
    run(shard, call) {
      const turn = lanes[shard]!.then(() => {
        if (held[shard]!.until > Date.now()) throw new ShardHeldError(held[shard]!.reason);
        return call().catch((err: unknown) => {
          held[shard] = { until: Date.now() + holdMs, reason: (err as Error).message };
          if (err instanceof NotReplicatedError) onNotReplicated?.();
          throw err;
        });
      });
      lanes[shard] = turn.catch(() => undefined);
      return turn;
    },
  };
}
