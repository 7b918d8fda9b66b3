import * as grpc from "@grpc/grpc-js";
import type { AnalyticsServiceServer } from "../lib/gen/highgopress/analytics/v1/analytics.js";
import { grpcError } from "../lib/grpc-server.js";
import type { Logger } from "../lib/logger.js";
import { storageFailure } from "../lib/storage-errors.js";
import { isTimeRange, isValidId, TIME_RANGES } from "../lib/validation.js";
import type { AnalyticsQueries } from "./queries.js";

export const MAX_TOP_LIMIT = 100;

function check(ok: boolean, message: string) {
  if (!ok) throw grpcError(grpc.status.INVALID_ARGUMENT, message);
}

export function createAnalyticsService(queries: AnalyticsQueries, logger: Logger): AnalyticsServiceServer {
  return {
    getTopCounters(call, callback) {
      const req = call.request;
      const limit = req.limit || 10;
      const page = req.page || 1;
      const range = req.timeRange || "24h";
      Promise.resolve()
        .then(() => {
          check(isValidId(req.counterType), "counter_type must be 1-128 characters of A-Z a-z 0-9 _ . -");
          check(limit >= 1 && limit <= MAX_TOP_LIMIT, `limit must be between 1 and ${MAX_TOP_LIMIT}`);
          check(page >= 1 && page <= 10_000, "page must be between 1 and 10000");
          check(isTimeRange(range), `time_range must be one of ${TIME_RANGES.join(", ")}`);
          return queries.top(req.counterType, range as never, limit, page);
        })
        .then(
          ({ items, totalItems }) =>
            callback(null, { counterType: req.counterType, timeRange: range, page, limit, totalItems, items }),
          (err) => callback(storageFailure(err, logger, "analytics storage")),
        );
    },
    getCounterStats(call, callback) {
      const req = call.request;
      const range = req.timeRange || "24h";
      Promise.resolve()
        .then(() => {
          check(isValidId(req.resourceId), "resource_id must be 1-128 characters of A-Z a-z 0-9 _ . -");
          check(isValidId(req.counterType), "counter_type must be 1-128 characters of A-Z a-z 0-9 _ . -");
          check(isTimeRange(range), `time_range must be one of ${TIME_RANGES.join(", ")}`);
          return queries.stats(req.resourceId, req.counterType, range as never);
        })
        .then(
          (stats) => callback(null, { resourceId: req.resourceId, counterType: req.counterType, timeRange: range, ...stats }),
          (err) => callback(storageFailure(err, logger, "analytics storage")),
        );
    },
  };
}
