import {
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from "@kubernetes/client-node";
import { API_VERSION, GROUP, KIND, PLURAL, VERSION, type AutoscalerStatus, type CounterAutoscaler } from "./types.js";

/**
 * Every Kubernetes call the reconciler makes, behind one small interface:
 * read and write the target's `scale` subresource (never the Deployment
 * itself), look for a competing HPA, write the CounterAutoscaler status and
 * record Events.
 */
export interface TargetScale {
  replicas: number;
  resourceVersion?: string;
}

export interface KubeGateway {
  readScale(namespace: string, deployment: string): Promise<TargetScale>;
  /** Replaces spec.replicas; with a resourceVersion the write fails (409) if someone changed it meanwhile. */
  writeScale(namespace: string, deployment: string, replicas: number, resourceVersion?: string): Promise<void>;
  /** Name of an HPA in the namespace that targets the Deployment, if any. */
  findHPA(namespace: string, deployment: string): Promise<string | undefined>;
  patchStatus(namespace: string, name: string, status: AutoscalerStatus): Promise<void>;
  emitEvent(cr: CounterAutoscaler, type: "Normal" | "Warning", reason: string, message: string): Promise<void>;
  listAutoscalers(namespace?: string): Promise<{ items: CounterAutoscaler[]; metadata?: { resourceVersion?: string } }>;
}

export const errorCode = (err: unknown): number | undefined => (err as { code?: number } | undefined)?.code;

/**
 * What went wrong, for logs and status conditions: the apiserver's own
 * message for an HTTP error, else the error's message with its causes.
 * client-node 2 calls the apiserver through undici's fetch, which reports
 * every transport failure as "fetch failed" and puts the reason (refused,
 * reset, TLS, DNS) in `cause`: "fetch failed: connect ECONNREFUSED 10.96.0.1:443".
 */
export function errorMessage(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string; cause?: unknown };
  if (e?.code !== undefined && e.body !== undefined) {
    try {
      const body = typeof e.body === "string" ? (JSON.parse(e.body) as { message?: string }) : (e.body as { message?: string });
      if (body?.message) return `HTTP ${e.code}: ${body.message}`;
    } catch {
      /* fall through */
    }
    return `HTTP ${e.code}`;
  }
  if (typeof e?.message !== "string") return String(err);
  let message = e.message;
  let cause = e.cause as { message?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; cause && depth < 5; depth++, cause = cause.cause as typeof cause) {
    const m = typeof cause.message === "string" ? cause.message : typeof cause === "string" ? cause : undefined;
    if (m && !message.includes(m)) message += `: ${m}`;
  }
  return message;
}

export interface KubeGatewayOptions {
  /** Component name in Events (source.component / reportingController). */
  component: string;
  /** This controller instance (reportingInstance). */
  identity: string;
  /** How long an HPA lookup is reused. */
  hpaCacheMs: number;
}

export function kubeGateway(kc: KubeConfig, options: KubeGatewayOptions): KubeGateway {
  const apps = kc.makeApiClient(AppsV1Api);
  const autoscaling = kc.makeApiClient(AutoscalingV2Api);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
  const hpaCache = new Map<string, { at: number; targets: Map<string, string> }>();
  let eventSeq = 0;

  return {
    async readScale(namespace, deployment) {
      const scale = await apps.readNamespacedDeploymentScale({ name: deployment, namespace });
      return { replicas: scale.spec?.replicas ?? 0, resourceVersion: scale.metadata?.resourceVersion };
    },

    async writeScale(namespace, deployment, replicas, resourceVersion) {
      await apps.replaceNamespacedDeploymentScale({
        name: deployment,
        namespace,
        body: {
          apiVersion: "autoscaling/v1",
          kind: "Scale",
          metadata: { name: deployment, namespace, resourceVersion },
          spec: { replicas },
        },
      });
    },

    async findHPA(namespace, deployment) {
      const now = Date.now();
      let entry = hpaCache.get(namespace);
      if (!entry || now - entry.at > options.hpaCacheMs) {
        const list = await autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace });
        const targets = new Map<string, string>();
        for (const hpa of list.items) {
          const ref = hpa.spec?.scaleTargetRef;
          if (ref?.kind === "Deployment" && ref.name) targets.set(ref.name, hpa.metadata?.name ?? "?");
        }
        entry = { at: now, targets };
        hpaCache.set(namespace, entry);
      }
      return entry.targets.get(deployment);
    },

    async patchStatus(namespace, name, status) {
      await custom.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { status } },
        mergePatch,
      );
    },

    async emitEvent(cr, type, reason, message) {
      const now = new Date();
      const namespace = cr.metadata.namespace ?? "default";
      eventSeq = (eventSeq + 1) % 0xffff;
      await core.createNamespacedEvent({
        namespace,
        body: {
          metadata: {
            name: `${cr.metadata.name}.${(now.getTime() * 0x10000 + eventSeq).toString(16)}`,
            namespace,
          },
          involvedObject: {
            apiVersion: cr.apiVersion ?? API_VERSION,
            kind: cr.kind ?? KIND,
            name: cr.metadata.name,
            namespace,
            uid: cr.metadata.uid,
            resourceVersion: cr.metadata.resourceVersion,
          },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: options.component },
          reportingComponent: options.component,
          reportingInstance: options.identity,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    },

    async listAutoscalers(namespace) {
      const list = (namespace
        ? await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace })
        : await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as {
        items: CounterAutoscaler[];
        metadata?: { resourceVersion?: string };
      };
      return list;
    },
  };
}
