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
  /** Seconds a new pod takes to serve; unset: the simulation's `--startup`. */
  startupSeconds?: number;
}

const series = (seconds: number, f: (t: number) => number): number[] => Array.from({ length: seconds }, (_, t) => f(t));

/** The step happens 8 s after an HPA sync (its mean delay) and on one of our 2 s ticks. */
export const STEP_AT = 128;

export function traces(seed = 42): Trace[] {
  const rnd = mulberry32(seed);
  const noiseLevels = Array.from({ length: 200 }, () => 0.8 + 0.4 * rnd());
  const jitter = Array.from({ length: 2000 }, () => 0.95 + 0.1 * rnd());
  // Drawn after the arrays above so that adding traces left the older ones unchanged.
  const diurnalLevels = Array.from({ length: 200 }, () => 0.9 + 0.2 * rnd());
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
    {
      name: "diurnal",
      description: "a day in 1440 s (1 s per minute): 300 QPS at 04:00, 3000 at 16:00, ±10 % (new level every 10 s), ±5 % per second",
      qps: series(1440, (t) => (300 + 1350 * (1 - Math.cos((2 * Math.PI * (t - 240)) / 1440))) * diurnalLevels[Math.floor(t / 10)]! * jitter[t]!),
    },
    {
      name: "flash crowd",
      description: "400 QPS; from t=128 s 4000 QPS within 10 s, decaying towards 800 (τ 240 s), ±5 % per second; pods start in 30 s",
      qps: series(1200, (t) => {
        if (t < STEP_AT) return 400 * jitter[t]!;
        if (t < STEP_AT + 10) return (400 + 360 * (t - STEP_AT + 1)) * jitter[t]!;
        return (800 + 3200 * Math.exp(-(t - STEP_AT - 10) / 240)) * jitter[t]!;
      }),
      stepAt: STEP_AT,
      startupSeconds: 30,
    },
    {
      name: "batch sawtooth",
      description: "400 QPS; every 300 s from t=128 s a batch job adds load rising to +2000 QPS over 240 s, then stops; ±5 % per second",
      qps: series(1328, (t) => {
        const intoJob = (t - STEP_AT) % 300;
        const job = t < STEP_AT || intoJob >= 240 ? 0 : (2000 * intoJob) / 240;
        return (400 + job) * jitter[t]!;
      }),
    },
  ];
}
