import { V1MicroTime, type CoordinationV1Api, type V1Lease } from "@kubernetes/client-node";
import type { Logger } from "../lib/logger.js";

/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules:
 * a candidate takes the lease only when it is free (no holder) or when its
 * record has not changed for leaseDurationSeconds *as observed locally* (no
 * trust in other clocks); writes carry the resourceVersion, so two
 * candidates can never both win. The leader renews every retry period and
 * considers itself leader only while its last successful renewal is younger
 * than the renew deadline (shorter than the lease duration), so an old
 * leader stops acting before anyone else may start.
 */

export interface LeaseView {
  holder?: string;
  leaseDurationSeconds: number;
  /** Changes whenever the holder renews; compared, never interpreted as a clock. */
  renewTime?: string;
}

export type LeaseAction = "create" | "renew" | "acquire" | "wait";

/** What a candidate should do with the lease it just read. Pure. */
export function leaseAction(lease: LeaseView | null, identity: string, observedAtMs: number, nowMs: number): LeaseAction {
  if (!lease) return "create";
  if (lease.holder === identity) return "renew";
  if (!lease.holder) return "acquire";
  if (observedAtMs + lease.leaseDurationSeconds * 1000 < nowMs) return "acquire";
  return "wait";
}

export interface LeaderElectorOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  logger: Logger;
  onChange?: (leading: boolean) => void;
}

const statusOf = (err: unknown): number | undefined => (err as { code?: number }).code;

export class LeaderElector {
  private lastRenewMs = -Infinity;
  private leading = false;
  private observed: { key: string; atMs: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly o: LeaderElectorOptions) {}

  /** True while this instance holds a lease renewed within the renew deadline. */
  isLeader(): boolean {
    return this.leading && Date.now() - this.lastRenewMs < this.o.renewDeadlineSeconds * 1000;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const loop = () => {
      if (this.stopped) return;
      this.running = this.tryAcquireOrRenew().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, this.o.retryPeriodSeconds * 1000);
      });
    };
    loop();
  }

  /** Stops campaigning and, when leading, hands the lease back so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running.catch(() => undefined);
    const wasLeading = this.leading;
    this.setLeading(false);
    if (!wasLeading) return;
    try {
      const lease = await this.o.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
      if (lease.spec?.holderIdentity !== this.o.identity) return;
      lease.spec = {
        ...lease.spec,
        holderIdentity: undefined,
        leaseDurationSeconds: 1,
        renewTime: new V1MicroTime(),
      };
      await this.o.api.replaceNamespacedLease({ name: this.o.name, namespace: this.o.namespace, body: lease });
      this.o.logger.info({ lease: this.o.name }, "released the leader lease");
    } catch (err) {
      this.o.logger.warn({ err, lease: this.o.name }, "could not release the leader lease; it will expire on its own");
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.o.logger.info({ lease: this.o.name, identity: this.o.identity, leading }, leading ? "became leader" : "stopped leading");
    this.o.onChange?.(leading);
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const { api, namespace, name, identity } = this.o;
    const now = Date.now();
    try {
      let lease: V1Lease | null = null;
      try {
        lease = await api.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
      const view: LeaseView | null = lease
        ? {
            holder: lease.spec?.holderIdentity || undefined,
            leaseDurationSeconds: lease.spec?.leaseDurationSeconds ?? this.o.leaseDurationSeconds,
            renewTime: lease.spec?.renewTime ? String(lease.spec.renewTime as unknown) : undefined,
          }
        : null;
      const key = JSON.stringify(view);
      if (!this.observed || this.observed.key !== key) this.observed = { key, atMs: now };
      const action = leaseAction(view, identity, this.observed.atMs, now);
      const spec = {
        holderIdentity: identity,
        leaseDurationSeconds: this.o.leaseDurationSeconds,
        renewTime: new V1MicroTime(now),
      };
      if (action === "create") {
        await api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: { ...spec, acquireTime: new V1MicroTime(now), leaseTransitions: 0 } },
        });
      } else if (action === "renew" && lease) {
        lease.spec = { ...lease.spec, ...spec };
        await api.replaceNamespacedLease({ name, namespace, body: lease });
      } else if (action === "acquire" && lease) {
        this.o.logger.info({ lease: name, previous: view?.holder ?? null }, "taking over the leader lease");
        lease.spec = {
          ...lease.spec,
          ...spec,
          acquireTime: new V1MicroTime(now),
          leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1,
        };
        await api.replaceNamespacedLease({ name, namespace, body: lease });
      } else {
        this.setLeading(false);
        return;
      }
      this.lastRenewMs = now;
      this.observed = undefined;
      this.setLeading(true);
    } catch (err) {
      const code = statusOf(err);
      if (code === 409) this.o.logger.debug({ lease: name }, "lease changed under us (conflict); retrying");
      else this.o.logger.warn({ err, lease: name }, "leader lease request failed");
      if (!this.isLeader()) this.setLeading(false);
    }
  }
}
