/**
 * Load shedding with the gateway's default limits (SHED_EVENT_LOOP_DELAY_MS=
 * 1000, heap and RSS limits off, sampled every 500 ms, a 429 with
 * Retry-After: 1 when shedding) on the gateway app answering the bench's
 * write request: as shipped (the admission hook asking
 * @fastify/under-pressure for its verdict, load-shed.ts), with the plugin's
 * own onRequest hook, and with no shedding. Nothing is shed here: what is
 * measured is what the check costs every request that gets through.
 *
 * Before the plugin came in, the "as shipped" variant was a hand-written
 * monitor (commit d0d1a5a, services/gateway/load-shed.ts); the figures of
 * that comparison are in bench/README.md.
 *
 *   npm run build && node dist/bench/micro/load-shed.js [--rounds 9] [--requests 20000]
 */
import underPressure from "@fastify/under-pressure";
import { createAdmission } from "../../services/gateway/admission.js";
import { benchGatewayApp, INCREMENT } from "./gateway-app.js";
import { runHttpComparison } from "./http-compare.js";

const DEFAULTS = {
  apiKeys: [],
  rateLimitPerSecond: 0,
  rateLimitBurst: 0,
  rateLimitMaxClients: 100_000,
  shedEventLoopDelayMs: 1_000,
  shedMaxHeapBytes: 0,
  shedMaxRssBytes: 0,
};

await runHttpComparison({
  title: "Load shedding at the gateway defaults: as shipped vs @fastify/under-pressure's own hook",
  reference: "as shipped (admission hook asks under-pressure)",
  request: { ...INCREMENT, headers: { "content-type": "application/json" } },
  variants: {
    "no shedding": () => benchGatewayApp(),
    "as shipped (admission hook asks under-pressure)": () => benchGatewayApp(createAdmission(DEFAULTS)),
    "@fastify/under-pressure's own hook": async () => {
      const app = benchGatewayApp();
      await app.register(underPressure, {
        maxEventLoopDelay: DEFAULTS.shedEventLoopDelayMs,
        sampleInterval: 500,
        pressureHandler: (_request, reply) => {
          reply.code(429).header("retry-after", "1").send({ status: "error", error: "the gateway is overloaded; retry after the time in Retry-After" });
        },
      });
      return app;
    },
  },
});
