/**
 * The one retry/backoff policy (services/lib/retry.ts) against cockatiel's
 * retry policy and ExponentialBackoff, and the waits it gives every caller
 * next to the five formulas it replaced.
 *
 *  1. What a retried call costs when it succeeds at once, which is nearly
 *     every call: withRetry against cockatiel's retry(...).execute with the
 *     same attempts and backoff (the gateway's reads and keyed increments).
 *  2. One backoff wait: cockatiel's full-jitter generator as backoffMs calls
 *     it, cockatiel's ExponentialBackoff walked one step, the old inline formula.
 *  3. Mean wait per consecutive failure, before and after, per caller.
 *
 *   npm run build && node dist/bench/micro/retry.js
 */
import { ExponentialBackoff, fullJitterGenerator, handleWhen, retry, type IBackoff } from "cockatiel";
import { BACKOFF, backoffMs, withRetry, type BackoffPolicy } from "../../services/lib/retry.js";
import { compareCalls, formatTable } from "./stats.js";

const retryable = (err: unknown) => (err as { code?: number }).code === 14;
const answer = async () => 1;
const policy = retry(handleWhen(retryable), {
  maxAttempts: 2,
  backoff: new ExponentialBackoff({ generator: fullJitterGenerator, initialDelay: BACKOFF.grpcRetry.initialMs, maxDelay: BACKOFF.grpcRetry.maxMs }),
});
const options = { attempts: 3, deadlineMs: 1_000, backoff: BACKOFF.grpcRetry, minAttemptMs: 50, retryable };

await compareCalls({
  title: "A retried call that succeeds at once",
  reference: "withRetry (lib/retry.ts)",
  iterations: 200_000,
  variants: {
    "no retry (await call())": async (n) => {
      for (let i = 0; i < n; i++) await answer();
    },
    "withRetry (lib/retry.ts)": async (n) => {
      for (let i = 0; i < n; i++) await withRetry(answer, options);
    },
    "cockatiel retry(handleWhen, { maxAttempts: 2, ExponentialBackoff }).execute": async (n) => {
      for (let i = 0; i < n; i++) await policy.execute(answer);
    },
  },
});

let sink = 0;
const factory = new ExponentialBackoff({ generator: fullJitterGenerator, initialDelay: 25, maxDelay: 250 });
await compareCalls({
  title: "One backoff wait (failures 1 to 8 in turn)",
  reference: "backoffMs (cockatiel fullJitterGenerator)",
  iterations: 2_000_000,
  variants: {
    "backoffMs (cockatiel fullJitterGenerator)": (n) => {
      for (let i = 0; i < n; i++) sink += backoffMs((i & 7) + 1, BACKOFF.grpcRetry);
    },
    "cockatiel ExponentialBackoff, one step": (n) => {
      let b: IBackoff<unknown> = factory.next();
      for (let i = 0; i < n; i++) {
        b = (i & 7) === 0 ? factory.next() : b.next(undefined);
        sink += b.duration;
      }
    },
    "old formula, inline": (n) => {
      for (let i = 0; i < n; i++) sink += Math.floor(Math.random() * Math.min(250, 25 * 2 ** (i & 7)));
    },
  },
});
if (sink < 0) console.log(sink);

/** The formulas this module replaced, as they were, by consecutive failure n (1 = first). */
const before: Array<{ caller: string; formula: string; wait: (n: number) => number; after: BackoffPolicy }> = [
  { caller: "gateway gRPC retries", formula: "⌊rand·min(250, 25·2^(n-1))⌋ (retry.ts)", wait: (n) => Math.floor(Math.random() * Math.min(250, 25 * 2 ** (n - 1))), after: BACKOFF.grpcRetry },
  { caller: "outbox publish", formula: "rand·min(3000, 200·2^(n-1)) (kafka.ts)", wait: (n) => Math.random() * Math.min(3_000, 200 * 2 ** (n - 1)), after: BACKOFF.kafkaPublish },
  { caller: "outbox relay loop", formula: "rand·min(3000, 200·2^n) (kafka.ts)", wait: (n) => Math.random() * Math.min(3_000, 200 * 2 ** n), after: BACKOFF.kafkaPublish },
  { caller: "analytics consumer", formula: "rand·min(5000, 500·2^(n-1)) (kafka.ts)", wait: (n) => Math.random() * Math.min(5_000, 500 * 2 ** (n - 1)), after: BACKOFF.kafkaConsume },
  { caller: "Redis reconnect", formula: "min(2000, 100·2^min(n,5)), no jitter (redis.ts)", wait: (n) => Math.min(2_000, 100 * 2 ** Math.min(n, 5)), after: BACKOFF.redisReconnect },
  { caller: "Redis at start-up", formula: "min(2000, 200·n), no jitter (redis.ts)", wait: (n) => Math.min(2_000, 200 * n), after: BACKOFF.redisReconnect },
  { caller: "Kubernetes watch restart", formula: "min(30000, 1000·2^(n-1)), no jitter (informer.ts)", wait: (n) => Math.min(30_000, 1_000 * 2 ** (n - 1)), after: BACKOFF.kubeWatch },
];
const mean = (f: (n: number) => number, n: number) => {
  let total = 0;
  for (let i = 0; i < 20_000; i++) total += f(n);
  return Math.round(total / 20_000);
};
const failures = [1, 2, 3, 4, 5, 6, 8];
console.log("\nMean wait in ms after n consecutive failures, before → after (20,000 draws each)\n");
console.log(
  formatTable(
    ["caller", "before", ...failures.map((n) => `n=${n}`)],
    before.map((b) => [b.caller, b.formula, ...failures.map((n) => `${mean(b.wait, n)} → ${mean((k) => backoffMs(k, b.after), n)}`)]),
  ),
);
