import { makeInformer, type Informer, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "../lib/logger.js";
import { BACKOFF, backoffMs } from "../lib/retry.js";
import { errorMessage, type KubeGateway } from "./kube-api.js";
import { GROUP, PLURAL, VERSION, type CounterAutoscaler } from "./types.js";

/**
 * Keeps the set of CounterAutoscalers current: a client-node informer
 * (list + watch) for prompt updates, and, because those watches can die
 * silently, two safety nets:
 *  - resync: every `resyncMs` a fresh LIST is delivered to the handlers, so a
 *    missed event is repaired within one period;
 *  - watchdog: the informer is restarted when it reports an error (client-node
 *    does not restart after errors), when it has been silent for longer than
 *    `staleMs` (each watch asks the apiserver to end it after
 *    `watchTimeoutSeconds`, and the informer's reconnect counts as a sign of
 *    life — a hung connection gives none), or when two consecutive resyncs
 *    find its cache different from the LIST.
 *
 * client-node 2 behaviour this relies on: its Watch aborts a connection that
 * has received nothing for 30 s (a fixed inactivity timeout, not
 * configurable through makeInformer) and the informer then re-watches from
 * the last resourceVersion and emits "connect", so a quiet watch is renewed
 * every 30 s whatever `watchTimeoutSeconds` says, and a hung connection is
 * normally replaced within 30 s without the watchdog; when watches keep
 * ending (other than by that timeout) without delivering an event, it waits
 * 1 s, 2 s, … up to 30 s before each new one. Errors other than that timeout
 * and 410 Gone still stop the informer.
 */
export interface AutoscalerWatchOptions {
  kubeConfig: KubeConfig;
  kube: KubeGateway;
  /** Empty: all namespaces. */
  namespace?: string;
  resyncMs: number;
  /** The apiserver closes each watch after this long; the informer then re-watches. */
  watchTimeoutSeconds: number;
  staleMs: number;
  logger: Logger;
  onUpsert: (obj: CounterAutoscaler) => void;
  onDelete: (obj: CounterAutoscaler) => void;
}

export interface AutoscalerWatch {
  stop(): Promise<void>;
  /** Number of informer restarts so far (for tests and metrics). */
  restarts(): number;
  /** Forces the watchdog to restart the informer now. */
  restart(reason: string): Promise<void>;
}

const keyOf = (o: CounterAutoscaler) => `${o.metadata.namespace ?? ""}/${o.metadata.name ?? ""}`;

export async function watchAutoscalers(o: AutoscalerWatchOptions): Promise<AutoscalerWatch> {
  // client-node puts the path into a URL and adds watch=true and the
  // resourceVersion; the query string here rides along.
  const path =
    (o.namespace ? `/apis/${GROUP}/${VERSION}/namespaces/${o.namespace}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/${PLURAL}`) +
    `?timeoutSeconds=${o.watchTimeoutSeconds}`;
  const list = async () => {
    const l = await o.kube.listAutoscalers(o.namespace || undefined);
    return { items: l.items as unknown as KubernetesObject[], metadata: l.metadata };
  };

  const known = new Map<string, CounterAutoscaler>();
  const upsert = (obj: CounterAutoscaler) => {
    known.set(keyOf(obj), obj);
    o.onUpsert(obj);
  };
  const remove = (obj: CounterAutoscaler) => {
    if (known.delete(keyOf(obj))) o.onDelete(obj);
  };

  let informer: Informer<KubernetesObject> & { list(ns?: string): ReadonlyArray<KubernetesObject> };
  let lastSign = Date.now();
  let restarts = 0;
  let stopped = false;
  let divergent = 0;
  let restarting: Promise<void> | undefined;
  /** Watch errors since the informer last started. */
  let failures = 0;

  const build = () => {
    const inf = makeInformer<KubernetesObject>(o.kubeConfig, path, list);
    inf.on("add", (obj) => {
      lastSign = Date.now();
      upsert(obj as CounterAutoscaler);
    });
    inf.on("update", (obj) => {
      lastSign = Date.now();
      upsert(obj as CounterAutoscaler);
    });
    inf.on("delete", (obj) => {
      lastSign = Date.now();
      remove(obj as CounterAutoscaler);
    });
    inf.on("connect", () => {
      lastSign = Date.now();
    });
    inf.on("error", (err) => {
      if (stopped || inf !== informer) return;
      const waitMs = backoffMs(++failures, BACKOFF.kubeWatch);
      o.logger.warn({ err: errorMessage(err), backoffMs: waitMs }, "CounterAutoscaler watch failed; restarting it");
      setTimeout(() => void restart("watch error"), waitMs).unref();
    });
    return inf;
  };

  const restart = async (reason: string) => {
    if (stopped) return;
    if (restarting) return restarting;
    restarting = (async () => {
      restarts += 1;
      o.logger.info({ reason, restarts }, "restarting the CounterAutoscaler informer");
      const old = informer;
      informer = build();
      await old?.stop().catch(() => undefined);
      lastSign = Date.now();
      try {
        await informer.start();
        failures = 0;
      } catch (err) {
        o.logger.warn({ err: errorMessage(err) }, "CounterAutoscaler informer failed to start");
      }
    })().finally(() => {
      restarting = undefined;
    });
    return restarting;
  };

  const resync = async () => {
    let items: CounterAutoscaler[];
    try {
      items = (await o.kube.listAutoscalers(o.namespace || undefined)).items;
    } catch (err) {
      o.logger.warn({ err: errorMessage(err) }, "CounterAutoscaler resync LIST failed");
      return;
    }
    const seen = new Set<string>();
    for (const item of items) {
      seen.add(keyOf(item));
      upsert(item);
    }
    for (const [key, obj] of known) if (!seen.has(key)) remove(obj);

    // Watchdog: compare the informer's cache with the LIST.
    const cached = new Map(informer.list().map((x) => [keyOf(x as CounterAutoscaler), x.metadata?.resourceVersion]));
    const same =
      cached.size === items.length && items.every((i) => cached.get(keyOf(i)) === i.metadata.resourceVersion);
    divergent = same ? 0 : divergent + 1;
    if (divergent >= 2) {
      divergent = 0;
      await restart("informer cache differs from LIST on two resyncs");
    } else if (Date.now() - lastSign > o.staleMs) {
      await restart(`no sign of life from the watch for ${Math.round((Date.now() - lastSign) / 1000)} s`);
    }
  };

  informer = build();
  try {
    await informer.start();
  } catch (err) {
    o.logger.warn({ err: errorMessage(err) }, "CounterAutoscaler informer failed to start; the resync will retry");
  }
  const timer = setInterval(() => void resync(), o.resyncMs);

  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await informer.stop().catch(() => undefined);
    },
    restarts: () => restarts,
    restart,
  };
}
