import { Counter, Gauge, Histogram } from "prom-client";
import { loadOrExit } from "../lib/config.js";
import { createLogger } from "../lib/logger.js";
import { createRegistry } from "../lib/metrics.js";
import { onShutdown } from "../lib/shutdown.js";
import { startTelemetry } from "../lib/telemetry.js";
import { createAdmission } from "./admission.js";
import { buildGatewayApp } from "./app.js";
import { loadGatewayConfig } from "./config.js";
import { handOffConnections } from "./handoff.js";
import { createDownstream } from "./downstream.js";

const config = loadOrExit("gateway", () => loadGatewayConfig());
const logger = createLogger("gateway", config.logLevel);
const telemetry = await startTelemetry(config.telemetry, logger);
const registry = createRegistry("gateway");
const batchSize = new Histogram({
  name: "highgopress_gateway_coalesced_batch_size",
  help: "Requests carried by one coalesced downstream call.",
  labelNames: ["kind"],
  buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
  registers: [registry],
});
// A sum, not a histogram: one addition per batch keeps it off the per-request path,
// and with the batch sizes' sum it gives the mean wait per request.
const coalesceWait = new Counter({
  name: "highgopress_gateway_coalesce_wait_seconds_total",
  help: "Time requests waited in the coalescer for a call slot, summed over requests (divide by highgopress_gateway_coalesced_batch_size_sum for the mean).",
  labelNames: ["kind"],
  registers: [registry],
});

const rejected = new Counter({
  name: "highgopress_gateway_rejected_requests_total",
  help: "API requests refused before reaching a downstream, by reason (shed, unauthorized, rate_limited).",
  labelNames: ["reason"],
  registers: [registry],
});
const circuitOpen = new Gauge({
  name: "highgopress_gateway_circuit_open",
  help: "1 while the circuit to a downstream is open or half-open (failing fast), else 0.",
  labelNames: ["downstream"],
  registers: [registry],
});
for (const name of ["counter", "analytics"]) circuitOpen.set({ downstream: name }, 0);
const rejectedBy = { shed: rejected.labels("shed"), unauthorized: rejected.labels("unauthorized"), rate_limited: rejected.labels("rate_limited") };

const downstream = createDownstream({
  counterAddr: config.counterAddr,
  analyticsAddr: config.analyticsAddr,
  maxConnectionAgeMs: config.downstreamMaxConnectionAgeMs,
  writeDeadlineMs: config.writeDeadlineMs,
  readDeadlineMs: config.readDeadlineMs,
  maxBatch: config.coalesceMaxBatch,
  maxInFlight: config.coalesceMaxInFlight,
  maxInFlightReads: config.coalesceMaxInFlightReads,
  maxQueued: config.maxQueued,
  counterCalls: config.counterCalls,
  onBatch: (kind, size, waitedMs) => {
    batchSize.observe({ kind }, size);
    coalesceWait.inc({ kind }, waitedMs / 1000);
  },
  registry,
  breakerFailures: config.breakerFailures,
  breakerHalfOpenMs: config.breakerHalfOpenMs,
  readAttempts: config.readAttempts,
  analyticsMaxInFlight: config.analyticsMaxInFlight,
  onBreakerState: (name, state) => {
    circuitOpen.set({ downstream: name }, state === "closed" ? 0 : 1);
    logger[state === "open" ? "warn" : "info"]({ downstream: name, state }, `circuit to ${name} is ${state}`);
  },
});
const admission = createAdmission(config, {
  onRejected: (reason) => rejectedBy[reason].inc(),
  onPressure: (shedding, sample) =>
    shedding
      ? logger.warn(sample, "gateway overloaded; shedding API requests with 429")
      : logger.info(sample, "gateway load back to normal; no longer shedding"),
});
let accepting = true;
const app = buildGatewayApp({
  downstream,
  registry,
  logger,
  bodyLimitBytes: config.bodyLimitBytes,
  accepting: () => accepting,
  admission,
  trustProxyHops: config.trustProxyHops,
});
await app.listen({ host: config.host, port: config.port });
logger.info({ port: config.port, counter: config.counterAddr, analytics: config.analyticsAddr }, "gateway listening");

onShutdown(logger, config.shutdownGraceMs, [
  { name: "readiness off", run: () => void (accepting = false) },
  { name: "hand keep-alive clients to other pods", run: () => handOffConnections(app.server, config.shutdownHandoffMs) },
  { name: "finish in-flight requests", run: () => app.close() },
  { name: "flush coalescing buffers", run: () => downstream.drained() },
  { name: "close gRPC channels", run: () => downstream.close() },
  { name: "flush traces", run: () => telemetry.shutdown() },
  { name: "stop admission timers", run: () => admission.stop() },
]);
