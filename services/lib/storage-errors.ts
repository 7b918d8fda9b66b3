import * as grpc from "@grpc/grpc-js";
import { ReplyError } from "ioredis";
import { grpcError } from "./grpc-server.js";
import type { Logger } from "./logger.js";

// Replies that mean Redis cannot serve right now (loading, failing over, a busy script, out of memory), not that the call is wrong.
// MOVED/ASK reach us only when a cluster's topology is changing (a pipeline sent to a node that no longer serves its slot): nothing ran.
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN|OOM|NOREPLICAS|MOVED|ASK)\b/;

/**
 * A failed storage call as callers see it. Only an outage is UNAVAILABLE
 * (retried, counted by circuit breakers); any other error is INTERNAL. Neither
 * carries Redis's text: that goes to the log, with the trace id.
 */
export function storageFailure(err: unknown, logger: Logger, storage: string): grpc.ServiceError {
  if ((err as grpc.ServiceError).code !== undefined && (err as grpc.ServiceError).metadata) return err as grpc.ServiceError;
  const message = (err as Error).message;
  if (err instanceof ReplyError && !TRANSIENT_REPLY.test(message)) {
    logger.error({ err: message }, `${storage} refused a call`);
    return grpcError(grpc.status.INTERNAL, `${storage} failed the call`);
  }
  logger.warn({ err: message }, `${storage} call failed`);
  return grpcError(grpc.status.UNAVAILABLE, `${storage} unavailable`);
}
