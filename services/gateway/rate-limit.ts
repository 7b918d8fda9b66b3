/**
 * Per-client rate limiting with token buckets. `take` is the whole decision
 * and does no I/O and reads no clock (time comes in as an argument); the
 * bucket store around it is bounded so a flood of distinct clients cannot
 * grow memory without limit.
 *
 * Kept rather than @fastify/rate-limit, which counts in fixed windows: it
 * has no burst apart from the rate (RATE_LIMIT_BURST), lets a client through
 * twice the limit across a window boundary, and runs as an async hook with a
 * promise per request. Doing the gateway's job with it and
 * @fastify/bearer-auth (keyed by the verified API key, no X-RateLimit
 * headers) cost +1.6 to +6.9 µs per request (+3 to +14 %) against
 * admission.ts in eight paired measurements: bench/README.md, "Library or
 * hand-written", `node dist/bench/micro/admission.js`.
 */
export interface Bucket {
  tokens: number;
  updatedMs: number;
}

export interface RateLimit {
  /** Sustained requests per second per client. */
  ratePerSecond: number;
  /** Requests a client may make at once after being idle. */
  burst: number;
}

/**
 * Refills the bucket for the time since its last update, then takes one
 * token. Returns 0 when the request may go, else the milliseconds until a
 * token will be available. Updates `bucket` in place (no allocation).
 */
export function take(bucket: Bucket, nowMs: number, limit: RateLimit): number {
  const elapsed = nowMs - bucket.updatedMs;
  if (elapsed > 0) {
    bucket.tokens = Math.min(limit.burst, bucket.tokens + (elapsed * limit.ratePerSecond) / 1000);
    bucket.updatedMs = nowMs;
  }
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return 0;
  }
  return Math.max(1, Math.ceil(((1 - bucket.tokens) * 1000) / limit.ratePerSecond));
}

/** A bucket left alone this long is full again, the same as a new one. */
export function idleUntilFullMs(bucket: Bucket, limit: RateLimit): number {
  return ((limit.burst - bucket.tokens) * 1000) / limit.ratePerSecond;
}

export interface ClientRateLimiter {
  /** 0 when allowed, else milliseconds until the client may try again. */
  check(client: string, nowMs: number): number;
  /** Forgets clients whose buckets are full again. */
  sweep(nowMs: number): void;
  readonly size: number;
}

/**
 * Buckets per client in a Map bounded to `maxClients`: idle clients are
 * swept (their buckets would be full anyway, so forgetting them changes no
 * decision); when the map is full of active clients the oldest entry is
 * dropped, which can only make the limiter more lenient for that client.
 */
export function createClientRateLimiter(limit: RateLimit, maxClients: number): ClientRateLimiter {
  const buckets = new Map<string, Bucket>();
  return {
    check(client, nowMs) {
      let bucket = buckets.get(client);
      if (bucket === undefined) {
        if (buckets.size >= maxClients) {
          const oldest = buckets.keys().next().value;
          if (oldest !== undefined) buckets.delete(oldest);
        }
        bucket = { tokens: limit.burst, updatedMs: nowMs };
        buckets.set(client, bucket);
      }
      return take(bucket, nowMs, limit);
    },
    sweep(nowMs) {
      for (const [client, bucket] of buckets) {
        if (nowMs - bucket.updatedMs >= idleUntilFullMs(bucket, limit)) buckets.delete(client);
      }
    },
    get size() {
      return buckets.size;
    },
  };
}
