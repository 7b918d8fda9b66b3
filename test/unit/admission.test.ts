import assert from "node:assert/strict";
import { test } from "node:test";
import Fastify from "fastify";
import { admitRoutes, createAdmission } from "../../services/gateway/admission.js";
import { createApiKeyVerifier, presentedApiKey } from "../../services/gateway/auth.js";
import { SAMPLE_MS } from "../../services/gateway/load-shed.js";

test("API keys: only configured keys verify, each with its label", () => {
  const v = createApiKeyVerifier(["first-key-123456", "second-key-abcdef"]);
  assert.equal(v.verify("first-key-123456"), "key1");
  assert.equal(v.verify("second-key-abcdef"), "key2");
  assert.equal(v.verify("first-key-12345"), undefined, "a prefix is not a key");
  assert.equal(v.verify("first-key-1234567"), undefined, "an extension is not a key");
  assert.equal(v.verify(""), undefined);
});

test("API keys are read from Authorization: Bearer or X-API-Key", () => {
  assert.equal(presentedApiKey({ authorization: "Bearer abc" }), "abc");
  assert.equal(presentedApiKey({ authorization: "bearer  abc " }), "abc");
  assert.equal(presentedApiKey({ authorization: "Basic abc" }), undefined);
  assert.equal(presentedApiKey({ authorization: "Bearer " }), undefined);
  assert.equal(presentedApiKey({ "x-api-key": "xyz" }), "xyz");
  assert.equal(presentedApiKey({}), undefined);
});

const settings = {
  apiKeys: [] as string[],
  rateLimitPerSecond: 0,
  rateLimitBurst: 0,
  rateLimitMaxClients: 1000,
  shedEventLoopDelayMs: 0,
  shedMaxHeapBytes: 0,
  shedMaxRssBytes: 0,
};

async function appWith(overrides: Partial<typeof settings>, events: Parameters<typeof createAdmission>[1] = {}) {
  const admission = createAdmission({ ...settings, ...overrides }, events);
  const app = Fastify();
  admitRoutes(app, admission);
  app.post("/api/v1/counter/increment", async () => ({ ok: true }));
  app.get("/api/v1/counter/:r/:t", async () => ({ ok: true }));
  app.get("/api/v1/health", async () => ({ ok: true }));
  app.get("/healthz", async () => ({ ok: true }));
  await app.ready();
  return { app, admission };
}

test("with API_KEYS set, writes need a valid key; reads and health do not", async () => {
  const { app, admission } = await appWith({ apiKeys: ["secret-key-0001", "secret-key-0002"] });
  try {
    const post = (headers: Record<string, string>) => app.inject({ method: "POST", url: "/api/v1/counter/increment", payload: {}, headers });
    const none = await post({});
    assert.equal(none.statusCode, 401);
    assert.match(none.json().error, /API key is required/);
    assert.match(String(none.headers["www-authenticate"]), /Bearer/);
    assert.equal((await post({ authorization: "Bearer wrong-key-0001" })).statusCode, 401);
    assert.equal((await post({ authorization: "Bearer secret-key-0001" })).statusCode, 200);
    assert.equal((await post({ "x-api-key": "secret-key-0002" })).statusCode, 200);
    assert.equal((await app.inject({ method: "GET", url: "/api/v1/counter/a/like" })).statusCode, 200);
    assert.equal((await app.inject({ method: "GET", url: "/healthz" })).statusCode, 200);
  } finally {
    admission.stop();
    await app.close();
  }
});

test("the rate limit applies per client (API key, else address), with Retry-After", async () => {
  const { app, admission } = await appWith({ apiKeys: ["secret-key-0001"], rateLimitPerSecond: 1, rateLimitBurst: 3 });
  try {
    const get = (headers: Record<string, string> = {}, remoteAddress = "10.0.0.1") =>
      app.inject({ method: "GET", url: "/api/v1/counter/a/like", headers, remoteAddress });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await get()).statusCode);
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    const limited = await get();
    assert.equal(limited.headers["retry-after"], "1");
    assert.match(limited.json().error, /rate limit exceeded/);
    assert.equal((await get({}, "10.0.0.2")).statusCode, 200, "another address has its own bucket");
    assert.equal((await get({ "x-api-key": "secret-key-0001" })).statusCode, 200, "a valid key is its own client");
    assert.equal((await get({ "x-api-key": "made-up-key-1" })).statusCode, 429, "an invalid key does not escape the address's bucket");
    assert.equal((await app.inject({ method: "GET", url: "/api/v1/health", remoteAddress: "10.0.0.1" })).statusCode, 200, "health is never limited");
  } finally {
    admission.stop();
    await app.close();
  }
});

const afterSample = () => new Promise((resolve) => setTimeout(resolve, SAMPLE_MS + 100));

test("while under pressure, API routes are shed with 429 and Retry-After; health still answers", async () => {
  const rejected: string[] = [];
  const pressure: boolean[] = [];
  // Every heap is over one byte: under pressure from the first sample on.
  const { app, admission } = await appWith(
    { shedMaxHeapBytes: 1 },
    { onRejected: (reason) => rejected.push(reason), onPressure: (shedding, sample) => (pressure.push(shedding), assert.ok(sample.heapUsedBytes > 1)) },
  );
  try {
    await afterSample();
    const shed = await app.inject({ method: "POST", url: "/api/v1/counter/increment", payload: {} });
    assert.equal(shed.statusCode, 429);
    assert.equal(shed.headers["retry-after"], "1");
    assert.match(shed.json().error, /overloaded/);
    assert.equal((await app.inject({ method: "GET", url: "/api/v1/counter/a/like" })).statusCode, 429);
    assert.equal((await app.inject({ method: "GET", url: "/healthz" })).statusCode, 200);
    assert.equal((await app.inject({ method: "GET", url: "/api/v1/health" })).statusCode, 200);
    assert.deepEqual(rejected, ["shed", "shed"]);
    assert.deepEqual(pressure, [true], "the change is reported once");
  } finally {
    admission.stop();
    await app.close();
  }
});

test("within the limits nothing is shed", async () => {
  const { app, admission } = await appWith({ shedEventLoopDelayMs: 1_000, shedMaxHeapBytes: 64 * 2 ** 30 });
  try {
    await afterSample();
    assert.equal((await app.inject({ method: "POST", url: "/api/v1/counter/increment", payload: {} })).statusCode, 200);
  } finally {
    admission.stop();
    await app.close();
  }
});

test("with every check off, routes get no hook at all", async () => {
  const { app, admission } = await appWith({});
  try {
    assert.equal(admission.shed, undefined);
    assert.equal(admission.rateLimiter, undefined);
    assert.equal(admission.apiKeys, undefined);
    assert.equal((await app.inject({ method: "POST", url: "/api/v1/counter/increment", payload: {} })).statusCode, 200);
  } finally {
    await app.close();
  }
});
