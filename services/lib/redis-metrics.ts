import { Counter, type Registry } from "prom-client";
import { LabeledHistogram, REDIS_BUCKETS, type HistogramChild } from "./labeled-histogram.js";
import { endSpan, getTracer, SpanKind, trace, context, activeSpan, type Span } from "./telemetry.js";

/**
 * Latency of the Redis calls a service makes, measured at our call sites
 * (one script call carries a whole batch, so per-command instrumentation of
 * the client would cost more than it tells), plus a CLIENT span under the
 * active traced work.
 *
 * `highgopress_redis_command_duration_seconds{command}` and
 * `highgopress_redis_command_errors_total{command}`; `command` is one of the
 * fixed names a service uses (e.g. hgp_increment, mget, xreadgroup).
 */
export interface RedisCommandTimer {
  /**
   * Times `run`, and traces it when the active work is traced; `run` gets
   * the span (to hand its context on, e.g. into an outbox entry).
   */
  time<T>(run: (span: Span | undefined) => Promise<T>, attributes?: Record<string, string | number>): Promise<T>;
}

export interface RedisMetrics {
  command(name: string, statement?: string): RedisCommandTimer;
}

export function createRedisMetrics(registry: Registry): RedisMetrics {
  const duration = new LabeledHistogram({
    name: "highgopress_redis_command_duration_seconds",
    help: "Redis calls (a script call carries a whole batch), by command, from send to reply.",
    labelNames: ["command"],
    buckets: REDIS_BUCKETS,
    registers: [registry],
  });
  const errors = new Counter({
    name: "highgopress_redis_command_errors_total",
    help: "Redis calls that failed (timeouts, disconnects, script errors), by command.",
    labelNames: ["command"],
    registers: [registry],
  });
  return {
    command(name, statement = name.toUpperCase()) {
      const child: HistogramChild = duration.child(name);
      const failed = errors.labels(name);
      failed.inc(0);
      const spanName = `redis ${statement}`;
      return {
        time(run, attributes) {
          const started = performance.now();
          const parent = activeSpan();
          const span: Span | undefined = parent
            ? getTracer().startSpan(
                spanName,
                { kind: SpanKind.CLIENT, attributes: { "db.system": "redis", "db.operation.name": statement, ...attributes } },
                trace.setSpan(context.active(), parent),
              )
            : undefined;
          return run(span).then(
            (value) => {
              const sc = span?.spanContext();
              child.observe((performance.now() - started) / 1000, sc?.traceId, sc?.spanId);
              endSpan(span);
              return value;
            },
            (err: unknown) => {
              child.observe((performance.now() - started) / 1000);
              failed.inc();
              endSpan(span, err);
              throw err;
            },
          );
        },
      };
    },
  };
}

/** A timer that measures nothing, for modules used without metrics (tests). */
export const untimed: RedisCommandTimer = { time: (run) => run(undefined) };
