import type { FastifyInstance } from "fastify";
import type { IncrementCounterResponse } from "../lib/gen/highgopress/counter/v1/counter.js";
import type { Downstream } from "./downstream.js";
import { fromDownstream, HttpError } from "./errors.js";
import * as schema from "./schemas.js";

type Id = { resource_id: string; counter_type: string };
type IncrementBody = Id & { delta?: number; increment?: number };

const seconds = () => Math.floor(Date.now() / 1000);

/**
 * An int64 from its decimal string as a JSON number: a bigint beyond 2^53,
 * which the response serializer writes digit for digit. A JavaScript client
 * reading such a value needs a lossless parser (docs/ARCHITECTURE.md, "Counter values").
 */
export function jsonInteger(decimal: string): number | bigint {
  const n = Number(decimal);
  return Number.isSafeInteger(n) ? n : BigInt(decimal);
}

function counterData(r: { resourceId: string; counterType: string; currentValue: string }, timestamp: number) {
  return { resource_id: r.resourceId, counter_type: r.counterType, current_value: jsonInteger(r.currentValue), success: true, timestamp };
}

const toOp = (b: IncrementBody) => ({ resourceId: b.resource_id, counterType: b.counter_type, delta: b.delta ?? b.increment ?? 1 });

function parseBounded(value: string | undefined, fallback: number, name: string, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (n < min || n > max) throw new HttpError(400, `querystring.${name} must be between ${min} and ${max}`);
  return n;
}

export function registerRoutes(app: FastifyInstance, downstream: Downstream): void {
  app.post<{ Body: IncrementBody; Headers: { "idempotency-key"?: string } }>(
    "/api/v1/counter/increment",
    { schema: { body: schema.incrementBody, response: schema.incrementResponse } },
    async (request, reply) => {
      const key = request.headers["idempotency-key"];
      if (key !== undefined && (key.length < 1 || key.length > 256)) {
        throw new HttpError(400, "Idempotency-Key must be 1-256 characters");
      }
      let result: IncrementCounterResponse;
      try {
        result = key ? await downstream.incrementIdempotent(toOp(request.body), key) : await downstream.increment(toOp(request.body));
      } catch (err) {
        throw fromDownstream(err, "counter");
      }
      if (result.duplicate) reply.header("idempotent-replayed", "true");
      return { status: "success", data: counterData(result, seconds()) };
    },
  );

  app.post<{ Body: { operations: IncrementBody[] } }>(
    "/api/v1/counter/batch-increment",
    { schema: { body: schema.batchIncrementBody, response: schema.batchIncrementResponse } },
    async (request, reply) => {
      const operations = request.body.operations;
      let answers: Array<IncrementCounterResponse | Error>;
      try {
        answers = await downstream.incrementAll(operations.map(toOp));
      } catch (err) {
        throw fromDownstream(err, "counter");
      }
      const now = seconds();
      const failed = answers.filter((a) => a instanceof Error).length;
      if (failed === 0) {
        const results = (answers as IncrementCounterResponse[]).map((a) => counterData(a, now));
        return { status: "success", data: { results, count: results.length } };
      }
      if (failed === answers.length) throw fromDownstream(answers[0], "counter");
      // Some applied, some not: one status cannot say which, so each operation carries its own (207).
      const results = answers.map((a, i) => {
        if (!(a instanceof Error)) return counterData(a, now);
        const error = fromDownstream(a, "counter");
        const op = operations[i]!;
        return { resource_id: op.resource_id, counter_type: op.counter_type, success: false, status: error.statusCode, error: error.message, timestamp: now };
      });
      reply.code(207);
      return { status: "partial", data: { results, count: results.length } };
    },
  );

  app.get<{ Params: Id }>(
    "/api/v1/counter/:resource_id/:counter_type",
    { schema: { params: schema.counterParams, response: schema.counterResponse } },
    async (request) => {
      const { resource_id, counter_type } = request.params;
      try {
        const r = await downstream.get({ resourceId: resource_id, counterType: counter_type });
        return { status: "success", data: counterData(r, seconds()) };
      } catch (err) {
        throw fromDownstream(err, "counter");
      }
    },
  );

  app.post<{ Body: { queries: Id[] } }>(
    "/api/v1/counter/batch",
    { schema: { body: schema.batchGetBody, response: schema.batchResponse } },
    async (request) => {
      try {
        const results = await Promise.all(
          request.body.queries.map((q) => downstream.get({ resourceId: q.resource_id, counterType: q.counter_type })),
        );
        const now = seconds();
        return { status: "success", data: { results: results.map((r) => counterData(r, now)), count: results.length } };
      } catch (err) {
        throw fromDownstream(err, "counter");
      }
    },
  );

  app.get<{ Querystring: { counter_type: string; limit?: string; page?: string; time_range?: string } }>(
    "/api/v1/analytics/top",
    { schema: { querystring: schema.topQuery, response: schema.topResponse } },
    async (request) => {
      const q = request.query;
      const limit = parseBounded(q.limit, 10, "limit", 1, 100);
      const page = parseBounded(q.page, 1, "page", 1, 10_000);
      const timeRange = q.time_range ?? "24h";
      try {
        const r = await downstream.top({ counterType: q.counter_type, limit, page, timeRange });
        return {
          status: "success",
          data: {
            counter_type: r.counterType,
            time_range: r.timeRange,
            page: r.page,
            limit: r.limit,
            total: r.totalItems,
            items: r.items.map((i) => ({ rank: i.rank, resource_id: i.resourceId, value: jsonInteger(i.value), increment_count: i.incrementCount })),
          },
        };
      } catch (err) {
        throw fromDownstream(err, "analytics");
      }
    },
  );

  app.get<{ Params: Id; Querystring: { time_range?: string } }>(
    "/api/v1/analytics/stats/:resource_id/:counter_type",
    { schema: { params: schema.counterParams, querystring: schema.statsQuery, response: schema.statsResponse } },
    async (request) => {
      const { resource_id, counter_type } = request.params;
      try {
        const r = await downstream.stats(resource_id, counter_type, request.query.time_range ?? "24h");
        const iso = (ms: number) => new Date(ms).toISOString();
        return {
          status: "success",
          data: {
            resource_id,
            counter_type,
            time_range: r.timeRange,
            total: jsonInteger(r.total),
            increment_count: r.incrementCount,
            avg_per_hour: r.avgPerHour,
            peak: jsonInteger(r.peak),
            peak_hour: iso(r.peakHourStartMs),
            trend: r.trend,
            trend_ratio: r.trendRatio,
            series: r.series.map((p) => ({ hour: iso(p.hourStartMs), value: jsonInteger(p.value), increment_count: p.incrementCount })),
          },
        };
      } catch (err) {
        throw fromDownstream(err, "analytics");
      }
    },
  );
}
