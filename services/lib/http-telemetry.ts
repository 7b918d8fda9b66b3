import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from "fastify";
import type { Registry } from "prom-client";
import { LATENCY_BUCKETS, LabeledHistogram, type HistogramChild } from "./labeled-histogram.js";
import { context, entryContext, getTracer, SpanKind, SpanStatusCode, trace, tracingEnabled, type Span } from "./telemetry.js";

/**
 * RED metrics and server spans for a fastify app, at the cost of one
 * route-level hook per request when tracing is off:
 *
 * - `highgopress_http_server_request_duration_seconds{route,method,status_code}`
 *   (its `_count` is the request count); `route` is the route pattern, never
 *   the URL, and unmatched requests are `route="unmatched"`. Children are
 *   resolved per route and status once, so an observation allocates nothing.
 * - With tracing on, a SERVER span for each sampled request (W3C traceparent
 *   continued when its sampled flag is set, else head sampling); the handler
 *   runs in the span's context so downstream calls and logs see it. The
 *   latency observation of a traced request carries its trace id as an
 *   exemplar.
 *
 * Call before the routes are registered.
 */

declare module "fastify" {
  interface FastifyRequest {
    hgpSpan: Span | null;
  }
}

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

type ErrorHook = (request: FastifyRequest, reply: FastifyReply, error: Error, done: () => void) => void;

function appendHook<H extends Hook | ErrorHook = Hook>(options: RouteOptions, name: "onRequest" | "preHandler" | "onResponse" | "onError", hook: H): void {
  const existing = options[name] as H | H[] | undefined;
  (options as unknown as Record<string, H[]>)[name] = existing === undefined ? [hook] : Array.isArray(existing) ? [...existing, hook] : [existing, hook];
}

export function instrumentHttp(app: FastifyInstance, registry: Registry): void {
  const duration = new LabeledHistogram({
    name: "highgopress_http_server_request_duration_seconds",
    help: "HTTP requests served, by route pattern, method and status code, and how long they took (from routing to the last byte).",
    labelNames: ["route", "method", "status_code"],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const tracing = tracingEnabled();
  app.decorateRequest("hgpSpan", null);

  /** Per route and method: children by status code, filled on first use. */
  const observer = (route: string) => {
    const byMethod = new Map<string, Map<number, HistogramChild>>();
    return (request: FastifyRequest, reply: FastifyReply) => {
      const status = reply.statusCode;
      let byStatus = byMethod.get(request.method);
      if (!byStatus) byMethod.set(request.method, (byStatus = new Map()));
      let child = byStatus.get(status);
      if (!child) byStatus.set(status, (child = duration.child(route, request.method, String(status))));
      const seconds = reply.elapsedTime / 1000;
      const span = request.hgpSpan;
      if (span === null) {
        child.observe(seconds);
        return;
      }
      span.setAttribute("http.response.status_code", status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      const sc = span.spanContext();
      child.observe(seconds, sc.traceId, sc.spanId);
    };
  };

  app.addHook("onRoute", (options) => {
    const route = options.url;
    const observe = observer(route);
    appendHook(options, "onResponse", (request, reply, done) => {
      observe(request, reply);
      done();
    });
    if (!tracing) return;
    const name = `${Array.isArray(options.method) ? "HTTP" : options.method} ${route}`;
    appendHook(options, "onRequest", (request, _reply, done) => {
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

  // Requests no route matched (404s) have no route hooks.
  const unmatched = observer("unmatched");
  app.addHook("onResponse", (request, reply, done) => {
    if (request.is404) unmatched(request, reply);
    done();
  });
}
