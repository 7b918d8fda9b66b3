/**
 * OpenTelemetry tracing set-up, and the few helpers every service uses to
 * start spans at its own boundaries (HTTP, gRPC, Redis, Kafka) without
 * auto-instrumentation.
 *
 * Cost model: with TRACING_EXPORTER=none no SDK is started, every helper
 * here answers "not traced" after one boolean check, and the OTel API is the
 * no-op one. With tracing on, a request that is not sampled costs one
 * Math.random() at the edge (`sampleNewTrace`) and nothing else: no span
 * object, no context switch. Only sampled work creates spans and enters a
 * context.
 *
 * Context propagation (TRACING_CONTEXT): `async` is the SDK's
 * AsyncLocalStorage manager, which keeps the active span across awaits (so
 * every log line of traced work carries its trace id) but switches Node's
 * async hooks on for the whole process once the first span is entered, a
 * cost every later request pays; `sync` (sync-context.ts) carries the
 * context through synchronous calls only, at no cost per request. Each
 * service picks its default: the gateway, where the cost is per request,
 * `sync`; counter and analytics, where it is per batch, `async`.
 *
 * Sampling: the edge decides for new traces (ratio from
 * OTEL_TRACES_SAMPLER_ARG, default 0.01); an incoming W3C `traceparent`
 * whose sampled flag is set is always continued (parent-based), one whose
 * flag is clear is not traced here either.
 */
import {
  context,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type Tracer,
} from "@opentelemetry/api";
import type { EnvReader } from "./config.js";
import type { Logger } from "./logger.js";
import { SyncContextManager } from "./sync-context.js";

export { SpanKind, SpanStatusCode, context, trace, type Context, type Span, type SpanContext };

export const EXPORTERS = ["otlp", "jaeger", "none"] as const;
export const SAMPLERS = [
  "parentbased_traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "traceidratio",
  "always_on",
  "always_off",
] as const;

export interface TelemetryConfig {
  exporter: (typeof EXPORTERS)[number];
  serviceName: string;
  /** OTLP/HTTP base URL; /v1/traces is appended unless the traces endpoint is given. */
  otlpTracesUrl: string;
  jaegerEndpoint: string;
  sampler: (typeof SAMPLERS)[number];
  /** Probability that a new trace (no sampled parent) is recorded. */
  ratio: number;
  /** How the active context travels: across awaits (AsyncLocalStorage) or through synchronous calls only. */
  context: (typeof CONTEXT_MANAGERS)[number];
}

export const CONTEXT_MANAGERS = ["async", "sync"] as const;

/**
 * TRACING_EXPORTER (otlp|jaeger|none, default otlp), OTEL_SERVICE_NAME
 * (default highgopress-<service>), OTEL_EXPORTER_OTLP_ENDPOINT (default
 * http://127.0.0.1:4318) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
 * OTEL_EXPORTER_JAEGER_ENDPOINT (default http://127.0.0.1:14268/api/traces),
 * OTEL_TRACES_SAMPLER (default parentbased_traceidratio) and
 * OTEL_TRACES_SAMPLER_ARG (0..1, default 0.01), TRACING_CONTEXT (async|sync,
 * default `defaultContext`).
 */
export function readTelemetrySettings(env: EnvReader, service: string, defaultContext: TelemetryConfig["context"] = "async"): TelemetryConfig {
  const sdkDisabled = env.bool("OTEL_SDK_DISABLED", false);
  const exporter = env.oneOf("TRACING_EXPORTER", "otlp", EXPORTERS);
  const base = env.url("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318", ["http:", "https:"]).replace(/\/+$/, "");
  const tracesUrl = env.optionalString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ? env.url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", `${base}/v1/traces`, ["http:", "https:"])
    : `${base}/v1/traces`;
  const sampler = env.oneOf("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", SAMPLERS);
  const arg = env.number("OTEL_TRACES_SAMPLER_ARG", 0.01, { min: 0, max: 1 });
  const config: TelemetryConfig = {
    exporter: sdkDisabled ? "none" : exporter,
    serviceName: env.string("OTEL_SERVICE_NAME", `highgopress-${service}`),
    otlpTracesUrl: tracesUrl,
    jaegerEndpoint: env.url("OTEL_EXPORTER_JAEGER_ENDPOINT", "http://127.0.0.1:14268/api/traces", ["http:", "https:"]),
    sampler,
    ratio: sampler.endsWith("always_on") ? 1 : sampler.endsWith("always_off") ? 0 : arg,
    context: env.oneOf("TRACING_CONTEXT", defaultContext, CONTEXT_MANAGERS),
  };
  return config;
}

// Module state: the OTel API is global by design, so is whether we trace.
let enabled = false;
let ratio = 0;
let tracer: Tracer = trace.getTracer("highgopress");

/** True when an SDK is running (TRACING_EXPORTER is not none). */
export const tracingEnabled = (): boolean => enabled;

/** The head-sampling decision for a new trace. One Math.random() when tracing is on. */
export function sampleNewTrace(): boolean {
  return enabled && ratio > 0 && (ratio >= 1 || Math.random() < ratio);
}

export function getTracer(): Tracer {
  return tracer;
}

