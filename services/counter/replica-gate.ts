import { NotReplicatedError } from "../lib/redis.js";

/**
 * Writes that wait for replicas (WAIT), one call per shard in flight. WAIT
 * holds the primary's connection: calls queued behind a WAIT that times out
 * would each be applied and then wait their own timeout, in doubt and late.
 * Queued here instead, they see the first call's outcome: after a call
 * found too few replicas, the shard's calls fail at once for `holdMs`, not
 * applied, and then one call tries again.
 */
export interface ReplicaGate {
  run<T>(shard: number, call: () => Promise<T>): Promise<T>;
}

export function createReplicaGate(shards: number, holdMs: number, onShort?: () => void): ReplicaGate {
  const lanes: Array<Promise<unknown>> = Array.from({ length: shards }, () => Promise.resolve());
  const shortUntil: number[] = new Array(shards).fill(0);
  return {
    run(shard, call) {
      const turn = lanes[shard]!.then(() => {
        if (shortUntil[shard]! > Date.now()) throw new NotReplicatedError(false, "not applied: the shard's primary was short of replicas a moment ago");
        return call().catch((err: unknown) => {
          if (err instanceof NotReplicatedError) {
            shortUntil[shard] = Date.now() + holdMs;
            onShort?.();
          }
          throw err;
        });
      });
      lanes[shard] = turn.catch(() => undefined);
      return turn;
    },
  };
}
