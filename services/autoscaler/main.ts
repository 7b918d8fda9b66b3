import { KubeConfig } from "@kubernetes/client-node";
import { collectDefaultMetrics, Registry } from "prom-client";
import { loadOrExit } from "../lib/config.js";
import { createLogger } from "../lib/logger.js";
import { startOpsServer } from "../lib/ops-server.js";
import { onShutdown } from "../lib/shutdown.js";
import { loadConfig } from "./config.js";
import { startController } from "./controller.js";

const config = loadOrExit("autoscaler", () => loadConfig());
const logger = createLogger("autoscaler", config.logLevel);
const kubeConfig = new KubeConfig();
kubeConfig.loadFromDefault();
const registry = new Registry();
collectDefaultMetrics({ register: registry });

const controller = await startController({ kubeConfig, config, logger, registry });
const server = await startOpsServer({ host: config.host, port: config.metricsPort, registry, ready: controller.ready });
logger.info(
  { metricsPort: config.metricsPort, watchNamespace: config.watchNamespace || "(all)", lease: `${config.leaseNamespace}/${config.leaseName}`, identity: config.identity },
  "autoscaler started",
);

onShutdown(logger, config.shutdownGraceMs, [
  { name: "stop controller and release lease", run: () => controller.stop() },
  { name: "close ops server", run: () => new Promise<void>((resolve) => server.close(() => resolve())) },
]);
