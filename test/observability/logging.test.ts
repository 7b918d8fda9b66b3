/**
 * Log lines carry the active span's trace_id and span_id: a child process
 * starts the real telemetry (OTLP exporter to an address nobody listens on;
 * export failures do not matter here) with either context manager and logs
 * through createLogger inside and outside a span.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, test } from "node:test";
import { freePort, repoRoot } from "../support/stack.js";

async function run(contextManager: "async" | "sync") {
  const lib = (name: string) => pathToFileURL(join(repoRoot, "dist/services/lib", name)).href;
  const script = `
    import { createLogger } from ${JSON.stringify(lib("logger.js"))};
    import { EnvReader } from ${JSON.stringify(lib("config.js"))};
    import { readTelemetrySettings, startTelemetry, getTracer, context, trace, entryContext } from ${JSON.stringify(lib("telemetry.js"))};
    const logger = createLogger("logtest");
    const telemetry = await startTelemetry(readTelemetrySettings(new EnvReader(process.env), "logtest"), logger);
    logger.info("outside");
    const span = getTracer().startSpan("work", {}, entryContext(undefined));
    await context.with(trace.setSpan(context.active(), span), async () => {
      logger.info("inside, synchronously");
      await new Promise((r) => setTimeout(r, 5));
      logger.warn({ detail: 1 }, "inside, after an await");
    });
    const sc = span.spanContext();
    span.end();
    logger.info({ expected: sc }, "expected ids");
    await telemetry.shutdown().catch(() => {});
  `;
  const port = await freePort();
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 30_000,
    env: {
      ...process.env,
      TRACING_EXPORTER: "otlp",
      TRACING_CONTEXT: contextManager,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      // Nobody listens there: the exports give up within a second instead of retrying through shutdown.
      OTEL_EXPORTER_OTLP_TIMEOUT: "1000",
      OTEL_TRACES_SAMPLER_ARG: "1",
      LOG_LEVEL: "info",
    },
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const byMsg = (msg: string) => lines.find((l) => l.msg === msg)!;
  const expected = byMsg("expected ids").expected as { traceId: string; spanId: string };
  assert.match(expected.traceId, /^[0-9a-f]{32}$/);
  assert.equal(byMsg("tracing on").context, contextManager);
  return { byMsg, expected };
}

describe("logs", () => {
  test("with the async context manager, every line logged in a traced context carries trace_id and span_id; others carry none", async () => {
    const { byMsg, expected } = await run("async");
    for (const msg of ["inside, synchronously", "inside, after an await"]) {
      assert.equal(byMsg(msg).trace_id, expected.traceId, msg);
      assert.equal(byMsg(msg).span_id, expected.spanId, msg);
    }
    assert.equal(byMsg("outside").trace_id, undefined);
  });

  test("with the sync context manager (the gateway's), lines logged while the span is entered carry the ids", async () => {
    const { byMsg, expected } = await run("sync");
    assert.equal(byMsg("inside, synchronously").trace_id, expected.traceId);
    assert.equal(byMsg("inside, synchronously").span_id, expected.spanId);
    assert.equal(byMsg("outside").trace_id, undefined);
  });
});
