import { mulberry32 } from "../prng.js";

/**
 * QPS traces replayed by the simulation, one value per second. `stepAt` is
 * the second the load jumps (for "time to reach capacity"); `metricDown`
 * marks seconds when the metric source cannot be read.
 */
export interface Trace {
  name: string;
  description: string;
  qps: number[];
  stepAt?: number;
  metricDown?: (t: number) => boolean;
}

const series = (seconds: number, f: (t: number) => number): number[] => Array.from({ length: seconds }, (_, t) => f(t));

/** The step happens 8 s after an HPA sync (its mean delay) and on one of our 2 s ticks. */
export const STEP_AT = 128;

export function traces(seed = 42): Trace[] {
  const rnd = mulberry32(seed);
  const noiseLevels = Array.from({ length: 200 }, () => 0.8 + 0.4 * rnd());
  const jitter = Array.from({ length: 2000 }, () => 0.95 + 0.1 * rnd());
  return [
    {
      name: "step 10x",
      description: "200 QPS, then 2000 QPS from t=128 s",
      qps: series(720, (t) => (t < STEP_AT ? 200 : 2000)),
      stepAt: STEP_AT,
    },
    {
      name: "linear ramp",
      description: "200 → 3000 QPS over 600 s from t=128 s, then flat",
      qps: series(900, (t) => (t < STEP_AT ? 200 : 200 + 2800 * Math.min(1, (t - STEP_AT) / 600))),
    },
    {
      name: "noisy steady",
      description: "1500 QPS ±20 % (new level every 10 s, ±5 % per second), seeded",
      qps: series(900, (t) => 1500 * noiseLevels[Math.floor(t / 10)]! * jitter[t]!),
    },
    {
      name: "short spike",
      description: "500 QPS with a 20 s spike to 3000 QPS at t=128 s",
      qps: series(720, (t) => (t >= STEP_AT && t < STEP_AT + 20 ? 3000 : 500)),
      stepAt: STEP_AT,
    },
    {
      name: "slow decline",
      description: "3000 QPS, falling linearly to 300 QPS over 900 s from t=128 s",
      qps: series(1200, (t) => (t < STEP_AT ? 3000 : Math.max(300, 3000 - (2700 * (t - STEP_AT)) / 900))),
    },
    {
      name: "metric outage",
      description: "1000 QPS; at t=128 s load doubles while the metric is down for 180 s",
      qps: series(720, (t) => (t < STEP_AT ? 1000 : 2000)),
      stepAt: STEP_AT,
      metricDown: (t) => t >= STEP_AT && t < STEP_AT + 180,
    },
  ];
}
