/** Statistics of an hourly series, pure. Sums are exact int64 (bigint); ratios and means are doubles. */
export interface HourPoint {
  hourStartMs: number;
  value: bigint;
  incrementCount: number;
}

export interface SeriesStats {
  total: bigint;
  incrementCount: number;
  avgPerHour: number;
  peak: bigint;
  peakHourStartMs: number;
  trend: "up" | "down" | "flat";
  trendRatio: number;
}

/** Relative change between halves below this is "flat". */
const FLAT_BAND = 0.1;

const sum = (points: readonly HourPoint[]) => points.reduce((s, p) => s + p.value, 0n);

export function seriesStats(points: readonly HourPoint[]): SeriesStats {
  let incrementCount = 0;
  let peak = 0n;
  let peakHourStartMs = points[0]?.hourStartMs ?? 0;
  for (const p of points) {
    incrementCount += p.incrementCount;
    if (p.value > peak) {
      peak = p.value;
      peakHourStartMs = p.hourStartMs;
    }
  }
  const total = sum(points);
  // Second half of the range against the first; a one-hour range compares nothing.
  const half = Math.floor(points.length / 2);
  const first = Number(sum(points.slice(0, half)));
  const second = Number(sum(points.slice(points.length - half)));
  const trendRatio = half === 0 ? 0 : first === 0 ? (second === 0 ? 0 : Math.sign(second)) : (second - first) / Math.abs(first);
  const trend = trendRatio > FLAT_BAND ? "up" : trendRatio < -FLAT_BAND ? "down" : "flat";
  return {
    total,
    incrementCount,
    avgPerHour: points.length === 0 ? 0 : Number(total) / points.length,
    peak,
    peakHourStartMs,
    trend,
    trendRatio,
  };
}
