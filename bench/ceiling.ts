/**
 * The same-run ceiling: a bare fastify server that answers the bench's
 * requests (same methods, paths and JSON bodies, parsed as usual) with a
 * fixed JSON body shaped like the gateway's answer. Hit by the same load
 * generator with the same settings, it shows what one Node process can serve
 * on this machine while the generator shares its cores.
 *
 * Run by bench/ceiling-main.ts.
 */
import Fastify from "fastify";
import { BATCH_OPS } from "./workload.js";

const counter = (resourceId: string) => ({
  resource_id: resourceId,
  counter_type: "like",
  current_value: 123456,
  success: true,
  timestamp: 1_750_000_000,
});

export const CEILING_BODIES = {
  health: JSON.stringify({ status: "success", data: { status: "healthy", service: "gateway", timestamp: 1_750_000_000 } }),
  counter: JSON.stringify({ status: "success", data: counter("ceiling") }),
  batch: JSON.stringify({
    status: "success",
    data: { results: Array.from({ length: BATCH_OPS }, () => counter("ceiling")), count: BATCH_OPS },
  }),
};

export function buildCeiling() {
  const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
  const fixed = (body: string) => async (_request: unknown, reply: { type(t: string): unknown; send(b: string): unknown }) => {
    reply.type("application/json; charset=utf-8");
    return reply.send(body);
  };
  app.get("/api/v1/health", fixed(CEILING_BODIES.health));
  app.get("/api/v1/counter/:resource_id/:counter_type", fixed(CEILING_BODIES.counter));
  app.post("/api/v1/counter/increment", fixed(CEILING_BODIES.counter));
  app.post("/api/v1/counter/batch-increment", fixed(CEILING_BODIES.batch));
  return app;
}
