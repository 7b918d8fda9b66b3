import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { eventually, freePort, freePorts, http, repoRoot, startStack, type Stack } from "../support/stack.js";

/**
 * Security settings on the real stack: Redis with a password (requirepass,
 * as the chart's Secret sets it), API keys required on writes
 * and the per-client rate limit. (The dependency audit is `npm run audit`:
 * it needs the registry's audit endpoint, which this network refuses.)
 */
const API_KEY = "security-test-key-0123456789";
const REDIS_PASSWORD = "s3cret-redis-password-for-tests";

function redisScript(command: "start" | "stop", env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [join(repoRoot, "scripts/redis.sh"), command], { env: { ...process.env, ...env }, stdio: ["ignore", "inherit", "inherit"] });
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`scripts/redis.sh ${command} exited with ${code}`))));
  });
}

describe("Redis with a password", () => {
  let runDir: string;
  let redisEnv: Record<string, string>;
  let stack: Stack | undefined;
  before(async () => {
    runDir = mkdtempSync(join(tmpdir(), "hgp-redis-auth-"));
    redisEnv = { HIGHGOPRESS_RUN: runDir, REDIS_PORT: String(await freePort()), REDIS_PASSWORD };
    await redisScript("start", redisEnv);
  });
  after(async () => {
    await stack?.stop();
    await redisScript("stop", redisEnv).catch(() => undefined);
    rmSync(runDir, { recursive: true, force: true });
  });

  test("the services work with REDIS_PASSWORD, and Redis refuses clients without it", { timeout: 120_000 }, async () => {
    const url = `redis://127.0.0.1:${redisEnv.REDIS_PORT}`;
    const anonymous = await new Promise<string>((resolve) => {
      const socket = connect(Number(redisEnv.REDIS_PORT), "127.0.0.1", () => socket.write("GET counter:secured:like\r\n"));
      socket.once("data", (d) => {
        socket.destroy();
        resolve(String(d));
      });
      socket.once("error", (err) => resolve(err.message));
    });
    assert.match(anonymous, /^-NOAUTH/, "a client without the password is refused");

    stack = await startStack({ env: { REDIS_URL: url, REDIS_PASSWORD, API_KEYS: API_KEY } });
    const r = await http("POST", `${stack.gatewayUrl}/api/v1/counter/increment`, { resource_id: "secured", counter_type: "like", delta: 2 }, { authorization: `Bearer ${API_KEY}` });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const authed = new Redis(url, { password: REDIS_PASSWORD });
    try {
      assert.equal(await authed.get("counter:secured:like"), "2");
    } finally {
      authed.disconnect();
    }
  });

  test("a counter with the wrong password says so and never becomes ready", { timeout: 60_000 }, async () => {
    const logDir = mkdtempSync(join(tmpdir(), "hgp-wrongpass-"));
    const [metricsPort, grpcPort] = (await freePorts(2)) as [number, number];
    const log: string[] = [];
    const child = spawn(process.execPath, [join(repoRoot, "dist/services/counter/main.js")], {
      env: {
        ...process.env,
        HOST: "127.0.0.1",
        REDIS_URL: `redis://127.0.0.1:${redisEnv.REDIS_PORT}`,
        REDIS_PASSWORD: "not-the-password",
        COUNTER_GRPC_PORT: String(grpcPort),
        METRICS_PORT: String(metricsPort),
        KAFKA_TOPIC: "counter-events-wrongpass",
        OUTBOX_STREAM: "outbox:wrongpass",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (d) => log.push(String(d)));
    child.stderr!.on("data", (d) => log.push(String(d)));
    try {
      await eventually("the counter to log the refused password", async () => (/WRONGPASS|invalid username-password/i.test(log.join("")) ? true : undefined), 30_000);
      const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`).then((r) => r.status).catch(() => 0);
      assert.notEqual(ready, 200, "not ready without Redis");
    } finally {
      child.kill("SIGKILL");
      rmSync(logDir, { recursive: true, force: true });
    }
  });
});

describe("API keys and rate limiting on the real stack", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ env: { API_KEYS: `${API_KEY},second-key-0123456789`, RATE_LIMIT_PER_SECOND: "5", RATE_LIMIT_BURST: "5" } });
  });
  after(() => stack?.stop());

  test("writes need a key from API_KEYS; reads do not", async () => {
    const body = { resource_id: `k-${stack.runId}`, counter_type: "like" };
    const url = `${stack.gatewayUrl}/api/v1/counter/increment`;
    const none = await http("POST", url, body);
    assert.equal(none.status, 401);
    assert.match(none.body.error, /API key is required/);
    assert.equal((await http("POST", url, body, { authorization: "Bearer wrong-key-0123456789" })).status, 401);
    assert.equal((await http("POST", url, body, { "x-api-key": "second-key-0123456789" })).status, 200);
    assert.equal((await http("POST", `${stack.gatewayUrl}/api/v1/counter/batch-increment`, { operations: [body] })).status, 401);
    assert.equal((await http("GET", `${stack.gatewayUrl}/api/v1/counter/k-${stack.runId}/like`)).status, 200);
  });

  test("past the per-client rate, 429 with Retry-After; another key has its own budget", async () => {
    await new Promise((r) => setTimeout(r, 1_200)); // a full bucket for the address
    const get = (headers: Record<string, string> = {}) => http("GET", `${stack.gatewayUrl}/api/v1/counter/rl-${stack.runId}/like`, undefined, headers);
    const statuses = [];
    for (let i = 0; i < 8; i++) statuses.push((await get()).status);
    assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200]);
    assert.ok(statuses.slice(5).every((s) => s === 429), `statuses ${statuses}`);
    const limited = await get();
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get("retry-after")) >= 1);
    assert.equal((await get({ "x-api-key": API_KEY })).status, 200, "a key is a client of its own");
    assert.equal((await http("GET", `${stack.gatewayUrl}/healthz`)).status, 200, "probes are never limited");
    const metrics = await (await fetch(`${stack.gatewayUrl}/metrics`)).text();
    assert.match(metrics, /highgopress_gateway_rejected_requests_total\{[^}]*reason="rate_limited"[^}]*\} [1-9]/);
  });
});
