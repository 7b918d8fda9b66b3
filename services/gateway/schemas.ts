import { ID_PATTERN, MAX_ABS_DELTA, MAX_HTTP_BATCH, TIME_RANGES } from "../lib/validation.js";

/**
 * JSON schemas of the HTTP API: requests are validated (without type
 * coercion: "5" is not a delta) and answers serialized from them. Unknown
 * request fields are ignored.
 */
const id = { type: "string", pattern: ID_PATTERN } as const;
const delta = { type: "integer", minimum: -MAX_ABS_DELTA, maximum: MAX_ABS_DELTA } as const;

export const incrementBody = {
  type: "object",
  required: ["resource_id", "counter_type"],
  properties: { resource_id: id, counter_type: id, delta, increment: delta, user_id: { type: "string", maxLength: 128 } },
} as const;

export const batchIncrementBody = {
  type: "object",
  required: ["operations"],
  properties: {
    operations: {
      type: "array",
      minItems: 1,
      maxItems: MAX_HTTP_BATCH,
      items: { type: "object", required: ["resource_id", "counter_type"], properties: { resource_id: id, counter_type: id, delta, increment: delta } },
    },
  },
} as const;

export const batchGetBody = {
  type: "object",
  required: ["queries"],
  properties: {
    queries: {
      type: "array",
      minItems: 1,
      maxItems: MAX_HTTP_BATCH,
      items: { type: "object", required: ["resource_id", "counter_type"], properties: { resource_id: id, counter_type: id } },
    },
  },
} as const;

export const counterParams = {
  type: "object",
  required: ["resource_id", "counter_type"],
  properties: { resource_id: id, counter_type: id },
} as const;

const timeRange = { type: "string", enum: [...TIME_RANGES] } as const;
const digits = (max: number) => ({ type: "string", pattern: `^[0-9]{1,${max}}$` }) as const;

export const topQuery = {
  type: "object",
  required: ["counter_type"],
  properties: { counter_type: id, limit: digits(3), page: digits(5), time_range: timeRange },
} as const;

export const statsQuery = { type: "object", properties: { time_range: timeRange } } as const;

const success = (data: object) => ({
  200: { type: "object", properties: { status: { type: "string" }, data } },
});

const counterValue = {
  type: "object",
  properties: {
    resource_id: { type: "string" },
    counter_type: { type: "string" },
    current_value: { type: "integer" },
    success: { type: "boolean" },
    timestamp: { type: "integer" },
  },
} as const;

export const incrementResponse = success(counterValue);
export const counterResponse = success(counterValue);
const batchData = {
  type: "object",
  properties: { results: { type: "array", items: counterValue }, count: { type: "integer" } },
} as const;
export const batchResponse = success(batchData);
/** A batch of increments of which some were refused: each result says whether it was applied. */
export const batchIncrementResponse = {
  ...success(batchData),
  207: {
    type: "object",
    properties: {
      status: { type: "string" },
      data: {
        type: "object",
        properties: {
          results: {
            type: "array",
            items: { ...counterValue, properties: { ...counterValue.properties, status: { type: "integer" }, error: { type: "string" } } },
          },
          count: { type: "integer" },
        },
      },
    },
  },
};

export const topResponse = success({
  type: "object",
  properties: {
    counter_type: { type: "string" },
    time_range: { type: "string" },
    page: { type: "integer" },
    limit: { type: "integer" },
    total: { type: "integer" },
    items: {
      type: "array",
      items: {
        type: "object",
        properties: {
          rank: { type: "integer" },
          resource_id: { type: "string" },
          value: { type: "integer" },
          increment_count: { type: "integer" },
        },
      },
    },
  },
});

export const statsResponse = success({
  type: "object",
  properties: {
    resource_id: { type: "string" },
    counter_type: { type: "string" },
    time_range: { type: "string" },
    total: { type: "integer" },
    increment_count: { type: "integer" },
    avg_per_hour: { type: "number" },
    peak: { type: "integer" },
    peak_hour: { type: "string" },
    trend: { type: "string" },
    trend_ratio: { type: "number" },
    series: {
      type: "array",
      items: {
        type: "object",
        properties: { hour: { type: "string" }, value: { type: "integer" }, increment_count: { type: "integer" } },
      },
    },
  },
});
