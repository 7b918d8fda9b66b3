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
import { Coalescer } from "./coalescer.js";

export interface DownstreamOptions {
  counterAddr: string;
  analyticsAddr: string;
  writeDeadlineMs: number;
  readDeadlineMs: number;
  maxBatch: number;
  maxInFlight: number;
  maxQueued: number;
  onBatch?: (kind: "increment" | "get", size: number) => void;
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
  const increments = new Coalescer<IncrementCounterRequest, IncrementCounterResponse>({
    maxBatch: options.maxBatch,
    maxInFlight: options.maxInFlight,
    maxQueued: options.maxQueued,
    onBatch: (n) => options.onBatch?.("increment", n),
    send: (operations) =>
      call(counter, counter.batchIncrementCounters, { operations }, options.writeDeadlineMs).then((r) => r.results),
  });
  const reads = new Coalescer<GetCounterRequest, GetCounterResponse>({
    maxBatch: options.maxBatch,
    maxInFlight: options.maxInFlight,
    maxQueued: options.maxQueued,
    onBatch: (n) => options.onBatch?.("get", n),
    send: (queries) => call(counter, counter.batchGetCounters, { queries }, options.readDeadlineMs).then((r) => r.results),
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
    incrementIdempotent: (op, requestId) =>
      call(counter, counter.incrementCounter, { ...op, requestId, userId: "" }, options.writeDeadlineMs),
    get: (query) => reads.submit(query),
    top: (request) => call(analytics, analytics.getTopCounters, request, options.readDeadlineMs),
    stats: (resourceId, counterType, timeRange) =>
      call(analytics, analytics.getCounterStats, { resourceId, counterType, timeRange }, options.readDeadlineMs),
    health: () => ({ ...healthy }),
    drained: () => Promise.all([increments.drained(), reads.drained()]).then(() => undefined),
    close() {
      clearInterval(timer);
      counter.close();
      analytics.close();
      for (const p of probes) p.client.close();
    },
  };
}
