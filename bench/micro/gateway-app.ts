/**
 * The gateway's HTTP app as main.ts builds it (buildGatewayApp: the same
 * fastify options, telemetry hooks, schemas, serializers and error handler),
 * with a downstream that answers every call at once, so what a benchmark
 * of it measures is the HTTP side: parsing, hooks, validation, answer.
 */
import type { FastifyInstance } from "fastify";
import type { IncrementCounterResponse } from "../../services/lib/gen/highgopress/counter/v1/counter.js";
import { createLogger } from "../../services/lib/logger.js";
import { createRegistry } from "../../services/lib/metrics.js";
import type { AdmissionOptions } from "../../services/gateway/admission.js";
import { buildGatewayApp } from "../../services/gateway/app.js";
import type { Downstream } from "../../services/gateway/downstream.js";
import type { HttpRequestSpec } from "./http-compare.js";

const answered: Downstream = {
  increment: async (op): Promise<IncrementCounterResponse> => ({
    resourceId: op.resourceId,
    counterType: op.counterType,
    currentValue: "42",
    duplicate: false,
    timestampMs: 0,
    error: undefined,
  }),
  incrementAll: (ops) => Promise.all(ops.map((op) => answered.increment(op))),
  incrementIdempotent: (op) => answered.increment(op),
  get: () => Promise.reject(new Error("not benchmarked")),
  top: () => Promise.reject(new Error("not benchmarked")),
  stats: () => Promise.reject(new Error("not benchmarked")),
  health: () => ({ counter: true, analytics: true }),
  counterReached: () => true,
  drained: async () => undefined,
  close: () => undefined,
};

export function benchGatewayApp(admission?: AdmissionOptions): FastifyInstance {
  return buildGatewayApp({
    downstream: answered,
    registry: createRegistry("gateway"),
    logger: createLogger("gateway", "error"),
    bodyLimitBytes: 64 * 1024,
    accepting: () => true,
    admission,
  });
}

/** The bench's write request (bench/README.md, write-hot), as a client with an API key sends it. */
export const INCREMENT: HttpRequestSpec = {
  method: "POST",
  path: "/api/v1/counter/increment",
  headers: { "content-type": "application/json", authorization: "Bearer bench-key-0123456789" },
  body: JSON.stringify({ resource_id: "hot", counter_type: "like", delta: 1 }),
  status: 200,
};

export const BENCH_API_KEYS = ["bench-key-0123456789", "other-key-0123456789"];
