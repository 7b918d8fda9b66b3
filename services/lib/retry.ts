import { fullJitterGenerator } from "cockatiel";

/**
 * Every retry and reconnect in HighGoPress waits by one formula, cockatiel's
 * full-jitter exponential backoff: before retry n the wait is uniform in
 * [0, min(maxMs, initialMs · 2^(n-1))). Jitter spreads the retries of many
 * pods (or many batches) after a shared outage instead of having them
 * arrive together; only the two bounds differ between callers, and they are
 * all in BACKOFF below.
 *
 * withRetry stays a loop of ours rather than cockatiel's retry policy, which
 * has no overall deadline: every attempt here gets only the time that is
 * left, and no attempt starts when too little is left for it to be useful.
 * Cost decides nothing: a call that succeeds at once spends 0.23-0.72 µs in
 * withRetry and 0.20-0.55 µs in cockatiel's policy, around a gRPC call that
 * costs the gateway ~300 µs (`node dist/bench/micro/retry.js`,
 * bench/README.md, "Library or hand-written").
 *
 * Only for calls that are safe to repeat: reads, and increments that carry
 * an idempotency key. A plain increment is never retried (a lost answer does
 * not mean a lost write, so a retry could count it twice).
 */
export interface BackoffPolicy {
  /** Ceiling of the first wait; it doubles per consecutive failure up to maxMs. */
  initialMs: number;
  maxMs: number;
}

export const BACKOFF = {
  /** Gateway → counter/analytics reads and keyed increments: short, they run inside a request's deadline. */
  grpcRetry: { initialMs: 25, maxMs: 250 },
  /** Outbox relay → Kafka: the outbox keeps the events, so waiting costs only delay. */
  kafkaPublish: { initialMs: 200, maxMs: 3_000 },
  /** Analytics consumer restarts. */
  kafkaConsume: { initialMs: 500, maxMs: 5_000 },
  /** Redis reconnects (ioredis retryStrategy) and the wait for Redis at start-up. */
  redisReconnect: { initialMs: 200, maxMs: 2_000 },
  /** Restarts of the autoscaler's Kubernetes watch after an error. */
  kubeWatch: { initialMs: 1_000, maxMs: 30_000 },
} as const satisfies Record<string, BackoffPolicy>;

/** The wait before retry `retry` (1 = after the first failure), in whole milliseconds. */
export function backoffMs(retry: number, policy: BackoffPolicy): number {
  return fullJitterGenerator(retry - 1, { generator: fullJitterGenerator, initialDelay: policy.initialMs, maxDelay: policy.maxMs, exponent: 2 })[0];
}

export interface RetryOptions {
  /** Attempts in total, the first included (1 = no retry). */
  attempts: number;
  /** Budget for all attempts and waits together, from the first call. */
  deadlineMs: number;
  backoff: BackoffPolicy;
  /** An attempt is not started with less than this left. */
  minAttemptMs: number;
  retryable: (err: unknown) => boolean;
}

/**
 * The pure schedule: how long to wait before attempt `attempt` + 1, after
 * attempt `attempt` failed with `leftMs` of the budget left, or undefined
 * when no retry should be made.
 */
export function retryDelayMs(attempt: number, leftMs: number, options: Pick<RetryOptions, "attempts" | "backoff" | "minAttemptMs">): number | undefined {
  if (attempt >= options.attempts) return undefined;
  const delay = backoffMs(attempt, options.backoff);
  return leftMs - delay >= options.minAttemptMs ? delay : undefined;
}

/** Runs `call(leftMs)` until it succeeds, fails for good, or the budget is spent. */
export async function withRetry<T>(call: (leftMs: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const deadline = Date.now() + options.deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(Math.max(1, deadline - Date.now()));
    } catch (err) {
      if (!options.retryable(err)) throw err;
      const delay = retryDelayMs(attempt, deadline - Date.now(), options);
      if (delay === undefined) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
