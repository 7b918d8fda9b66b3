import { Redis } from "ioredis";
import type { Logger } from "./logger.js";
import { BACKOFF, backoffMs } from "./retry.js";

export type { Redis };

export interface RedisOptions {
  url: string;
  password?: string;
  /** A command that has not been answered by then fails instead of hanging. */
  commandTimeoutMs: number;
}

/**
 * A Redis client that pipelines automatically (many concurrent batches share
 * one round trip) and fails fast while disconnected instead of queueing
 * without bound; it keeps reconnecting in the background.
 */
export function createRedis(options: RedisOptions, logger: Logger, name: string): Redis {
  const redis = new Redis(options.url, {
    password: options.password,
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectionName: name,
    lazyConnect: true,
    retryStrategy: (attempt) => backoffMs(attempt, BACKOFF.redisReconnect),
  });
  let down = false;
  redis.on("error", (err: Error) => {
    if (!down) logger.warn({ err: err.message, client: name }, "redis connection problem; reconnecting");
    down = true;
  });
  redis.on("ready", () => {
    if (down) logger.info({ client: name }, "redis connection restored");
    down = false;
  });
  return redis;
}

/** Connects, retrying until Redis answers, so start-up order does not matter. */
export async function connectRedis(redis: Redis, logger: Logger): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      if (redis.status === "wait" || redis.status === "end") await redis.connect();
      if (redis.status !== "ready") await new Promise<void>((resolve) => redis.once("ready", () => resolve()));
      return;
    } catch (err) {
      logger.warn({ err: (err as Error).message, attempt }, "waiting for redis");
      await new Promise((r) => setTimeout(r, backoffMs(attempt, BACKOFF.redisReconnect)));
    }
  }
}
