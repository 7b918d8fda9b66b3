/** What a simulated autoscaler sees at one of its ticks (times in seconds). */
export interface SimInput {
  now: number;
  /** The QPS the metric pipeline reports, or undefined during an outage. */
  metric: number | undefined;
  /** Replicas asked for (Deployment spec.replicas). */
  specReplicas: number;
  /** Replicas that finished starting and serve traffic. */
  readyReplicas: number;
}

export interface SimAutoscaler {
  readonly name: string;
  readonly periodSeconds: number;
  /** Returns the desired replicas. */
  step(input: SimInput): number;
}
