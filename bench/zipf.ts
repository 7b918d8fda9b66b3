/**
 * Seeded, deterministic key sequences for the write benchmarks. The same
 * seed gives the same sequence on every machine, so the bench knows exactly
 * how many requests each key was sent and can check Redis and analytics per
 * key afterwards.
 */
import { mulberry32 } from "./prng.js";

/**
 * Zipf(s) over ranks 1..n: P(k) ∝ 1 / k^s. Sampling is a binary search in
 * the cumulative distribution (n doubles, built once).
 */
export class Zipf {
  private readonly cdf: Float64Array;

  constructor(
    readonly n: number,
    readonly s: number,
  ) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`Zipf n must be a positive integer, got ${n}`);
    if (!(s > 0)) throw new Error(`Zipf s must be positive, got ${s}`);
    this.cdf = new Float64Array(n);
    let sum = 0;
    for (let k = 1; k <= n; k++) {
      sum += 1 / Math.pow(k, s);
      this.cdf[k - 1] = sum;
    }
    for (let i = 0; i < n; i++) this.cdf[i]! /= sum;
    this.cdf[n - 1] = 1;
  }

  /** Probability of rank k (1-based). */
  p(k: number): number {
    return this.cdf[k - 1]! - (k > 1 ? this.cdf[k - 2]! : 0);
  }

  /** The rank whose CDF interval holds u ∈ [0, 1). */
  rank(u: number): number {
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo + 1;
  }

  /** `count` ranks drawn with the seeded PRNG. */
  sample(count: number, seed: number): Uint32Array {
    const random = mulberry32(seed);
    const out = new Uint32Array(count);
    for (let i = 0; i < count; i++) out[i] = this.rank(random());
    return out;
  }
}

/** How many times each key occurs in a sequence. */
export function countKeys(keys: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  return counts;
}
