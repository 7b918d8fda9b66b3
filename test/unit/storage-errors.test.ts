import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { ReplyError } from "ioredis";
import pino from "pino";
import { isDownstreamFailure, isRetryable } from "../../services/gateway/resilience.js";
import { storageFailure } from "../../services/lib/storage-errors.js";

const logger = pino({ level: "silent" });

test("a storage error Redis answers for the call itself is INTERNAL: never retried, never counted by a breaker, no Redis text", () => {
  const err = storageFailure(new ReplyError("ERR Error running script (call to f_1): @user_script:1: bad"), logger, "counter storage");
  assert.equal(err.code, grpc.status.INTERNAL);
  assert.equal(err.details, "counter storage failed the call");
  assert.equal(isRetryable(err), false);
  assert.equal(isDownstreamFailure(err), false);
});

test("an outage, including Redis saying it cannot serve now, is UNAVAILABLE: retried and counted", () => {
  for (const cause of [new Error("Connection is closed."), new ReplyError("LOADING Redis is loading the dataset in memory"), new ReplyError("READONLY You can't write against a read only replica.")]) {
    const err = storageFailure(cause, logger, "counter storage");
    assert.equal(err.code, grpc.status.UNAVAILABLE, cause.message);
    assert.equal(err.details, "counter storage unavailable");
    assert.equal(isRetryable(err), true);
    assert.equal(isDownstreamFailure(err), true);
  }
});

test("a refusal of one operation is not an outage", () => {
  const refusal = Object.assign(new Error("refused"), { code: grpc.status.FAILED_PRECONDITION, details: "refused", metadata: new grpc.Metadata() });
  assert.equal(isDownstreamFailure(refusal), false);
  assert.equal(isRetryable(refusal), false);
});
