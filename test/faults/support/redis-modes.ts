/**
 * The fault scenarios that depend on the storage layer (a crash of the
 * counter or of analytics, Kafka away, SIGTERM) run on one Redis and on the
 * Redis Cluster scripts/redis-cluster.sh started, each on a stack of its own.
 */
import { after, before, describe } from "node:test";
import { REDIS_MODES, type RedisMode } from "../../../services/lib/redis-shards.js";
import { startStack, type Stack, type StackOptions } from "../../support/stack.js";

/** The name a scenario's figures are reported under: the cluster's with a suffix. */
export const scenarioName = (name: string, redisMode: RedisMode) => (redisMode === "cluster" ? `${name}-cluster` : name);

/** Registers `scenario` once per Redis mode, in a suite that starts its stack before and stops it after. */
export function inEachRedisMode(options: Omit<StackOptions, "redisMode">, scenario: (stack: () => Stack, redisMode: RedisMode) => void): void {
  for (const redisMode of REDIS_MODES) {
    describe(redisMode === "cluster" ? "on a Redis Cluster" : "on one Redis", () => {
      let stack: Stack | undefined;
      before(async () => {
        stack = await startStack({ ...options, redisMode });
        stack.redis.on("error", () => undefined);
      });
      after(() => stack?.stop());
      scenario(() => stack!, redisMode);
    });
  }
}
