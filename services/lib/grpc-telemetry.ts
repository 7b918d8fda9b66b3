import * as grpc from "@grpc/grpc-js";
import type { Registry } from "prom-client";
import { LATENCY_BUCKETS, LabeledHistogram, type HistogramChild } from "./labeled-histogram.js";
import {
  context,
  endSpan,
  formatTraceparent,
  getTracer,
  sampledRemoteContext,
  SpanKind,
  trace,
  type Context,
  type Span,
} from "./telemetry.js";
import type { Link } from "@opentelemetry/api";

/**
 * gRPC RED metrics and spans, server and client side, in the style of
 * go-grpc-prometheus: one histogram per side labelled by service, method and
 * status code name (`_count` is the call count). Children are resolved per
 * method and code once; an observation allocates nothing.
 *
 * Server spans only continue a sampled caller's trace (traceparent in the
 * call metadata): counter and analytics sit behind the gateway, where new
 * traces start, so an untraced call costs one metadata look-up and no span.
 */
const CODE_NAMES: string[] = [];
for (const [name, value] of Object.entries(grpc.status)) if (typeof value === "number") CODE_NAMES[value] = name;
const codeName = (code: number) => CODE_NAMES[code] ?? "UNKNOWN";

/** The children of one method, by status code. */
class MethodMetrics {
  private readonly byCode: Array<HistogramChild | undefined> = [];

  constructor(
    private readonly histogram: LabeledHistogram,
    readonly service: string,
    readonly method: string,
  ) {}

  observe(code: number, seconds: number, span: Span | undefined): void {
    const child = (this.byCode[code] ??= this.histogram.child(this.service, this.method, codeName(code)));
    if (span) {
      const sc = span.spanContext();
      child.observe(seconds, sc.traceId, sc.spanId);
    } else {
      child.observe(seconds);
    }
  }
}

/** "/pkg.Service/Method" → ["pkg.Service", "Method"]. */
function splitPath(path: string): [string, string] {
  const i = path.lastIndexOf("/");
  return [path.slice(1, i), path.slice(i + 1)];
}

const errorCode = (err: unknown): number => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : grpc.status.UNKNOWN;
};

/** One server call from its arrival: `finish` records it once and ends its span. */
interface ServerCall {
  parent?: Context;
  span?: Span;
  finish(code: number, err?: unknown): void;
}

function beginServerCall(metrics: MethodMetrics, spanName: string, traceparent: string | undefined): ServerCall {
  const started = performance.now();
  const parent = traceparent === undefined || traceparent === "" ? undefined : sampledRemoteContext(traceparent);
  const span = parent
    ? getTracer().startSpan(
        spanName,
        { kind: SpanKind.SERVER, attributes: { "rpc.system": "grpc", "rpc.service": metrics.service, "rpc.method": metrics.method } },
        parent,
      )
    : undefined;
  let done = false;
  return {
    parent,
    span,
    finish(code, err) {
      if (done) return;
      done = true;
      if (span) {
        span.setAttribute("rpc.grpc.status_code", code);
        endSpan(span, code === grpc.status.OK ? undefined : err);
      }
      metrics.observe(code, (performance.now() - started) / 1000, span);
    },
  };
}

/** Runs `fn` inside the call's span when it has one. */
const inCall = <T>(c: ServerCall, fn: () => T): T => (c.span ? context.with(trace.setSpan(c.parent!, c.span), fn) : fn());

export interface ServerMethod {
  /**
   * Handles one call of this method that arrived as a message of a
   * multiplexed stream, measured and traced exactly like a unary call of
   * it: `traceparent` is what the unary call would carry in its metadata.
   * A rejection's `code` is the call's status.
   */
  run<T>(traceparent: string, handle: () => Promise<T>): Promise<T>;
}

export interface GrpcServerTelemetry {
  method(service: string, method: string): ServerMethod;
}

export interface InstrumentedServer {
  telemetry: GrpcServerTelemetry;
  /** Services added from now on are left alone (health, reflection). */
  uninstrument(): void;
}

