import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import {
  AnalyticsServiceClient,
  type GetCounterStatsResponse,
  type GetTopCountersRequest,
  type GetTopCountersResponse,
} from "../lib/gen/highgopress/analytics/v1/analytics.js";
import {
  CounterServiceClient,
  type GetCounterRequest,
  type GetCounterResponse,
  type IncrementCounterRequest,
  type IncrementCounterResponse,
} from "../lib/gen/highgopress/counter/v1/counter.js";
import { channelOptions, deadlineIn, grpcTarget } from "../lib/grpc-client.js";
import { withRetry } from "../lib/retry.js";
import { Coalescer } from "./coalescer.js";
import { createBreaker, createBulkhead, isRetryable, type Breaker } from "./resilience.js";

export interface DownstreamOptions {
  counterAddr: string;
  analyticsAddr: string;
  writeDeadlineMs: number;
  readDeadlineMs: number;
  maxBatch: number;
  maxInFlight: number;
  maxQueued: number;
  onBatch?: (kind: "increment" | "get", size: number) => void;
  /** Consecutive transport failures that open a downstream's circuit (default 5). */
  breakerFailures?: number;
  /** How long an open circuit fails fast before one trial call (default 1000 ms). */
  breakerHalfOpenMs?: number;
  /** Attempts for calls that are safe to repeat (reads, keyed increments); default 3. */
  readAttempts?: number;
  /** Analytics calls in flight at once; more are shed (default 512). */
  analyticsMaxInFlight?: number;
  onBreakerState?: (downstream: "counter" | "analytics", state: "closed" | "open" | "half-open") => void;
}

export type IncrementInput = Pick<IncrementCounterRequest, "resourceId" | "counterType" | "delta">;

export interface Downstream {
  increment(op: IncrementInput): Promise<IncrementCounterResponse>;
  /** Not coalesced: a conflict on one key must not fail other callers' increments. */
  incrementIdempotent(op: IncrementInput, requestId: string): Promise<IncrementCounterResponse>;
  get(query: GetCounterRequest): Promise<GetCounterResponse>;
  top(request: GetTopCountersRequest): Promise<GetTopCountersResponse>;
  stats(resourceId: string, counterType: string, timeRange: string): Promise<GetCounterStatsResponse>;
  /** Last health-check result per downstream. */
  health(): { counter: boolean; analytics: boolean };
  /** Circuit state per downstream. */
  circuits(): { counter: string; analytics: string };
  drained(): Promise<void>;
  close(): void;
}

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown;

function call<Req, Res>(client: grpc.Client, method: Unary<Req, Res>, req: Req, deadlineMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, req, new grpc.Metadata(), deadlineIn(deadlineMs), (err, res) => (err ? reject(err) : resolve(res)));
  });
}

const HealthClient = grpc.makeClientConstructor(healthService, "grpc.health.v1.Health");

/**
 * Long-lived gRPC channels to counter and analytics. Increments and reads are
 * coalesced into batch calls; health is polled so readiness answers without
 * a downstream round trip.
 */
export function createDownstream(options: DownstreamOptions): Downstream {
  const counter = new CounterServiceClient(grpcTarget(options.counterAddr), grpc.credentials.createInsecure(), channelOptions());
  const analytics = new AnalyticsServiceClient(grpcTarget(options.analyticsAddr), grpc.credentials.createInsecure(), channelOptions());
  // One breaker per downstream: a dead counter (or Redis behind it) gives fast 503s.
  const breaker = (name: "counter" | "analytics"): Breaker =>
    createBreaker({
      consecutiveFailures: options.breakerFailures ?? 5,
      halfOpenAfterMs: options.breakerHalfOpenMs ?? 1_000,
      onStateChange: (state) => options.onBreakerState?.(name, state),
    });
  const counterBreaker = breaker("counter");
  const analyticsBreaker = breaker("analytics");
  const analyticsBulkhead = createBulkhead(options.analyticsMaxInFlight ?? 512);
  // Retries (backoff with jitter, within the deadline) only for calls that are safe to repeat.
  const retrying = <T>(deadlineMs: number, attempt: (leftMs: number) => Promise<T>) =>
    withRetry(attempt, { attempts: options.readAttempts ?? 3, deadlineMs, baseMs: 25, capMs: 250, minAttemptMs: 50, retryable: isRetryable });
  const analyticsCall = <Req, Res>(method: Unary<Req, Res>, req: Req) =>
    analyticsBulkhead.execute(() =>
      retrying(options.readDeadlineMs, (leftMs) => analyticsBreaker.execute(() => call(analytics, method, req, leftMs))),
    );

  const increments = new Coalescer<IncrementCounterRequest, IncrementCounterResponse>({
    maxBatch: options.maxBatch,
    maxInFlight: options.maxInFlight,
    maxQueued: options.maxQueued,
    onBatch: (n) => options.onBatch?.("increment", n),
    // Never retried: a batch whose answer was lost may have been applied.
    send: (operations) =>
      counterBreaker
        .execute(() => call(counter, counter.batchIncrementCounters, { operations }, options.writeDeadlineMs))
        .then((r) => r.results),
  });
  const reads = new Coalescer<GetCounterRequest, GetCounterResponse>({
    maxBatch: options.maxBatch,
    maxInFlight: options.maxInFlight,
    maxQueued: options.maxQueued,
    onBatch: (n) => options.onBatch?.("get", n),
    send: (queries) =>
      retrying(options.readDeadlineMs, (leftMs) =>
        counterBreaker.execute(() => call(counter, counter.batchGetCounters, { queries }, leftMs)),
      ).then((r) => r.results),
  });

  const healthy = { counter: false, analytics: false };
  const probes = [
    { name: "counter" as const, client: new HealthClient(grpcTarget(options.counterAddr), grpc.credentials.createInsecure(), channelOptions()) },
    { name: "analytics" as const, client: new HealthClient(grpcTarget(options.analyticsAddr), grpc.credentials.createInsecure(), channelOptions()) },
  ];
  const probe = () => {
    for (const { name, client } of probes) {
      (client as unknown as { check: Unary<{ service: string }, { status: string | number }> }).check(
        { service: "" },
        new grpc.Metadata(),
        deadlineIn(1_000),
        (err, res) => {
          healthy[name] = !err && (res.status === "SERVING" || res.status === 1);
        },
      );
    }
  };
  probe();
  const timer = setInterval(probe, 2_000).unref();

  return {
    increment: (op) => increments.submit({ ...op, requestId: "", userId: "" }),
    // The idempotency key makes a repeat harmless: a second attempt recalls the first result.
    incrementIdempotent: (op, requestId) =>
      retrying(options.writeDeadlineMs, (leftMs) =>
        counterBreaker.execute(() => call(counter, counter.incrementCounter, { ...op, requestId, userId: "" }, leftMs)),
      ),
    get: (query) => reads.submit(query),
    top: (request) => analyticsCall(analytics.getTopCounters, request),
    stats: (resourceId, counterType, timeRange) => analyticsCall(analytics.getCounterStats, { resourceId, counterType, timeRange }),
    health: () => ({ ...healthy }),
    circuits: () => ({ counter: counterBreaker.state(), analytics: analyticsBreaker.state() }),
    drained: () => Promise.all([increments.drained(), reads.drained()]).then(() => undefined),
    close() {
      clearInterval(timer);
      counter.close();
      analytics.close();
      for (const p of probes) p.client.close();
    },
  };
}
