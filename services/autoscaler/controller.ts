import { CoordinationV1Api, type KubeConfig } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import type { Logger } from "../lib/logger.js";
import type { AutoscalerConfig } from "./config.js";
import { watchAutoscalers, type AutoscalerWatch } from "./informer.js";
import { kubeGateway, type KubeGateway } from "./kube-api.js";
import { LeaderElector } from "./leader-election.js";
import { createAutoscalerMetrics } from "./metrics.js";
import { prometheusReader, type MetricReader } from "./prometheus.js";
import { AutoscalerWorker } from "./reconciler.js";
import type { CounterAutoscaler } from "./types.js";

/**
 * Composes the controller: leader election, the CounterAutoscaler informer
 * and one worker (tick loop) per CounterAutoscaler. Everything it needs is
 * passed in, so tests start it in-process against a real apiserver.
 */
export interface ControllerOptions {
  kubeConfig: KubeConfig;
  config: AutoscalerConfig;
  logger: Logger;
  registry: Registry;
  /** Replaces the Prometheus reader (tests). */
  readMetric?: MetricReader;
  /** Replaces the Kubernetes gateway (tests). */
  kube?: KubeGateway;
}

export interface Controller {
  isLeader(): boolean;
  /** Workers by "namespace/name". */
  workers(): ReadonlyMap<string, AutoscalerWorker>;
  watch: AutoscalerWatch;
  ready(): boolean;
  /** Stops the workers and the informer and releases the lease. */
  stop(): Promise<void>;
}

export async function startController(o: ControllerOptions): Promise<Controller> {
  const { config, logger } = o;
  const kube =
    o.kube ??
    kubeGateway(o.kubeConfig, { component: "highgopress-autoscaler", identity: config.identity, hpaCacheMs: config.hpaCacheMs });
  const metrics = createAutoscalerMetrics(o.registry);
  const readMetric = o.readMetric ?? prometheusReader({ timeoutMs: config.prometheusTimeoutMs });

  let elector: LeaderElector | undefined;
  if (config.leaderElection) {
    elector = new LeaderElector({
      api: o.kubeConfig.makeApiClient(CoordinationV1Api),
      namespace: config.leaseNamespace,
      name: config.leaseName,
      identity: config.identity,
      leaseDurationSeconds: config.leaseDurationSeconds,
      renewDeadlineSeconds: config.renewDeadlineSeconds,
      retryPeriodSeconds: config.retryPeriodSeconds,
      logger,
      onChange: (leading) => metrics.setLeader(leading),
    });
    elector.start();
  } else {
    metrics.setLeader(true);
  }
  const isLeader = () => (elector ? elector.isLeader() : true);

  const workers = new Map<string, AutoscalerWorker>();
  const key = (obj: CounterAutoscaler) => `${obj.metadata.namespace}/${obj.metadata.name}`;
  let stopping = false;
  const deps = {
    kube,
    readMetric,
    metrics,
    logger,
    isLeader,
    defaults: { prometheusURL: config.prometheusURL, query: config.defaultQuery },
    tickMs: config.tickMs,
    statusRefreshMs: config.statusRefreshMs,
  };

  const watch = await watchAutoscalers({
    kubeConfig: o.kubeConfig,
    kube,
    namespace: config.watchNamespace,
    resyncMs: config.resyncMs,
    watchTimeoutSeconds: config.watchTimeoutSeconds,
    staleMs: 3 * config.watchTimeoutSeconds * 1000,
    logger,
    onUpsert(obj) {
      if (stopping) return;
      const existing = workers.get(key(obj));
      if (existing) {
        existing.update(obj);
        return;
      }
      const worker = new AutoscalerWorker(obj, deps);
      workers.set(key(obj), worker);
      logger.info({ namespace: obj.metadata.namespace, counterAutoscaler: obj.metadata.name }, "managing CounterAutoscaler");
      worker.start();
    },
    onDelete(obj) {
      const worker = workers.get(key(obj));
      if (!worker) return;
      workers.delete(key(obj));
      void worker.stop().then(() => metrics.forget(worker.labels));
      logger.info({ namespace: obj.metadata.namespace, counterAutoscaler: obj.metadata.name }, "CounterAutoscaler deleted");
    },
  });

  return {
    isLeader,
    workers: () => workers,
    watch,
    ready: () => !stopping,
    async stop() {
      stopping = true;
      await watch.stop();
      await Promise.all([...workers.values()].map((w) => w.stop()));
      workers.clear();
      await elector?.release();
    },
  };
}
