import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from "fastify";
import { createApiKeyVerifier, presentedApiKey, type ApiKeyVerifier } from "./auth.js";
import { monitorPressure, sheddingEnabled, type PressureLimits, type PressureMonitor, type PressureSample } from "./load-shed.js";
import { createClientRateLimiter, type ClientRateLimiter } from "./rate-limit.js";

/**
 * Admission control for the API routes, as one onRequest hook: shed when
 * the gateway is saturated, then require an API key on write routes (when
 * keys are configured), then apply the per-client rate limit. Every refusal
 * is answered here, before the body is read, with a fixed JSON body. Routes
 * get the hook only when one of the checks is enabled, so a gateway with all
 * of them off pays nothing.
 *
 * One hook rather than three because the rate limit is keyed by the key the
 * second check verified, handed on in a local; the same checks as three
 * hooks measured -1.8 to +4.9 µs per request (median +2.2 µs of eight
 * paired measurements), at most a few per cent. The @fastify plugins
 * (under-pressure, bearer-auth, rate-limit) measured +1.6 to +6.9 µs and do
 * a different job (auth.ts, rate-limit.ts say how). Figures and command:
 * bench/README.md, "Library or hand-written".
 */
export interface AdmissionOptions {
  shed?: PressureLimits;
  apiKeys?: ApiKeyVerifier;
  rateLimiter?: ClientRateLimiter;
  onRejected?: (reason: "shed" | "unauthorized" | "rate_limited") => void;
  /** Shedding started (true) or stopped, noticed by the first request after the change. */
  onPressure?: (shedding: boolean, sample: PressureSample) => void;
}

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

const SHED_BODY = JSON.stringify({ status: "error", error: "the gateway is overloaded; retry after the time in Retry-After" });
const UNAUTHORIZED_BODY = JSON.stringify({
  status: "error",
  error: "a valid API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
});
const RATE_LIMITED_BODY = JSON.stringify({ status: "error", error: "rate limit exceeded for this client; retry after the time in Retry-After" });

/** Write endpoints: they change counters, so they need a key when keys are set. */
export function isWriteRoute(method: string, url: string): boolean {
  return method === "POST" && (url === "/api/v1/counter/increment" || url === "/api/v1/counter/batch-increment");
}

/** Routes under admission control: the API, not health, readiness or metrics. */
export function isAdmittedRoute(url: string): boolean {
  return url.startsWith("/api/") && url !== "/api/v1/health";
}

function refuse(reply: FastifyReply, status: number, body: string, retryAfterSeconds?: number): void {
  reply.code(status).header("content-type", "application/json; charset=utf-8");
  if (retryAfterSeconds !== undefined) reply.header("retry-after", String(retryAfterSeconds));
  if (status === 401) reply.header("www-authenticate", 'Bearer realm="highgopress"');
  reply.send(body);
}

/** Whether to shed this request; reports each change of verdict. */
function shedding(monitor: PressureMonitor, onPressure: AdmissionOptions["onPressure"]): () => boolean {
  let current = false;
  return () => {
    const now = monitor.underPressure();
    if (now !== current) {
      current = now;
      onPressure?.(now, monitor.sample());
    }
    return now;
  };
}

function admissionHook(options: AdmissionOptions, shed: (() => boolean) | undefined, write: boolean): Hook | undefined {
  const { apiKeys, rateLimiter, onRejected } = options;
  const needsKey = write && apiKeys !== undefined;
  if (!shed && !needsKey && !rateLimiter) return undefined;
  return (request, reply, done) => {
    if (shed?.()) {
      onRejected?.("shed");
      return refuse(reply, 429, SHED_BODY, 1);
    }
    let client: string | undefined;
    if (apiKeys !== undefined && (needsKey || rateLimiter)) {
      const presented = presentedApiKey(request.headers);
      client = presented === undefined ? undefined : apiKeys.verify(presented);
      if (needsKey && client === undefined) {
        onRejected?.("unauthorized");
        return refuse(reply, 401, UNAUTHORIZED_BODY);
      }
    }
    if (rateLimiter) {
      const waitMs = rateLimiter.check(client ?? request.ip, Date.now());
      if (waitMs > 0) {
        onRejected?.("rate_limited");
        return refuse(reply, 429, RATE_LIMITED_BODY, Math.ceil(waitMs / 1000));
      }
    }
    done();
  };
}

/** Adds the admission hook to the API routes registered from now on. */
export function admitRoutes(app: FastifyInstance, options: AdmissionOptions): void {
  const shed = options.shed && shedding(monitorPressure(app, options.shed), options.onPressure);
  app.addHook("onRoute", (route) => {
    if (!isAdmittedRoute(route.url)) return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const hook = admissionHook(options, shed, methods.some((m) => isWriteRoute(m, route.url)));
    if (!hook) return;
    // After the telemetry hook, so refusals are timed and traced like any answer.
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [...existing, hook as never];
  });
}

export interface AdmissionSettings {
  apiKeys: readonly string[];
  rateLimitPerSecond: number;
  /** 0: twice the rate (at least 1). */
  rateLimitBurst: number;
  rateLimitMaxClients: number;
  shedEventLoopDelayMs: number;
  shedMaxHeapBytes: number;
  shedMaxRssBytes: number;
}

/**
 * Builds the enabled checks from configuration; `stop` ends the rate
 * limiter's timer (pressure sampling stops with the app).
 */
export function createAdmission(
  settings: AdmissionSettings,
  events: Pick<AdmissionOptions, "onRejected" | "onPressure"> = {},
): AdmissionOptions & { stop(): void } {
  const limits = { maxEventLoopDelayMs: settings.shedEventLoopDelayMs, maxHeapUsedBytes: settings.shedMaxHeapBytes, maxRssBytes: settings.shedMaxRssBytes };
  const shed = sheddingEnabled(limits) ? limits : undefined;
  const apiKeys = settings.apiKeys.length > 0 ? createApiKeyVerifier(settings.apiKeys) : undefined;
  let rateLimiter: ClientRateLimiter | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  if (settings.rateLimitPerSecond > 0) {
    const burst = settings.rateLimitBurst || Math.max(1, Math.ceil(settings.rateLimitPerSecond * 2));
    const limiter = createClientRateLimiter({ ratePerSecond: settings.rateLimitPerSecond, burst }, settings.rateLimitMaxClients);
    rateLimiter = limiter;
    sweeper = setInterval(() => limiter.sweep(Date.now()), 10_000).unref();
  }
  return {
    shed,
    apiKeys,
    rateLimiter,
    onRejected: events.onRejected,
    onPressure: events.onPressure,
    stop() {
      clearInterval(sweeper);
    },
  };
}
