import * as grpc from "@grpc/grpc-js";
import type {
  CounterServiceServer,
  IncrementCounterRequest,
  IncrementCounterResponse,
} from "../lib/gen/highgopress/counter/v1/counter.js";
import { grpcError } from "../lib/grpc-server.js";
import type { Logger } from "../lib/logger.js";
import { incrementProblem, isValidId } from "../lib/validation.js";
import type { IncrementOp, OpResult } from "./batch.js";
import { IdempotencyConflictError, type CounterStore } from "./store.js";

export interface CounterServiceDeps {
  store: CounterStore;
  maxBatch: number;
  logger: Logger;
  onIncrements?: (ops: readonly IncrementOp[]) => void;
}

function toOp(req: IncrementCounterRequest, index?: number): IncrementOp {
  const problem = incrementProblem(req);
  if (problem) throw grpcError(grpc.status.INVALID_ARGUMENT, index === undefined ? problem : `operations[${index}]: ${problem}`);
  if (req.requestId.length > 256) throw grpcError(grpc.status.INVALID_ARGUMENT, "request_id must be at most 256 characters");
  return { resourceId: req.resourceId, counterType: req.counterType, delta: req.delta, requestId: req.requestId || undefined };
}

function toResponse(op: IncrementOp, result: OpResult, now: number): IncrementCounterResponse {
  return {
    resourceId: op.resourceId,
    counterType: op.counterType,
    currentValue: result.currentValue,
    duplicate: result.duplicate,
    timestampMs: now,
  };
}

/** Storage failures become UNAVAILABLE so callers know a retry may work. */
function toServiceError(err: unknown, logger: Logger): grpc.ServiceError {
  if ((err as grpc.ServiceError).code !== undefined && (err as grpc.ServiceError).metadata) return err as grpc.ServiceError;
  if (err instanceof IdempotencyConflictError) return grpcError(grpc.status.ALREADY_EXISTS, err.message);
  logger.warn({ err: (err as Error).message }, "redis call failed");
  return grpcError(grpc.status.UNAVAILABLE, `counter storage unavailable: ${(err as Error).message}`);
}

const traceparentOf = (metadata: grpc.Metadata) => String(metadata.get("traceparent")[0] ?? "");

export function createCounterService({ store, maxBatch, logger, onIncrements }: CounterServiceDeps): CounterServiceServer {
  async function increment(requests: readonly IncrementCounterRequest[], metadata: grpc.Metadata) {
    if (requests.length > maxBatch) {
      throw grpcError(grpc.status.INVALID_ARGUMENT, `a batch holds at most ${maxBatch} operations, got ${requests.length}`);
    }
    const ops = requests.map((r, i) => toOp(r, requests.length > 1 ? i : undefined));
    if (ops.length === 0) return [];
    const results = await store.increment(ops, traceparentOf(metadata));
    onIncrements?.(ops);
    const now = Date.now();
    return ops.map((op, i) => toResponse(op, results[i]!, now));
  }

  function checkQuery(q: { resourceId: string; counterType: string }, index?: number) {
    const at = index === undefined ? "" : `queries[${index}]: `;
    if (!isValidId(q.resourceId)) throw grpcError(grpc.status.INVALID_ARGUMENT, `${at}resource_id must be 1-128 characters of A-Z a-z 0-9 _ . -`);
    if (!isValidId(q.counterType)) throw grpcError(grpc.status.INVALID_ARGUMENT, `${at}counter_type must be 1-128 characters of A-Z a-z 0-9 _ . -`);
  }

  return {
    incrementCounter(call, callback) {
      increment([call.request], call.metadata).then(
        (results) => callback(null, results[0]),
        (err) => callback(toServiceError(err, logger)),
      );
    },
    batchIncrementCounters(call, callback) {
      increment(call.request.operations, call.metadata).then(
        (results) => callback(null, { results }),
        (err) => callback(toServiceError(err, logger)),
      );
    },
    getCounter(call, callback) {
      Promise.resolve()
        .then(() => {
          checkQuery(call.request);
          return store.get([call.request]);
        })
        .then(
          ([value]) => callback(null, { ...pick(call.request), currentValue: value ?? 0, timestampMs: Date.now() }),
          (err) => callback(toServiceError(err, logger)),
        );
    },
    batchGetCounters(call, callback) {
      const queries = call.request.queries;
      Promise.resolve()
        .then(() => {
          if (queries.length > maxBatch) throw grpcError(grpc.status.INVALID_ARGUMENT, `a batch holds at most ${maxBatch} queries`);
          queries.forEach((q, i) => checkQuery(q, i));
          return store.get(queries);
        })
        .then(
          (values) => {
            const now = Date.now();
            callback(null, { results: queries.map((q, i) => ({ ...pick(q), currentValue: values[i] ?? 0, timestampMs: now })) });
          },
          (err) => callback(toServiceError(err, logger)),
        );
    },
    streamIncrements(call) {
      // Requests are applied as they arrive; answers are written in request order.
      let previous: Promise<void> = Promise.resolve();
      let failed = false;
      call.on("data", (request: { operations: IncrementCounterRequest[] }) => {
        const result = increment(request.operations, call.metadata);
        previous = previous.then(() =>
          result.then(
            (results) => {
              if (!failed) call.write({ results });
            },
            (err) => {
              if (failed) return;
              failed = true;
              call.emit("error", toServiceError(err, logger));
            },
          ),
        );
      });
      call.on("end", () => {
        previous.then(() => {
          if (!failed) call.end();
        });
      });
    },
  };
}

const pick = (q: { resourceId: string; counterType: string }) => ({ resourceId: q.resourceId, counterType: q.counterType });
