import { decide, initialState, recordScale, type DecisionState } from "../../services/autoscaler/decide.js";
import type { AutoscalerSpec } from "../../services/autoscaler/types.js";
import type { SimAutoscaler, SimInput } from "./sim-types.js";

/** This project's decision function, driven every 2 s like the controller drives it. */
export class OursModel implements SimAutoscaler {
  readonly periodSeconds = 2;
  private state: DecisionState = initialState();

  constructor(
    readonly name: string,
    private readonly spec: AutoscalerSpec,
  ) {}

  step(input: SimInput): number {
    const now = input.now * 1000;
    const { recommendation, state } = decide(this.state, {
      spec: this.spec,
      currentReplicas: input.specReplicas,
      observation: input.metric === undefined ? { ok: false, error: "metric outage" } : { ok: true, qps: input.metric },
      now,
    });
    this.state = state;
    if (recommendation.desiredReplicas !== input.specReplicas) {
      this.state = recordScale(this.state, input.specReplicas, recommendation.desiredReplicas, now, this.spec);
    }
    return recommendation.desiredReplicas;
  }
}
