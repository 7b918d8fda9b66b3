import type { SimAutoscaler, SimInput } from "./sim-types.js";

/**
 * Knative's KPA (knative/serving pkg/autoscaler/scaling/autoscaler.go,
 * defaults from config-autoscaler): a 2 s tick; stable window 60 s and panic
 * window 6 s (10 %) averages; desired = ceil(average / target) bounded by
 * max-scale-up-rate 1000 and max-scale-down-rate 2 relative to the *ready*
 * pods; panic when ceil(panic demand) / ready ≥ 2.0, during which the count
 * never decreases; panic ends 60 s after the condition last held; no
 * scale-down delay. Target utilization is taken as 100 % so that every
 * model scales to the same per-replica target. A failed read means no
 * change (Knative returns an invalid ScaleResult on missing data).
 */
export class KpaModel implements SimAutoscaler {
  readonly name = "KPA";
  readonly periodSeconds = 2;
  private samples: { at: number; v: number }[] = [];
  private panicTime: number | undefined;
  private maxPanicPods = 0;

  constructor(
    private readonly target: number,
    private readonly min: number,
    private readonly max: number,
    private readonly stableWindow = 60,
    private readonly panicWindow = 6,
    private readonly panicThreshold = 2.0,
    private readonly maxScaleUpRate = 1000,
    private readonly maxScaleDownRate = 2.0,
  ) {}

  private average(now: number, window: number): number {
    const xs = this.samples.filter((s) => s.at > now - window);
    return xs.reduce((a, s) => a + s.v, 0) / Math.max(1, xs.length);
  }

  step(input: SimInput): number {
    if (input.metric === undefined) return input.specReplicas;
    const now = input.now;
    this.samples.push({ at: now, v: input.metric });
    this.samples = this.samples.filter((s) => s.at > now - this.stableWindow);
    const ready = Math.max(1, input.readyReplicas);
    const maxUp = Math.ceil(this.maxScaleUpRate * ready);
    const maxDown = Math.floor(ready / this.maxScaleDownRate);
    const dspc = Math.ceil(this.average(now, this.stableWindow) / this.target - 1e-9);
    const dppc = Math.ceil(this.average(now, this.panicWindow) / this.target - 1e-9);
    const stable = Math.min(Math.max(dspc, maxDown), maxUp);
    const panic = Math.min(Math.max(dppc, maxDown), maxUp);
    const over = dppc / ready >= this.panicThreshold;
    if (over) this.panicTime = now;
    else if (this.panicTime !== undefined && this.panicTime + this.stableWindow < now) {
      this.panicTime = undefined;
      this.maxPanicPods = 0;
    }
    let desired = stable;
    if (this.panicTime !== undefined) {
      desired = Math.max(desired, panic);
      if (desired > this.maxPanicPods) this.maxPanicPods = desired;
      desired = this.maxPanicPods;
    }
    return Math.min(this.max, Math.max(this.min, desired));
  }
}
