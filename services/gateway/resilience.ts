import * as grpc from "@grpc/grpc-js";
import {
  BrokenCircuitError,
  bulkhead,
  BulkheadRejectedError,
  circuitBreaker,
  CircuitState,
  ConsecutiveBreaker,
  handleWhen,
  IsolatedCircuitError,
  type BulkheadPolicy,
  type CircuitBreakerPolicy,
} from "cockatiel";

/**
 * The gateway's protection around each downstream (counter, analytics): a
 * circuit breaker (cockatiel) that opens after consecutive transport
 * failures so a dead downstream answers fast 503s instead of a wait per
 * request, and a bound on in-flight calls for the paths that are not
 * coalesced. Retries live in lib/retry.ts and run outside the breaker: an
 * open circuit is never retried.
 */

/**
 * Codes that say the downstream (or its storage) is not working right now:
 * timeouts and lost connections. A refusal of one operation, or an internal
 * error, says nothing about the next call and never opens the circuit.
 */
const TRANSIENT = new Set<number>([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED]);

/** Failures that count against a downstream's health (not bad input, not conflicts). */
export function isDownstreamFailure(err: unknown): boolean {
  const code = (err as grpc.ServiceError | undefined)?.code;
  return typeof code === "number" && TRANSIENT.has(code);
}

/** Failures worth another attempt: the call never reached a working server. */
export function isRetryable(err: unknown): boolean {
  return (err as grpc.ServiceError | undefined)?.code === grpc.status.UNAVAILABLE;
}

/** The circuit is open: the downstream is failing and was not called. */
export function isCircuitOpen(err: unknown): boolean {
  return err instanceof BrokenCircuitError || err instanceof IsolatedCircuitError;
}

export function isBulkheadFull(err: unknown): boolean {
  return err instanceof BulkheadRejectedError;
}

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  consecutiveFailures: number;
  /** Time the circuit stays open before one trial call is let through. */
  halfOpenAfterMs: number;
  onStateChange?: (state: "closed" | "open" | "half-open") => void;
}

const stateName: Record<CircuitState, "closed" | "open" | "half-open"> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half-open",
  [CircuitState.Isolated]: "open",
};

export interface Breaker {
  execute<T>(fn: () => Promise<T>): Promise<T>;
  state(): "closed" | "open" | "half-open";
}

export function createBreaker(options: BreakerOptions): Breaker {
  const policy: CircuitBreakerPolicy = circuitBreaker(handleWhen(isDownstreamFailure), {
    halfOpenAfter: options.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(options.consecutiveFailures),
  });
  if (options.onStateChange) {
    const notify = options.onStateChange;
    policy.onStateChange((s) => notify(stateName[s]));
  }
  return {
    execute: (fn) => policy.execute(fn),
    state: () => stateName[policy.state],
  };
}

/** At most `limit` calls at once; more are refused at once (BulkheadRejectedError). */
export function createBulkhead(limit: number): { execute<T>(fn: () => Promise<T>): Promise<T> } {
  const policy: BulkheadPolicy = bulkhead(limit, 0);
  return { execute: (fn) => policy.execute(fn) };
}
