import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import type { Registry } from "prom-client";
import { renderMetrics } from "../lib/exposition.js";
import { instrumentHttp } from "../lib/http-telemetry.js";
import type { Logger } from "../lib/logger.js";
import { admitRoutes, type AdmissionOptions } from "./admission.js";
import type { Downstream } from "./downstream.js";
import { errorHandler } from "./errors.js";
import { registerRoutes } from "./routes.js";

export interface GatewayAppOptions {
  downstream: Downstream;
  registry: Registry;
  logger: Logger;
  bodyLimitBytes: number;
  /** False while shutting down, so the load balancer stops sending. */
  accepting: () => boolean;
  /** Load shedding, API keys and rate limiting on the API routes (all optional). */
  admission?: AdmissionOptions;
  /** Proxies in front whose X-Forwarded-For is trusted for the client address (0: none). */
  trustProxyHops?: number;
}

/** The HTTP API (README.md, "HTTP API") plus health, readiness and metrics. */
export function buildGatewayApp(options: GatewayAppOptions): FastifyInstance {
  const app = Fastify({
    // Per-request logging costs throughput; failures are logged by the error handler.
    logger: false,
    bodyLimit: options.bodyLimitBytes,
    keepAliveTimeout: 65_000,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: true } },
    return503OnClosing: true,
    trustProxy: options.trustProxyHops ? (_address: string, hop: number) => hop < options.trustProxyHops! : false,
    // Ids are up to 128 characters (README.md, input rules); longer ones get the schema's 400, absurd ones a 414.
    routerOptions: { maxParamLength: 256 },
    // A client that trickles its request (slowloris) is cut off instead of holding a connection.
    requestTimeout: 30_000,
    // Malformed URLs answer in the API's error shape, without echoing the URL.
    frameworkErrors: (error, _request, reply) => {
      const r = reply as unknown as FastifyReply;
      if (error.code === "FST_ERR_MAX_PARAM_LENGTH") return r.code(414).send({ status: "error", error: "a path segment is longer than 256 characters" });
      return r.code(400).send({ status: "error", error: "the URL is not validly percent-encoded" });
    },
  });
  // RED metrics and spans for every route registered from here on, and for 404s.
  instrumentHttp(app, options.registry, (request, reply) => {
    reply.code(404).send({ status: "error", error: `no route for ${request.method} ${request.url.split("?")[0]}` });
  });
  app.setErrorHandler(errorHandler(options.logger));
  // The API speaks JSON only; anything else is a 415, not a confusing 400.
  app.removeContentTypeParser("text/plain");

  if (options.admission) admitRoutes(app, options.admission);
  registerRoutes(app, options.downstream);

  // Liveness is polled hard (the original's load test hits it at 50k requests): the answer only changes
  // once a second, so it is serialized once a second, not per request.
  let healthSecond = -1;
  let healthBody = "";
  // Probes and scrapes are counted in the metrics but never traced.
  const untraced = { config: { traced: false } };
  app.get("/api/v1/health", untraced, (_request, reply) => {
    const second = Math.floor(Date.now() / 1000);
    if (second !== healthSecond) {
      healthSecond = second;
      healthBody = JSON.stringify({ status: "success", data: { status: "healthy", service: "gateway", timestamp: second } });
    }
    reply.type("application/json; charset=utf-8").send(healthBody);
  });
  app.get("/healthz", untraced, async () => ({ status: "ok" }));
  // Readiness is this pod's own state (see docs/ARCHITECTURE.md, "Readiness"): a
  // downstream outage would take every gateway out of its Service at once,
  // so it is answered by breakers and fast 503s instead and only reported here.
  // The one exception is start-up: a pod that has never reached a counter
  // cannot serve a write, so it joins its Service only after that.
  app.get("/readyz", untraced, async (_request, reply) => {
    const ready = options.accepting() && options.downstream.counterReached();
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready", downstreams: options.downstream.health() });
  });
  app.get("/metrics", untraced, async (request, reply) => {
    const { contentType, body } = await renderMetrics(options.registry, request.headers.accept);
    reply.header("content-type", contentType);
    return body;
  });
  return app;
}
