import type { Logger } from "../lib/logger.js";
import type { TickOutcome } from "./conditions.js";
import { decide, initialState, recordScale, type DecisionState } from "./decide.js";
import { tickEvents } from "./events.js";
import { errorCode, errorMessage, type KubeGateway } from "./kube-api.js";
import type { AutoscalerMetrics } from "./metrics.js";
import { renderQuery, type MetricReader } from "./prometheus.js";
import { normalizeSpec } from "./spec.js";
import { buildStatus, statusNeedsWrite } from "./status.js";
import type { AutoscalerStatus, CounterAutoscaler } from "./types.js";

/**
 * The adapter around the pure decision for one CounterAutoscaler: every tick
 * it gathers the snapshot (spec, the target's scale, one Prometheus reading),
 * calls `decide`, and acts — scale subresource, status, Events, metrics.
 * Only the leader acts; a follower keeps no state, and a new leader starts
 * with the current count in its scale-down window (as HPA does).
 */
export interface WorkerDeps {
  kube: KubeGateway;
  readMetric: MetricReader;
  metrics: AutoscalerMetrics;
  logger: Logger;
  isLeader: () => boolean;
  defaults: { prometheusURL: string; query: string };
  tickMs: number;
  /** A QPS-only status change is written at most this often. */
  statusRefreshMs: number;
}

export class AutoscalerWorker {
  private state: DecisionState = initialState();
  private written: AutoscalerStatus | undefined;
  private lastWriteMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly log: Logger;

  constructor(
    private obj: CounterAutoscaler,
    private readonly deps: WorkerDeps,
  ) {
    this.log = deps.logger.child({ namespace: obj.metadata.namespace, counterAutoscaler: obj.metadata.name });
    this.written = obj.status;
  }

  get labels() {
    return { namespace: this.obj.metadata.namespace ?? "", name: this.obj.metadata.name ?? "" };
  }

  update(obj: CounterAutoscaler): void {
    if (obj.metadata.uid !== this.obj.metadata.uid) this.state = initialState();
    // A follower tracks what the leader writes, so that it starts from it when it takes over.
    if (obj.metadata.uid !== this.obj.metadata.uid || !this.deps.isLeader()) this.written = obj.status;
    this.obj = obj;
  }

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      const started = Date.now();
      this.running = this.tick()
        .catch((err) => this.log.error({ err }, "autoscaler tick failed"))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.timer = setTimeout(loop, Math.max(0, this.deps.tickMs - (Date.now() - started)));
        });
    };
    this.timer = setTimeout(loop, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One reconcile pass; public so tests can drive it. */
  async tick(): Promise<void> {
    const { kube, isLeader } = this.deps;
    if (!isLeader()) {
      this.state = initialState();
      return;
    }
    const started = process.hrtime.bigint();
    const obj = this.obj;
    const namespace = obj.metadata.namespace ?? "default";
    const name = obj.metadata.name ?? "";
    const outcome: TickOutcome = {};
    const parsed = normalizeSpec(obj.spec);

    if (!parsed.ok) {
      outcome.specErrors = parsed.errors;
    } else {
      const spec = parsed.spec;
      const target = spec.scaleTargetRef.name;
      let hpa: string | undefined;
      try {
        hpa = await kube.findHPA(namespace, target);
      } catch (err) {
        this.log.warn({ err: errorMessage(err) }, "could not list HorizontalPodAutoscalers; assuming none");
      }
      if (hpa) {
        outcome.hpaConflict = hpa;
        this.state = initialState();
      } else {
        let scale: { replicas: number; resourceVersion?: string } | undefined;
        try {
          scale = await kube.readScale(namespace, target);
        } catch (err) {
          outcome.targetError =
            errorCode(err) === 404 ? `Deployment ${namespace}/${target} not found` : errorMessage(err);
        }
        if (scale) {
          const query = renderQuery(spec.metric.query ?? this.deps.defaults.query, { namespace, target, name });
          const observation = await this.deps.readMetric(spec.metric.prometheusURL ?? this.deps.defaults.prometheusURL, query);
          if (!observation.ok) {
            this.deps.metrics.metricError(this.labels);
            this.log.warn({ error: observation.error, query }, "metric read failed");
          }
          const now = Date.now();
          const decision = decide(this.state, { spec, currentReplicas: scale.replicas, observation, now });
          this.state = decision.state;
          const r = decision.recommendation;
          outcome.recommendation = r;
          if (r.desiredReplicas !== scale.replicas && isLeader()) {
            try {
              await kube.writeScale(namespace, target, r.desiredReplicas, scale.resourceVersion);
              this.state = recordScale(this.state, scale.replicas, r.desiredReplicas, now, spec);
              outcome.scaled = true;
              this.deps.metrics.scaled(this.labels);
              this.log.info(
                { from: scale.replicas, to: r.desiredReplicas, reason: r.reason, qps: r.qps, panic: r.panicMode },
                `scaled ${target} from ${scale.replicas} to ${r.desiredReplicas} replicas`,
              );
            } catch (err) {
              this.deps.metrics.scaleError(this.labels);
              if (errorCode(err) === 409) {
                this.log.info("the target changed while scaling (conflict); retrying next tick");
              } else {
                outcome.scaleError = errorMessage(err);
                this.log.warn({ err: outcome.scaleError }, "scaling failed");
              }
            }
          }
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          this.deps.metrics.observe(this.labels, r, seconds, spec);
        }
      }
    }

    if (!isLeader()) return;
    const nowIso = new Date().toISOString();
    const status = buildStatus(this.written, outcome, obj.metadata.generation, nowIso);
    const events = tickEvents(this.written, status, outcome);
    if (statusNeedsWrite(this.written, status, this.lastWriteMs, Date.now(), this.deps.statusRefreshMs)) {
      try {
        await kube.patchStatus(namespace, name, status);
        this.written = status;
        this.lastWriteMs = Date.now();
      } catch (err) {
        if (errorCode(err) === 404) return; // deleted meanwhile
        this.log.warn({ err: errorMessage(err) }, "could not write status");
      }
    }
    for (const e of events) {
      try {
        await kube.emitEvent(obj, e.type, e.reason, e.message);
      } catch (err) {
        this.log.warn({ err: errorMessage(err), reason: e.reason }, "could not record event");
      }
    }
  }
}