/** Makes the services added to `server` from now on measured and traced, until `uninstrument`. */
export function instrumentGrpcServer(server: grpc.Server, registry: Registry): InstrumentedServer {
  const histogram = new LabeledHistogram({
    name: "highgopress_grpc_server_handling_seconds",
    help: "gRPC calls handled, by service, method and status code, and how long they took.",
    labelNames: ["grpc_service", "grpc_method", "grpc_code"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const addService = server.addService.bind(server);
  server.addService = (service, implementation) => {
    const wrapped: grpc.UntypedServiceImplementation = {};
    for (const [key, definition] of Object.entries(service)) {
      const handler = implementation[key];
      if (typeof handler !== "function") continue;
      const [serviceName, methodName] = splitPath(definition.path);
      const metrics = new MethodMetrics(histogram, serviceName, methodName);
      const spanName = `${serviceName}/${methodName}`;
      const streaming = definition.responseStream;
      wrapped[key] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback?: grpc.sendUnaryData<unknown>) => {
        const tp = call.metadata.get("traceparent")[0];
        const c = beginServerCall(metrics, spanName, tp === undefined ? undefined : String(tp));
        return inCall(c, () => {
          if (streaming) {
            const stream = call as unknown as NodeJS.EventEmitter;
            stream.once("finish", () => c.finish(grpc.status.OK));
            stream.once("error", (err: unknown) => c.finish(errorCode(err), err));
            stream.once("cancelled", () => c.finish(grpc.status.CANCELLED));
            return (handler as (call: unknown) => void)(call);
          }
          return (handler as (call: unknown, cb: grpc.sendUnaryData<unknown>) => void)(call, (err, value, trailer, flags) => {
            c.finish(err ? errorCode(err) : grpc.status.OK, err);
            callback!(err, value, trailer, flags);
          });
        });
      }) as grpc.UntypedHandleCall;
    }
    addService(service, wrapped);
  };
  return {
    telemetry: {
      method(service, method) {
        const metrics = new MethodMetrics(histogram, service, method);
        const spanName = `${service}/${method}`;
        return {
          run(traceparent, handle) {
            const c = beginServerCall(metrics, spanName, traceparent);
            return inCall(c, () =>
              handle().then(
                (value) => {
                  c.finish(grpc.status.OK);
                  return value;
                },
                (err: unknown) => {
                  c.finish(errorCode(err), err);
                  throw err;
                },
              ),
            );
          },
        };
      },
    },
    uninstrument: () => {
      server.addService = addService;
    },
  };
}

/** What a client call is traced as: a parent and, for batches, links. */
export interface ClientTrace {
  parent: Context;
  links?: Link[];
  attributes?: Record<string, string | number>;
}

export interface ClientMethod {
  /**
   * Runs one unary call: `invoke` gets the metadata to send (with
   * traceparent when traced) and returns the call's promise.
   */
  call<T>(invoke: (metadata: grpc.Metadata) => Promise<T>, traced?: ClientTrace): Promise<T>;
}

export interface GrpcClientTelemetry {
  method(service: string, method: string): ClientMethod;
}

/** Client-side metrics and CLIENT spans; one ClientMethod per method, made up front. */
export function grpcClientTelemetry(registry: Registry): GrpcClientTelemetry {
  const histogram = new LabeledHistogram({
    name: "highgopress_grpc_client_handling_seconds",
    help: "gRPC calls made, by service, method and status code, and how long they took until the answer.",
    labelNames: ["grpc_service", "grpc_method", "grpc_code"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  return {
    method(service, method) {
      const metrics = new MethodMetrics(histogram, service, method);
      const spanName = `${service}/${method}`;
      return {
        call(invoke, traced) {
          const started = performance.now();
          const metadata = new grpc.Metadata();
          let span: Span | undefined;
          if (traced) {
            span = getTracer().startSpan(
              spanName,
              {
                kind: SpanKind.CLIENT,
                links: traced.links,
                attributes: { "rpc.system": "grpc", "rpc.service": service, "rpc.method": method, ...traced.attributes },
              },
              traced.parent,
            );
            metadata.set("traceparent", formatTraceparent(span.spanContext()));
          }
          return invoke(metadata).then(
            (value) => {
              metrics.observe(grpc.status.OK, (performance.now() - started) / 1000, span);
              endSpan(span);
              return value;
            },
            (err: unknown) => {
              const code = errorCode(err);
              span?.setAttribute("rpc.grpc.status_code", code);
              metrics.observe(code, (performance.now() - started) / 1000, span);
              endSpan(span, err);
              throw err;
            },
          );
        },
      };
    },
  };
}
