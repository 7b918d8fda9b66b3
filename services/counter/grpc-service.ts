import * as grpc from "@grpc/grpc-js";
import type {
  CounterServiceServer,
  IncrementCounterRequest,
  IncrementCounterResponse,
  OperationError,
} from "../lib/gen/highgopress/counter/v1/counter.js";
import { grpcError } from "../lib/grpc-server.js";
import { storageFailure } from "../lib/storage-errors.js";
import type { Logger } from "../lib/logger.js";
import { incrementProblem, isValidId } from "../lib/validation.js";
import { isRefused, type IncrementOp, type OpResult, type Refused } from "./batch.js";
import type { CounterStore } from "./store.js";

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

type Counter = { resourceId: string; counterType: string };

/** A refusal as callers see it: a status that is never retried and a stable message, never Redis's text. */
function operationError(c: Counter, r: Refused): OperationError {
  const name = `${c.resourceId}:${c.counterType}`;
  switch (r.refused) {
    case "not_a_counter":
      return { code: grpc.status.FAILED_PRECONDITION, message: `counter ${name} holds a value that is not a 64-bit integer; nothing was changed` };
    case "overflow":
      return { code: grpc.status.FAILED_PRECONDITION, message: `the increment would take counter ${name} outside the 64-bit integer range; it was not applied` };
    case "idempotency_conflict":
      return { code: grpc.status.ALREADY_EXISTS, message: "the idempotency key was already used for a different increment; it was not applied" };
    case "unexpected":
      return { code: grpc.status.INTERNAL, message: `counter storage refused the increment of ${name}; it was not applied` };
  }
}

function toResponse(op: IncrementOp, result: OpResult, now: number, logger: Logger): IncrementCounterResponse {
  if (isRefused(result)) {
    const error = operationError(op, result);
    if (result.refused !== "idempotency_conflict") logger.warn({ counter: `${op.resourceId}:${op.counterType}`, redis: result.detail }, error.message);
    return { resourceId: op.resourceId, counterType: op.counterType, currentValue: "0", duplicate: false, timestampMs: now, error };
  }
  return {
    resourceId: op.resourceId,
    counterType: op.counterType,
    currentValue: result.currentValue,
    duplicate: result.duplicate,
    timestampMs: now,
    error: undefined,
  };
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
    return ops.map((op, i) => toResponse(op, results[i]!, now, logger));
  }

  function checkQuery(q: { resourceId: string; counterType: string }, index?: number) {
    const at = index === undefined ? "" : `queries[${index}]: `;
    if (!isValidId(q.resourceId)) throw grpcError(grpc.status.INVALID_ARGUMENT, `${at}resource_id must be 1-128 characters of A-Z a-z 0-9 _ . -`);
    if (!isValidId(q.counterType)) throw grpcError(grpc.status.INVALID_ARGUMENT, `${at}counter_type must be 1-128 characters of A-Z a-z 0-9 _ . -`);
  }

  return {
    incrementCounter(call, callback) {
      increment([call.request], call.metadata).then(
        // A single call answers a refusal with its status: the caller has nothing else to read it from.
        (results) => {
          const error = results[0]!.error;
          if (error) callback(grpcError(error.code, error.message));
          else callback(null, results[0]);
        },
        (err) => callback(storageFailure(err, logger, "counter storage")),
      );
    },
    batchIncrementCounters(call, callback) {
      increment(call.request.operations, call.metadata).then(
        (results) => callback(null, { results }),
        (err) => callback(storageFailure(err, logger, "counter storage")),
      );
    },
    getCounter(call, callback) {
      Promise.resolve()
        .then(() => {
          checkQuery(call.request);
          return store.get([call.request]);
        })
        .then(
          ([value]) => {
            if (typeof value === "object") {
              const error = operationError(call.request, value);
              callback(grpcError(error.code, error.message));
            } else callback(null, { ...pick(call.request), currentValue: value!, timestampMs: Date.now(), error: undefined });
          },
          (err) => callback(storageFailure(err, logger, "counter storage")),
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
            callback(null, {
              results: queries.map((q, i) => {
                const v = values[i]!;
                if (typeof v === "string") return { ...pick(q), currentValue: v, timestampMs: now, error: undefined };
                return { ...pick(q), currentValue: "0", timestampMs: now, error: operationError(q, v) };
              }),
            });
          },
          (err) => callback(storageFailure(err, logger, "counter storage")),
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
              call.emit("error", storageFailure(err, logger, "counter storage"));
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

const pick = (q: Counter) => ({ resourceId: q.resourceId, counterType: q.counterType });
