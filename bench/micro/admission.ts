/**
 * The gateway's admission with every check on (shedding at the default
 * SHED_EVENT_LOOP_DELAY_MS=1000, API_KEYS with two keys, a per-client rate
 * limit) on the gateway app answering the bench's write request with a valid
 * key, in four shapes:
 *  - admission.ts as it is: one onRequest hook doing the three checks;
 *  - the same checks as three onRequest hooks, the key's label handed from
 *    the key hook to the rate-limit hook on the request (is one hook cheaper
 *    than three?);
 *  - the libraries: @fastify/under-pressure, @fastify/bearer-auth and
 *    @fastify/rate-limit, configured to do the same job (rate-limit keyed by
 *    the verified key's label, else the address; no X-RateLimit headers,
 *    which the gateway does not send);
 *  - no admission at all, for scale.
 * The limit is far above the load, so nothing is refused: what is measured is
 * what the checks cost every request that gets through.
 *
 * Then, in process, what checking one presented key against two configured
 * keys costs: auth.ts's SHA-256 digests by crypto.hash (as shipped) and by
 * createHash (as it was), and bearer-auth's comparison of the raw bytes.
 *
 *   npm run build && node dist/bench/micro/admission.js [--rounds 9] [--requests 20000]
 */
import bearerAuth from "@fastify/bearer-auth";
import rateLimit from "@fastify/rate-limit";
import underPressure from "@fastify/under-pressure";
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from "fastify";
import { createAdmission, type AdmissionOptions } from "../../services/gateway/admission.js";
import { createHash, timingSafeEqual } from "node:crypto";
import { createApiKeyVerifier, presentedApiKey } from "../../services/gateway/auth.js";
import { monitorPressure } from "../../services/gateway/load-shed.js";
import { BENCH_API_KEYS, benchGatewayApp, INCREMENT } from "./gateway-app.js";
import { runHttpComparison } from "./http-compare.js";
import { compareCalls } from "./stats.js";

const SETTINGS = {
  apiKeys: BENCH_API_KEYS,
  rateLimitPerSecond: 1_000_000,
  rateLimitBurst: 0,
  rateLimitMaxClients: 100_000,
  shedEventLoopDelayMs: 1_000,
  shedMaxHeapBytes: 0,
  shedMaxRssBytes: 0,
};

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;
/** The request field that hands the verified key's label from the key hook to the rate-limit hook. */
type WithClient = FastifyRequest & { admissionClient: string | null };

/**
 * The same three checks, each its own hook. Added to the app rather than per
 * route: fastify merges both into one onRequest list per route, so they cost
 * the same per hook; here every request is a write.
 */
function threeHooks(app: FastifyInstance, admission: AdmissionOptions): Hook[] {
  app.decorateRequest("admissionClient", null);
  const { apiKeys, rateLimiter } = admission;
  const monitor = monitorPressure(app, admission.shed!);
  const shedHook: Hook = (_request, reply, done) => (monitor.underPressure() ? void reply.code(429).header("retry-after", "1").send({ status: "error" }) : done());
  const keyHook: Hook = (request, reply, done) => {
    const presented = presentedApiKey(request.headers);
    const client = presented === undefined ? undefined : apiKeys!.verify(presented);
    if (request.method === "POST" && client === undefined) return void reply.code(401).send({ status: "error" });
    (request as WithClient).admissionClient = client ?? null;
    done();
  };
  const limitHook: Hook = (request, reply, done) => {
    const waitMs = rateLimiter!.check((request as WithClient).admissionClient ?? request.ip, Date.now());
    if (waitMs > 0) return void reply.code(429).header("retry-after", String(Math.ceil(waitMs / 1000))).send({ status: "error" });
    done();
  };
  return [shedHook, keyHook, limitHook];
}

await runHttpComparison({
  title: "Admission with shedding, API keys and rate limit on: one hook vs three hooks vs the @fastify plugins",
  reference: "hand-written, one hook (admission.ts)",
  request: INCREMENT,
  variants: {
    "no admission": () => benchGatewayApp(),
    "hand-written, one hook (admission.ts)": () => benchGatewayApp(createAdmission(SETTINGS)),
    "hand-written, three hooks": () => {
      const app = benchGatewayApp();
      for (const hook of threeHooks(app, createAdmission(SETTINGS))) app.addHook("onRequest", hook);
      return app;
    },
    "@fastify/under-pressure + bearer-auth + rate-limit": async () => {
      const app = benchGatewayApp();
      const keys = createApiKeyVerifier(SETTINGS.apiKeys);
      await app.register(underPressure, {
        maxEventLoopDelay: SETTINGS.shedEventLoopDelayMs,
        sampleInterval: 500,
        pressureHandler: (_request, reply) => {
          reply.code(429).header("retry-after", "1").send({ status: "error" });
        },
      });
      await app.register(bearerAuth, { keys: SETTINGS.apiKeys });
      // The routes are declared already, so the limiter goes in as a hook of the app (the plugin's documented
      // fastify.rateLimit()), not through its onRoute hook; fastify merges both into the same per-route list.
      await app.register(rateLimit, {
        global: false,
        addHeaders: { "x-ratelimit-limit": false, "x-ratelimit-remaining": false, "x-ratelimit-reset": false, "retry-after": true },
        addHeadersOnExceeding: { "x-ratelimit-limit": false, "x-ratelimit-remaining": false, "x-ratelimit-reset": false },
      });
      const limit = app.rateLimit({
        max: SETTINGS.rateLimitPerSecond,
        timeWindow: 1_000,
        cache: SETTINGS.rateLimitMaxClients,
        keyGenerator: (request) => {
          const presented = presentedApiKey(request.headers);
          return (presented === undefined ? undefined : keys.verify(presented)) ?? request.ip;
        },
      });
      app.addHook("onRequest", limit as never);
      return app;
    },
  },
});

if (!process.argv.includes("--serve")) {
  const presented = "bench-key-0123456789";
  const shipped = createApiKeyVerifier(BENCH_API_KEYS);
  const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();
  const digests = BENCH_API_KEYS.map(digest);
  const rawKeys = BENCH_API_KEYS.map((k) => Buffer.from(k));
  let matched = 0;
  await compareCalls({
    title: "Checking one presented API key against two configured keys",
    reference: "auth.ts, crypto.hash (as shipped)",
    iterations: 100_000,
    variants: {
      "auth.ts, crypto.hash (as shipped)": (n) => {
        for (let i = 0; i < n; i++) if (shipped.verify(presented)) matched++;
      },
      "auth.ts, createHash (before)": (n) => {
        for (let i = 0; i < n; i++) {
          const d = digest(presented);
          if (digests.some((k) => timingSafeEqual(d, k))) matched++;
        }
      },
      "bearer-auth's comparison (raw bytes)": (n) => {
        for (let i = 0; i < n; i++) {
          const b = Buffer.from(presented);
          if (rawKeys.findIndex((k) => k.length === b.length && timingSafeEqual(k, b)) !== -1) matched++;
        }
      },
    },
  });
  if (matched === 0) throw new Error("no key matched");
}
