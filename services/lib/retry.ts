/**
 * Retries with exponential backoff and full jitter, inside one overall
 * deadline: every attempt gets only the time that is left, and no attempt
 * starts when too little is left for it to be useful.
 *
 * Only for calls that are safe to repeat: reads, and increments that carry
 * an idempotency key. A plain increment is never retried (a lost answer does
 * not mean a lost write, so a retry could count it twice).
 */
export interface RetryOptions {
  /** Attempts in total, the first included (1 = no retry). */
  attempts: number;
  /** Budget for all attempts and waits together, from the first call. */
  deadlineMs: number;
  /** First backoff ceiling; doubles per retry up to capMs. */
  baseMs: number;
  capMs: number;
  /** An attempt is not started with less than this left. */
  minAttemptMs: number;
  retryable: (err: unknown) => boolean;
}

/**
 * The pure schedule: how long to wait before attempt `attempt` (1 = the
 * first retry), or undefined when no retry should be made.
 */
export function retryDelayMs(
  attempt: number,
  leftMs: number,
  options: Pick<RetryOptions, "attempts" | "baseMs" | "capMs" | "minAttemptMs">,
  random: () => number = Math.random,
): number | undefined {
  if (attempt >= options.attempts) return undefined;
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.min(attempt - 1, 20));
  const delay = Math.floor(random() * ceiling);
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
