import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteHandlerMethod, RouteOptions } from "fastify";
import type { Registry } from "prom-client";
import { LATENCY_BUCKETS, LabeledHistogram, type HistogramChild } from "./labeled-histogram.js";
import { context, entryContext, getTracer, SpanKind, SpanStatusCode, trace, tracingEnabled, type Span } from "./telemetry.js";

/**
 * RED metrics and server spans for a fastify app, at the cost of one
 * onRequest and one onSend hook per request when tracing is off:
 *
 * - `highgopress_http_server_request_duration_seconds{route,method,status_code}`
 *   (its `_count` is the request count); `route` is the route pattern, never
 *   the URL, and unmatched requests are `route="unmatched"`. Children are
 *   resolved per route and status once, so an observation allocates nothing.
 * - With tracing on, a SERVER span for each sampled request (W3C traceparent
 *   continued when its sampled flag is set, else head sampling); the handler
 *   runs in the span's context so downstream calls and logs see it. The
 *   latency observation of a traced request carries its trace id as an
 *   exemplar. Routes with `config: { traced: false }` (health checks, probes,
 *   scrapes) are never traced: their traces say nothing, and tracing 1 % of
 *   health checks cost the gateway 2-4 µs of CPU per health check (measured
 *   with wrk, sampling ratio 0 against 0.01).
 *
 * A request is timed from routing until its response is handed to the
 * socket (onSend), not until the last byte (onResponse): any onResponse hook
 * makes fastify add 'finish' and 'error' listeners to every response, which
 * measured 2-3 µs per request, about 8 % of what a health check costs.
 *
 * Call before the routes are registered. The not-found handler is set here:
 * 404s are observed by hooks that only the not-found handler has.
 */

declare module "fastify" {
  interface FastifyContextConfig {
    /** False: never traced (still counted in the metrics). */
    traced?: boolean;
  }
  interface FastifyRequest {
    hgpSpan: Span | null;
    /** performance.now() when the request was routed. */
    hgpStart: number;
  }
}

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

type SendHook = (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (error: null, payload: unknown) => void) => void;

type ErrorHook = (request: FastifyRequest, reply: FastifyReply, error: Error, done: () => void) => void;

function appendHook<H extends Hook | SendHook | ErrorHook = Hook>(options: RouteOptions, name: "onRequest" | "onSend" | "onError", hook: H): void {
  const existing = options[name] as H | H[] | undefined;
  (options as unknown as Record<string, H[]>)[name] = existing === undefined ? [hook] : Array.isArray(existing) ? [...existing, hook] : [existing, hook];
}

export function instrumentHttp(app: FastifyInstance, registry: Registry, notFound: RouteHandlerMethod): void {
  const duration = new LabeledHistogram({
    name: "highgopress_http_server_request_duration_seconds",
    help: "HTTP requests served, by route pattern, method and status code, and how long they took (from routing until the response is handed to the socket).",
    labelNames: ["route", "method", "status_code"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const tracing = tracingEnabled();
  app.decorateRequest("hgpSpan", null);
  app.decorateRequest("hgpStart", 0);

  /** Per route and method: children by status code, filled on first use. */
  const observer = (route: string): SendHook => {
    const byMethod = new Map<string, Map<number, HistogramChild>>();
    return (request, reply, payload, done) => {
      const seconds = (performance.now() - request.hgpStart) / 1000;
      const status = reply.statusCode;
      let byStatus = byMethod.get(request.method);
      if (!byStatus) byMethod.set(request.method, (byStatus = new Map()));
      let child = byStatus.get(status);
      if (!child) byStatus.set(status, (child = duration.child(route, request.method, String(status))));
      const span = request.hgpSpan;
      if (span === null) {
        child.observe(seconds);
      } else {
        span.setAttribute("http.response.status_code", status);
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
        const sc = span.spanContext();
        child.observe(seconds, sc.traceId, sc.spanId);
      }
      done(null, payload);
    };
  };

  const start: Hook = (request, _reply, done) => {
    request.hgpStart = performance.now();
    done();
  };

  app.addHook("onRoute", (options) => {
    const route = options.url;
    appendHook<SendHook>(options, "onSend", observer(route));
    if (!tracing || options.config?.traced === false) return appendHook(options, "onRequest", start);
    const name = `${Array.isArray(options.method) ? "HTTP" : options.method} ${route}`;
    appendHook(options, "onRequest", (request, _reply, done) => {
      request.hgpStart = performance.now();
      const parent = entryContext(request.headers.traceparent as string | undefined);
      if (parent) {
        request.hgpSpan = getTracer().startSpan(
          name,
          {
            kind: SpanKind.SERVER,
            attributes: { "http.request.method": request.method, "http.route": route, "url.path": request.url.split("?")[0] },
          },
          parent,
        );
      }
      done();
    });
    // The handler runs in the span's context, so the downstream calls it
    // starts (before its first await) are children of the request span. A
    // wrapper rather than a preHandler hook: an untraced request pays one
    // function call, not a hook chain.
    const handler = options.handler;
    options.handler = function tracedHandler(this: unknown, request, reply) {
      const span = request.hgpSpan;
      if (span === null) return handler.call(this as never, request, reply);
      return context.with(trace.setSpan(context.active(), span), () => handler.call(this as never, request, reply));
    };
    // The error handler runs synchronously after onError hooks: with the
    // span active there, its log lines carry the trace ids whatever the
    // context manager (a synchronous one loses the context across awaits).
    appendHook<ErrorHook>(options, "onError", (request, _reply, _error, done) => {
      const span = request.hgpSpan;
      if (span === null) return done();
      context.with(trace.setSpan(context.active(), span), done);
    });
  });

  // The not-found handler takes the hooks of the plugin it is set in, so
  // matched routes pay nothing for the 404 observation.
  app.register(async (unmatched) => {
    unmatched.addHook("onRequest", start);
    unmatched.addHook("onSend", observer("unmatched"));
    unmatched.setNotFoundHandler(notFound);
  });
}
