import * as grpc from "@grpc/grpc-js";
import type {
  BatchCall,
  BatchGetCountersResponse,
  BatchReply,
  CounterServiceServer,
  GetCounterRequest,
  IncrementCounterRequest,
  IncrementCounterResponse,
  OperationError,
} from "../lib/gen/highgopress/counter/v1/counter.js";
import { grpcError } from "../lib/grpc-server.js";
import type { GrpcServerTelemetry, ServerMethod } from "../lib/grpc-telemetry.js";
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
  /** Measures and traces the calls carried by BatchCalls like unary calls of their method. */
  telemetry?: GrpcServerTelemetry;
}

const SERVICE = "highgopress.counter.v1.CounterService";

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
    case "unavailable":
      return { code: grpc.status.UNAVAILABLE, message: `the counter storage shard holding ${name} did not answer; an increment answered this way may or may not have been applied` };
  }
}

function toResponse(op: IncrementOp, result: OpResult, now: number, logger: Logger): IncrementCounterResponse {
  if (isRefused(result)) {
    const error = operationError(op, result);
    // A shard's failure is logged once per call (increment()), not once per operation.
    if (result.refused !== "idempotency_conflict" && result.refused !== "unavailable") logger.warn({ counter: `${op.resourceId}:${op.counterType}`, redis: result.detail }, error.message);
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

export function createCounterService({ store, maxBatch, logger, onIncrements, telemetry }: CounterServiceDeps): CounterServiceServer {
  async function increment(requests: readonly IncrementCounterRequest[], traceparent: string) {
    if (requests.length > maxBatch) {
      throw grpcError(grpc.status.INVALID_ARGUMENT, `a batch holds at most ${maxBatch} operations, got ${requests.length}`);
    }
    const ops = requests.map((r, i) => toOp(r, requests.length > 1 ? i : undefined));
    if (ops.length === 0) return [];
    const results = await store.increment(ops, traceparent);
    const unavailable = results.filter((r): r is Refused => isRefused(r) && r.refused === "unavailable");
    if (unavailable.length > 0) logger.warn({ operations: unavailable.length, of: ops.length, err: unavailable[0]!.detail }, "a counter storage shard failed its part of the batch");
    onIncrements?.(ops);
    const now = Date.now();
    return ops.map((op, i) => toResponse(op, results[i]!, now, logger));
  }

  function checkQuery(q: { resourceId: string; counterType: string }, index?: number) {
    const at = index === undefined ? "" : `queries[${index}]: `;
    if (!isValidId(q.resourceId)) throw grpcError(grpc.status.INVALID_ARGUMENT, `${at}resource_id must be 1-128 characters of A-Z a-z 0-9 _ . -`);
    if (!isValidId(q.counterType)) throw grpcError(grpc.status.INVALID_ARGUMENT, `${at}counter_type must be 1-128 characters of A-Z a-z 0-9 _ . -`);
  }

  /** Every failure is a status: INVALID_ARGUMENT for the request, or the storage failure. */
  const batchIncrement = (operations: readonly IncrementCounterRequest[], traceparent: string) =>
    increment(operations, traceparent).then(
      (results) => ({ results }),
      (err: unknown) => Promise.reject(storageFailure(err, logger, "counter storage")),
    );

  const batchGet = (queries: readonly GetCounterRequest[]): Promise<BatchGetCountersResponse> =>
    Promise.resolve()
      .then(() => {
        if (queries.length > maxBatch) throw grpcError(grpc.status.INVALID_ARGUMENT, `a batch holds at most ${maxBatch} queries`);
        queries.forEach((q, i) => checkQuery(q, i));
        return store.get(queries);
      })
      .then(
        (values) => {
          const now = Date.now();
          return {
            results: queries.map((q, i) => {
              const v = values[i]!;
              if (typeof v === "string") return { ...pick(q), currentValue: v, timestampMs: now, error: undefined };
              return { ...pick(q), currentValue: "0", timestampMs: now, error: operationError(q, v) };
            }),
          };
        },
        (err: unknown) => Promise.reject(storageFailure(err, logger, "counter storage")),
      );

  const carried = {
    increment: telemetry?.method(SERVICE, "BatchIncrementCounters"),
    get: telemetry?.method(SERVICE, "BatchGetCounters"),
  };
  const measured = <T>(method: ServerMethod | undefined, traceparent: string, run: () => Promise<T>) => (method ? method.run(traceparent, run) : run());
  /** One call of a BatchCalls stream, answered as a reply that never rejects. */
  function handleCarried(message: BatchCall): Promise<BatchReply> {
    const { callId, traceparent, call } = message;
    let handled: Promise<BatchReply>;
    switch (call?.$case) {
      case "increment": {
        const operations = call.value.operations;
        handled = measured(carried.increment, traceparent, () => batchIncrement(operations, traceparent)).then((value) => ({
          callId,
          reply: { $case: "increment", value },
        }));
        break;
      }
      case "get": {
        const queries = call.value.queries;
        handled = measured(carried.get, traceparent, () => batchGet(queries)).then((value) => ({ callId, reply: { $case: "get", value } }));
        break;
      }
      default:
        handled = Promise.reject(grpcError(grpc.status.INVALID_ARGUMENT, "a batch call carries an increment or a get"));
    }
    return handled.catch((err: unknown) => {
      const failure = storageFailure(err, logger, "counter storage");
      return { callId, reply: { $case: "error", value: { code: failure.code, message: failure.details } } };
    });
  }

  return {
    incrementCounter(call, callback) {
      increment([call.request], traceparentOf(call.metadata)).then(
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
      batchIncrement(call.request.operations, traceparentOf(call.metadata)).then((res) => callback(null, res), callback);
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
      batchGet(call.request.queries).then((res) => callback(null, res), callback);
    },
    streamIncrements(call) {
      // Requests are applied as they arrive; answers are written in request order.
      let previous: Promise<void> = Promise.resolve();
      let failed = false;
      call.on("data", (request: { operations: IncrementCounterRequest[] }) => {
        const result = increment(request.operations, traceparentOf(call.metadata));
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
    batchCalls(call) {
      // Calls are independent: each is answered when it is done, and a failed
      // call is a reply, so the stream outlives storage outages. Once the
      // caller half-closes, the stream ends after the last answer.
      let inFlight = 0;
      let ending = false;
      call.on("data", (message: BatchCall) => {
        inFlight++;
        void handleCarried(message).then((reply) => {
          inFlight--;
          if (call.writable) call.write(reply);
          if (ending && inFlight === 0) call.end();
        });
      });
      call.on("end", () => {
        ending = true;
        if (inFlight === 0) call.end();
      });
    },
  };
}

const pick = (q: Counter) => ({ resourceId: q.resourceId, counterType: q.counterType });
