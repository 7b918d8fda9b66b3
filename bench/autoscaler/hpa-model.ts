import { limitRate, recordScaleEvent, stabilize, type ScaleEvent, type TimedRecommendation } from "../../services/autoscaler/behavior.js";
import { DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP } from "../../services/autoscaler/spec.js";
import type { ScalingRules } from "../../services/autoscaler/types.js";
import type { SimAutoscaler, SimInput } from "./sim-types.js";

/**
 * The Kubernetes HPA v2 algorithm for an External metric with an
 * AverageValue target (what a Prometheus-adapter setup uses for QPS):
 * a 15 s sync loop; usageRatio = metric / (target × replicas); no change
 * within the 10 % tolerance, else ceil(metric / target); then the default
 * behavior (scale-up max(4 pods, 100 %) per 15 s, scale-down 300 s
 * stabilization and 100 % per 15 s) and min/max. A failed metric read
 * means no change (ScalingActive=False). The behavior steps reuse
 * services/autoscaler/behavior.ts, a line-by-line port of horizontal.go.
 */
export class HpaModel implements SimAutoscaler {
  readonly name = "HPA";
  readonly periodSeconds = 15;
  private recommendations: TimedRecommendation[] = [];
  private events: ScaleEvent[] = [];
  private initialized = false;

  constructor(
    private readonly target: number,
    private readonly min: number,
    private readonly max: number,
    private readonly tolerance = 0.1,
    private readonly up: ScalingRules = DEFAULT_SCALE_UP,
    private readonly down: ScalingRules = DEFAULT_SCALE_DOWN,
  ) {}

  step(input: SimInput): number {
    const now = input.now * 1000;
    const current = input.specReplicas;
    if (!this.initialized) {
      this.recommendations = [{ at: now, replicas: current }];
      this.initialized = true;
    }
    if (current > this.max) return this.max;
    if (current < this.min) return this.min;
    if (input.metric === undefined) return current;
    const ratio = input.metric / (this.target * current);
    const desired = Math.abs(1 - ratio) <= this.tolerance ? current : Math.ceil(input.metric / this.target - 1e-9);
    const s = stabilize(this.recommendations, desired, current, this.up, this.down, now);
    this.recommendations = s.recommendations;
    const r = limitRate(current, s.replicas, this.events, this.up, this.down, now, { min: this.min, max: this.max });
    this.events = recordScaleEvent(this.events, current, r.replicas, now, this.up, this.down);
    return r.replicas;
  }
}
