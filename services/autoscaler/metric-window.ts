/**
 * The QPS samples of the last stable window and their averages (Knative's
 * stable and panic windows). Pure; times are milliseconds.
 */
export interface QpsSample {
  at: number;
  qps: number;
}

/** Adds a sample and drops those that left the longest window. */
export function addSample(samples: readonly QpsSample[], sample: QpsSample, windowSeconds: number): QpsSample[] {
  const cutoff = sample.at - windowSeconds * 1000;
  const kept = samples.filter((s) => s.at > cutoff && s.at <= sample.at);
  kept.push(sample);
  return kept;
}

/** Mean QPS of the samples newer than `now - windowSeconds`, or undefined when there are none. */
export function windowAverage(samples: readonly QpsSample[], now: number, windowSeconds: number): number | undefined {
  const cutoff = now - windowSeconds * 1000;
  let sum = 0;
  let n = 0;
  for (const s of samples) {
    if (s.at > cutoff && s.at <= now) {
      sum += s.qps;
      n += 1;
    }
  }
  return n === 0 ? undefined : sum / n;
}
