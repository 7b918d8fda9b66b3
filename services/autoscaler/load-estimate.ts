import type { QpsSample } from "./metric-window.js";

/**
 * Where the load is now, where it is heading and how much it wanders, from
 * the QPS samples of the last `historySeconds`. Pure; times are milliseconds.
 *
 * Everything is measured on the changes over one `windowSeconds` (the stable
 * window):
 *  - the trend is their median over the whole history: random load often
 *    looks like a trend over one window, rarely over five; on a bend (a decay
 *    slowing down) it overstates the slope, which is why confidence.ts never
 *    provisions below the panic-window average;
 *  - the level is the median of the last window's samples carried along the
 *    trend to now, so a steady decline is not lagged by half a window as an
 *    average would be;
 *  - the noise is the spread of the changes around their local median (one
 *    window wide), so a trend that bends (a day's curve, a decay) and a single
 *    step (a flash crowd arriving, a spike ending) are not counted as noise,
 *    while load that goes up and down from one window to the next is.
 * Medians throughout: a minority of outlying samples moves none of the three.
 */
export interface LoadEstimate {
  /** QPS now, read off the trend. */
  level: number;
  /** Trend in QPS per second. */
  slope: number;
  /** Robust standard deviation (QPS) of the load's change over one window, trend removed. */
  noise: number;
}

/** MAD × 1.4826 estimates the standard deviation of normally distributed values. */
const MAD_TO_SIGMA = 1.4826;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Change {
  at: number;
  /** QPS change over one window (scaled to exactly one window). */
  qps: number;
}

/** Each sample's change since the latest sample at least one window older. */
function changesOverWindow(samples: readonly QpsSample[], windowMs: number): Change[] {
  const changes: Change[] = [];
  let earlier = -1;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    while (earlier + 1 < i && samples[earlier + 1]!.at <= s.at - windowMs) earlier++;
    if (earlier < 0) continue;
    const e = samples[earlier]!;
    changes.push({ at: s.at, qps: ((s.qps - e.qps) * windowMs) / (s.at - e.at) });
  }
  return changes;
}

/**
 * The estimate from the samples newer than `now - historySeconds` (oldest
 * first, as `addSample` keeps them); undefined while they hold no change over
 * a whole window or no sample of the last window.
 */
export function estimateLoad(samples: readonly QpsSample[], now: number, windowSeconds: number, historySeconds: number): LoadEstimate | undefined {
  const windowMs = windowSeconds * 1000;
  const history = samples.filter((s) => s.at > now - historySeconds * 1000 && s.at <= now);
  const changes = changesOverWindow(history, windowMs);
  const recent = history.filter((s) => s.at > now - windowMs);
  if (changes.length === 0 || recent.length === 0) return undefined;

  const drift = median(changes.map((c) => c.qps));
  const slope = (drift * 1000) / windowMs;
  const residuals = changes.map((c) => {
    const nearby = changes.filter((o) => Math.abs(o.at - c.at) <= windowMs / 2).map((o) => o.qps);
    return Math.abs(c.qps - median(nearby));
  });
  return {
    level: median(recent.map((s) => s.qps + (slope * (now - s.at)) / 1000)),
    slope,
    noise: MAD_TO_SIGMA * median(residuals),
  };
}
