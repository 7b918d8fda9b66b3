/** Statistics of an hourly series, pure. */
export interface HourPoint {
  hourStartMs: number;
  value: number;
  incrementCount: number;
}

export interface SeriesStats {
  total: number;
  incrementCount: number;
  avgPerHour: number;
  peak: number;
  peakHourStartMs: number;
  trend: "up" | "down" | "flat";
  trendRatio: number;
}

/** Relative change between halves below this is "flat". */
const FLAT_BAND = 0.1;

export function seriesStats(points: readonly HourPoint[]): SeriesStats {
  let total = 0;
  let incrementCount = 0;
  let peak = 0;
  let peakHourStartMs = points[0]?.hourStartMs ?? 0;
  for (const p of points) {
    total += p.value;
    incrementCount += p.incrementCount;
    if (p.value > peak) {
      peak = p.value;
      peakHourStartMs = p.hourStartMs;
    }
  }
  // Second half of the range against the first; a one-hour range compares nothing.
  const half = Math.floor(points.length / 2);
  const first = points.slice(0, half).reduce((s, p) => s + p.value, 0);
  const second = points.slice(points.length - half).reduce((s, p) => s + p.value, 0);
  const trendRatio = half === 0 ? 0 : first === 0 ? (second === 0 ? 0 : Math.sign(second)) : (second - first) / Math.abs(first);
  const trend = trendRatio > FLAT_BAND ? "up" : trendRatio < -FLAT_BAND ? "down" : "flat";
  return {
    total,
    incrementCount,
    avgPerHour: points.length === 0 ? 0 : total / points.length,
    peak,
    peakHourStartMs,
    trend,
    trendRatio,
  };
}
