import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiException } from "@kubernetes/client-node";
import { errorCode, errorMessage } from "../../services/autoscaler/kube-api.js";

test("an apiserver error gives its HTTP code and the apiserver's message", () => {
  const body = JSON.stringify({ kind: "Status", code: 409, message: "the object has been modified" });
  const err = new ApiException(409, "Conflict", body, {});
  assert.equal(errorCode(err), 409);
  assert.equal(errorMessage(err), "HTTP 409: the object has been modified");
  assert.equal(errorMessage(new ApiException(500, "Internal", "not json", {})), "HTTP 500");
});

test("a transport failure (undici's 'fetch failed') names its cause", () => {
  const refused = Object.assign(new Error("connect ECONNREFUSED 10.96.0.1:443"), { code: "ECONNREFUSED" });
  const err = new TypeError("fetch failed", { cause: refused });
  assert.equal(errorCode(err), undefined);
  assert.equal(errorMessage(err), "fetch failed: connect ECONNREFUSED 10.96.0.1:443");
  const nested = new Error("outer", { cause: new Error("middle", { cause: new Error("inner") }) });
  assert.equal(errorMessage(nested), "outer: middle: inner");
  assert.equal(errorMessage("plain"), "plain");
});
