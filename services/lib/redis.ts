import { lookup } from "node:dns";
import { Cluster, Redis, ReplyError, type ChainableCommander } from "ioredis";
import type { Logger } from "./logger.js";
import type { RedisMode } from "./redis-shards.js";
import { BACKOFF, backoffMs } from "./retry.js";

/** A standalone server or a cluster: the services use the commands both have. */
export type RedisClient = Redis | Cluster;

export interface RedisOptions {
  mode: RedisMode;
  url: string;
  /** host:port of cluster nodes to discover the cluster from (cluster mode). */
  clusterNodes: readonly string[];
  password?: string;
  /** A command that has not been answered by then fails instead of hanging. */
  commandTimeoutMs: number;
}

/**
 * A Redis client that pipelines automatically (many concurrent batches share
 * one round trip, per node in a cluster) and fails fast while disconnected
 * instead of queueing without bound; it keeps reconnecting in the
 * background. A cluster client follows MOVED/ASK redirections and topology
 * changes (a replica promoted, slots moved) by itself.
 */
export function createRedis(options: RedisOptions, logger: Logger, name: string): RedisClient {
  const connection = {
    password: options.password,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectionName: name,
  };
  const retry = (attempt: number) => backoffMs(attempt, BACKOFF.redisReconnect);
  const redis: RedisClient =
    options.mode === "cluster"
      ? new Cluster(
          options.clusterNodes.map((node) => {
            const at = node.lastIndexOf(":");
            return { host: node.slice(0, at), port: Number(node.slice(at + 1)) };
          }),
          {
            enableAutoPipelining: true,
            enableOfflineQueue: false,
            lazyConnect: true,
            clusterRetryStrategy: retry,
            // Topology changes are learnt from failed calls (callReplicated); this is the safety net. Each
            // refresh costs a new connection and a pass over the 16,384 slots: every 2 s it was 10 % of a
            // counter's CPU at low load.
            slotsRefreshInterval: 30_000,
            // At every (re)connect ioredis resolves all the startup nodes' names and gives up if one
            // fails: a single Redis pod without an address (Pending, its node gone) kept the client
            // from the nodes that serve. Such a name is passed on as it is; only its own connection fails.
            dnsLookup: (hostname, callback) => lookup(hostname, (err, address) => callback(null, err ? hostname : address)),
            // A call to a primary that just died is retried a few times (100 ms apart) and then fails fast, well inside callers' deadlines.
            maxRedirections: 4,
            retryDelayOnFailover: 100,
            retryDelayOnClusterDown: 100,
            redisOptions: connection,
          },
        )
      : new Redis(options.url, { ...connection, enableAutoPipelining: true, enableOfflineQueue: false, lazyConnect: true, retryStrategy: retry });
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

/** How often start-up logs that it still waits for Redis. */
const CONNECT_REPORT_MS = 5_000;

/** True once the client is ready, false after `ms` without. */
function readyWithin(redis: RedisClient, ms: number): Promise<boolean> {
  if (redis.status === "ready") return Promise.resolve(true);
  return new Promise((resolve) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      redis.off("ready", onReady);
      resolve(false);
    }, ms);
    redis.once("ready", onReady);
  });
}

/**
 * Connects, waiting until Redis answers, so start-up order does not matter.
 * Progress is followed through the client's "ready", not connect()'s promise:
 * a cluster client whose first attempt fails (a cluster not created yet, its
 * nodes without slots) reconnects by itself and gets ready once the cluster
 * exists, but never settles that promise.
 */
export async function connectRedis(redis: RedisClient, logger: Logger): Promise<void> {
  for (let waited = 0; ; waited += CONNECT_REPORT_MS) {
    if (redis.status === "wait" || redis.status === "end") redis.connect().catch(() => undefined);
    if (await readyWithin(redis, CONNECT_REPORT_MS)) return;
    logger.warn({ status: redis.status, waitedMs: waited + CONNECT_REPORT_MS }, "waiting for redis");
  }
}

/**
 * Defines a Lua script as a command. On a cluster it is kept out of
 * auto-pipelining: ioredis files a script command under the node of its
 * first argument (the key count), not of its first key, and the pipeline
 * then refuses keys of another node; sent on its own, the call is routed by
 * its keys.
 */
export function defineScript(redis: RedisClient, name: string, lua: string): void {
  redis.defineCommand(name, { lua });
  if (redis instanceof Cluster) redis.options.autoPipeliningIgnoredCommands = [...(redis.options.autoPipeliningIgnoredCommands ?? []), name];
}

/** How many replicas must hold a script's writes before its caller is answered (0: none, the primary's word). */
export interface Durability {
  replicas: number;
  timeoutMs: number;
}

/** A call's writes were applied on the primary but too few replicas confirmed them in time: in doubt, a failover may lose them. */
export class NotReplicatedError extends Error {
  constructor(confirmed: number, durability: Durability) {
    super(`applied on the primary but confirmed by ${confirmed} of ${durability.replicas} replica(s) within ${durability.timeoutMs} ms: in doubt`);
    this.name = "NotReplicatedError";
  }
}

/** Replies by which a cluster node refuses a call it did not run: another node owns the slot, or the slot is moving. */
const REDIRECTION = /^(MOVED|ASK|TRYAGAIN) /;
/** How long a refused call is tried again while its slot moves, and how often: well inside callers' deadlines. */
const REDIRECTED_FOR_MS = 1_500;
const REDIRECT_RETRY_MS = 50;

/**
 * Sends one call (`queue` adds it to a pipeline) and a WAIT behind it on the
 * same connection: the answer comes once `durability.replicas` replicas hold
 * the call's writes. One WAIT per call: a coalesced batch pays one replica
 * round trip, not one per increment. ioredis follows a cluster's
 * redirections only for pipelines of read-only commands, so a call a node
 * refused (it did not run) is sent again here, with the slot owners
 * refreshed after a MOVED, until its slot has settled.
 */
export async function callReplicated<T>(redis: RedisClient, queue: (pipeline: ChainableCommander) => ChainableCommander, durability: Durability): Promise<T> {
  const giveUpAt = performance.now() + REDIRECTED_FOR_MS;
  for (;;) {
    const replies = (await queue(redis.pipeline()).wait(durability.replicas, durability.timeoutMs).exec()) ?? [];
    const [[err, reply], [waitErr, confirmed]] = replies as [[Error | null, T], [Error | null, number]];
    if (err && redis instanceof Cluster && REDIRECTION.test(err.message) && performance.now() < giveUpAt) {
      if (err.message.startsWith("MOVED")) redis.refreshSlotsCache();
      await new Promise((resolve) => setTimeout(resolve, REDIRECT_RETRY_MS));
      continue;
    }
    // A lost connection or a cluster that is down may mean a new primary: ask for the slots' owners again.
    if (err && redis instanceof Cluster && !(err instanceof ReplyError && !/^CLUSTERDOWN/.test(err.message))) redis.refreshSlotsCache();
    if (err) throw err;
    if (waitErr) throw waitErr;
    if (confirmed < durability.replicas) throw new NotReplicatedError(confirmed, durability);
    return reply;
  }
}
