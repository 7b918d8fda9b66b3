import * as grpc from "@grpc/grpc-js";
import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "../lib/logger.js";
import { OverloadedError } from "./coalescer.js";
import { isBulkheadFull, isCircuitOpen } from "./resilience.js";

/** An answer that is not a success, with the HTTP status it travels with. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

const grpcToHttp: Partial<Record<grpc.status, number>> = {
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.OUT_OF_RANGE]: 400,
  [grpc.status.NOT_FOUND]: 404,
  [grpc.status.ALREADY_EXISTS]: 409,
  [grpc.status.FAILED_PRECONDITION]: 409,
  [grpc.status.RESOURCE_EXHAUSTED]: 429,
  [grpc.status.UNAVAILABLE]: 503,
  [grpc.status.CANCELLED]: 503,
  [grpc.status.DEADLINE_EXCEEDED]: 504,
};

/** What a downstream failure means to the HTTP caller. */
export function fromDownstream(err: unknown, downstream: string): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof OverloadedError) return new HttpError(429, err.message);
  if (isBulkheadFull(err)) return new HttpError(429, `too many ${downstream} requests in flight; try again shortly`);
  if (isCircuitOpen(err)) return new HttpError(503, `${downstream} service unavailable (circuit open after repeated failures); try again shortly`);
  const code = (err as grpc.ServiceError).code;
  const status = code === undefined ? 502 : (grpcToHttp[code] ?? 502);
  const details = (err as grpc.ServiceError).details ?? (err as Error).message;
  if (status === 503) return new HttpError(503, `${downstream} service unavailable`, details);
  if (status === 504) return new HttpError(504, `${downstream} service did not answer in time`, details);
  if (status === 502) return new HttpError(502, `${downstream} service failed`, details);
  return new HttpError(status, details);
}

function validationMessage(error: FastifyError): { message: string; details: unknown } {
  const issues = (error.validation ?? []).map((v) => {
    const field = [error.validationContext, ...v.instancePath.split("/").filter(Boolean)].join(".");
    const missing = (v.params as { missingProperty?: string }).missingProperty;
    if (missing) return `${field}.${missing} is required`;
    if (v.keyword === "pattern" && /(resource_id|counter_type)$/.test(field)) {
      return `${field} must be 1-128 characters of A-Z a-z 0-9 _ . -`;
    }
    return `${field} ${v.message ?? "is invalid"}`;
  });
  return { message: issues[0] ?? error.message, details: issues };
}

const send = (reply: FastifyReply, status: number, error: string, details?: unknown) =>
  reply.code(status).send(details === undefined ? { status: "error", error } : { status: "error", error, details });

/**
 * Every failure leaves as `{status:"error", error, details}`: bad input is a
 * 4xx naming the field, a downstream problem 503/504, never a stack trace.
 */
export const errorHandler = (logger: Logger) => (error: FastifyError | HttpError, request: FastifyRequest, reply: FastifyReply) => {
  if (error instanceof HttpError) {
    if (error.statusCode === 429 || error.statusCode === 503) reply.header("retry-after", "1");
    return send(reply, error.statusCode, error.message, error.details);
  }
  if (error.validation) {
    const { message, details } = validationMessage(error);
    return send(reply, 400, message, details);
  }
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return send(reply, 413, "request body is too large");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return send(reply, 415, "content-type must be application/json");
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return send(reply, 400, "request body is empty; a JSON object is required");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return send(reply, 400, "request body is not valid JSON");
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return send(reply, status, status === 400 && error instanceof SyntaxError ? "request body is not valid JSON" : error.message);
  }
  logger.error({ err: error, method: request.method, url: request.url }, "unhandled error");
  return send(reply, 500, "internal error");
};