export interface Telemetry {
  config: TelemetryConfig;
  /** Flushes pending spans and stops the exporter. */
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry Node SDK (unless the exporter is none) with our
 * sampler, the exporter chosen by configuration and no auto-instrumentation.
 * Call once, first thing in main.ts.
 */
export async function startTelemetry(config: TelemetryConfig, logger: Logger): Promise<Telemetry> {
  if (config.exporter === "none") {
    logger.info({ exporter: "none" }, "tracing off");
    return { config, shutdown: async () => undefined };
  }
  const [{ NodeSDK }, { ParentBasedSampler, AlwaysOnSampler, AlwaysOffSampler, BatchSpanProcessor }, { W3CTraceContextPropagator }, { resourceFromAttributes }] =
    await Promise.all([
      import("@opentelemetry/sdk-node"),
      import("@opentelemetry/sdk-trace-base"),
      import("@opentelemetry/core"),
      import("@opentelemetry/resources"),
    ]);
  const exporter =
    config.exporter === "jaeger"
      ? new (await import("@opentelemetry/exporter-jaeger")).JaegerExporter({ endpoint: config.jaegerEndpoint })
      : new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter({ url: config.otlpTracesUrl });
  // New traces are decided at the edge by sampleNewTrace(); what reaches the
  // SDK as a root span was already chosen, children follow their parent.
  const root = config.ratio > 0 ? new AlwaysOnSampler() : new AlwaysOffSampler();
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ "service.name": config.serviceName, "service.namespace": "highgopress" }),
    autoDetectResources: true,
    sampler: new ParentBasedSampler({ root }),
    spanProcessors: [new BatchSpanProcessor(exporter)],
    textMapPropagator: new W3CTraceContextPropagator(),
    instrumentations: [],
    ...(config.context === "sync" ? { contextManager: new SyncContextManager() } : {}),
    // Metrics go through prom-client and logs through pino: no OTel exporters for them.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  enabled = true;
  ratio = config.ratio;
  tracer = trace.getTracer("highgopress");
  logger.info(
    {
      exporter: config.exporter,
      endpoint: config.exporter === "jaeger" ? config.jaegerEndpoint : config.otlpTracesUrl,
      sampler: config.sampler,
      ratio: config.ratio,
      context: config.context,
      serviceName: config.serviceName,
    },
    "tracing on",
  );
  return {
    config,
    async shutdown() {
      enabled = false;
      await sdk.shutdown();
    },
  };
}

const HEX = /^[0-9a-f]+$/;

/**
 * A W3C traceparent (`00-<trace id>-<span id>-<flags>`) as a remote span
 * context, or undefined when absent or malformed.
 */
export function parseTraceparent(value: string | undefined | null): SpanContext | undefined {
  if (!value || value.length < 55) return undefined;
  const version = value.slice(0, 2);
  if (value[2] !== "-" || value[35] !== "-" || value[52] !== "-" || version === "ff") return undefined;
  if (version === "00" && value.length !== 55) return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (!HEX.test(version) || !HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, traceFlags: parseInt(flags, 16) & 0xff, isRemote: true };
}

export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${sc.traceFlags & TraceFlags.SAMPLED ? "01" : "00"}`;
}

const isSampled = (sc: SpanContext | undefined): sc is SpanContext => sc !== undefined && (sc.traceFlags & TraceFlags.SAMPLED) !== 0;

/**
 * The context to continue from an incoming traceparent: only when tracing is
 * on and the caller sampled it; undefined otherwise (including a clear
 * sampled flag: the caller decided against tracing).
 */
export function sampledRemoteContext(traceparent: string | undefined | null): Context | undefined {
  if (!enabled || !traceparent) return undefined;
  const sc = parseTraceparent(traceparent);
  return isSampled(sc) ? trace.setSpanContext(ROOT_CONTEXT, sc) : undefined;
}

/**
 * The parent for a span at an entry point (HTTP request, gRPC call): the
 * caller's sampled context, or for a request without traceparent a new
 * trace when head sampling says so. Undefined: do not trace this one.
 */
export function entryContext(traceparent: string | undefined | null): Context | undefined {
  if (!enabled) return undefined;
  if (traceparent) return sampledRemoteContext(traceparent);
  return sampleNewTrace() ? ROOT_CONTEXT : undefined;
}

/** The recording span of the active context, if any (cheap when none). */
export function activeSpan(): Span | undefined {
  if (!enabled) return undefined;
  const span = trace.getSpan(context.active());
  return span?.isRecording() ? span : undefined;
}

/** The span context of the active recording span: what a queued item remembers to be linked later. */
export function activeSpanContext(): SpanContext | undefined {
  return activeSpan()?.spanContext();
}

/** The active context when it holds a recording span (a parent for client spans), else undefined. */
export function activeParent(): Context | undefined {
  return activeSpan() ? context.active() : undefined;
}

/** Ends a span, marking it failed with the error's message. */
export function endSpan(span: Span | undefined, err?: unknown): void {
  if (!span) return;
  if (err !== undefined && err !== null) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  }
  span.end();
}

/**
 * For work that carries many traced items (a coalesced batch, a Kafka
 * batch): the parent is the first sampled item's context, every other
 * distinct sampled context becomes a link (items written under one span,
 * e.g. the outbox entries of one counter batch, give one link). Undefined
 * when none is sampled.
 */
export function batchParent<T>(
  items: readonly T[],
  spanContextOf: (item: T) => SpanContext | undefined,
): { parent: Context; links: Link[] } | undefined {
  let first: SpanContext | undefined;
  let links: Link[] | undefined;
  let seen: Set<string> | undefined;
  for (const item of items) {
    const sc = spanContextOf(item);
    if (!isSampled(sc)) continue;
    if (!first) {
      first = sc;
      continue;
    }
    if (sc.spanId === first.spanId && sc.traceId === first.traceId) continue;
    const id = sc.traceId + sc.spanId;
    if ((seen ??= new Set([first.traceId + first.spanId])).has(id)) continue;
    seen.add(id);
    (links ??= []).push({ context: sc });
  }
  if (!first) return undefined;
  return { parent: trace.setSpanContext(ROOT_CONTEXT, first), links: links ?? [] };
}
