import { Histogram } from "prom-client";
import { createLogger } from "../lib/logger.js";
import { createRegistry } from "../lib/metrics.js";
import { onShutdown } from "../lib/shutdown.js";
import { buildGatewayApp } from "./app.js";
import { loadGatewayConfig } from "./config.js";
import { createDownstream } from "./downstream.js";

const logger = createLogger("gateway");
const config = loadGatewayConfig();
const registry = createRegistry("gateway");
const batchSize = new Histogram({
  name: "highgopress_gateway_coalesced_batch_size",
  help: "Requests carried by one coalesced downstream call.",
  labelNames: ["kind"],
  buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
  registers: [registry],
});

const downstream = createDownstream({
  counterAddr: config.counterAddr,
  analyticsAddr: config.analyticsAddr,
  writeDeadlineMs: config.writeDeadlineMs,
  readDeadlineMs: config.readDeadlineMs,
  maxBatch: config.coalesceMaxBatch,
  maxInFlight: config.coalesceMaxInFlight,
  maxQueued: config.maxQueued,
  onBatch: (kind, size) => batchSize.observe({ kind }, size),
});
let accepting = true;
const app = buildGatewayApp({ downstream, registry, logger, bodyLimitBytes: config.bodyLimitBytes, accepting: () => accepting });
await app.listen({ host: config.host, port: config.port });
logger.info({ port: config.port, counter: config.counterAddr, analytics: config.analyticsAddr }, "gateway listening");

onShutdown(logger, config.shutdownGraceMs, [
  { name: "readiness off", run: () => void (accepting = false) },
  { name: "finish in-flight requests", run: () => app.close() },
  { name: "flush coalescing buffers", run: () => downstream.drained() },
  { name: "close gRPC channels", run: () => downstream.close() },
]);
