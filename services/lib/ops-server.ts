import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";
import { renderMetrics } from "./exposition.js";

export interface OpsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** Readiness: resolves true when the service can do useful work. */
  ready: () => boolean | Promise<boolean>;
}

/**
 * The small HTTP side door of a gRPC service: /metrics for Prometheus,
 * /healthz for liveness and /readyz for readiness. Kept on node:http so it
 * costs nothing when nobody asks.
 */
export async function startOpsServer(options: OpsServerOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET") {
      res.writeHead(405).end();
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok"}');
      return;
    }
    if (path === "/readyz") {
      Promise.resolve(options.ready())
        .catch(() => false)
        .then((ok) => {
          res
            .writeHead(ok ? 200 : 503, { "content-type": "application/json" })
            .end(JSON.stringify({ status: ok ? "ready" : "not ready" }));
        });
      return;
    }
    if (path === "/metrics") {
      renderMetrics(options.registry, req.headers.accept)
        .then(({ contentType, body }) => res.writeHead(200, { "content-type": contentType }).end(body))
        .catch((err: Error) => res.writeHead(500).end(err.message));
      return;
    }
    res.writeHead(404, { "content-type": "application/json" }).end('{"status":"error","error":"not found"}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return server;
}
