import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { EXIT_CONFIG } from "../../services/lib/config.js";
import { repoRoot } from "../support/stack.js";

/**
 * Each service started with bad settings, including the ones read outside
 * the service's own table (LOG_LEVEL, tracing) and the cross-checks: one
 * JSON line naming every bad variable, no stack trace, exit EXIT_CONFIG, and
 * nothing started.
 */
const bad = {
  LOG_LEVEL: "loud",
  OTEL_TRACES_SAMPLER_ARG: "2",
  TRACING_EXPORTER: "zipkin",
};

const cases: Array<{ service: string; env: Record<string, string>; named: string[] }> = [
  { service: "gateway", env: { ...bad, GATEWAY_PORT: "http", SHUTDOWN_HANDOFF_MS: "20000" }, named: ["LOG_LEVEL", "OTEL_TRACES_SAMPLER_ARG", "TRACING_EXPORTER", "GATEWAY_PORT", "SHUTDOWN_HANDOFF_MS"] },
  { service: "counter", env: { ...bad, REDIS_URL: "localhost" }, named: ["LOG_LEVEL", "OTEL_TRACES_SAMPLER_ARG", "TRACING_EXPORTER", "REDIS_URL"] },
  { service: "analytics", env: { ...bad, KAFKA_BROKERS: "kafka" }, named: ["LOG_LEVEL", "OTEL_TRACES_SAMPLER_ARG", "TRACING_EXPORTER", "KAFKA_BROKERS"] },
  {
    service: "autoscaler",
    env: { LOG_LEVEL: "loud", LEASE_DURATION_SECONDS: "5", LEASE_RENEW_DEADLINE_SECONDS: "5", TICK_SECONDS: "0" },
    named: ["LOG_LEVEL", "LEASE_RENEW_DEADLINE_SECONDS", "TICK_SECONDS"],
  },
];

for (const c of cases) {
  test(`${c.service} with bad settings: one message naming ${c.named.join(", ")}, exit ${EXIT_CONFIG}`, () => {
    const r = spawnSync(process.execPath, [join(repoRoot, `dist/services/${c.service}/main.js`)], {
      encoding: "utf8",
      timeout: 30_000,
      env: { PATH: process.env.PATH, ...c.env },
    });
    assert.equal(r.status, EXIT_CONFIG, `exit ${r.status}\n${r.stderr}${r.stdout}`);
    assert.equal(r.stdout, "", "nothing started, nothing logged besides the refusal");
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    const line = JSON.parse(lines[0]!) as { level: string; service: string; problems: string[]; msg: string };
    assert.equal(line.level, "fatal");
    assert.equal(line.service, c.service);
    assert.equal(line.problems.length, c.named.length, line.problems.join("\n"));
    for (const name of c.named) assert.ok(line.problems.some((p) => p.startsWith(name)), `${name} is not named in ${line.msg}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  });
}
