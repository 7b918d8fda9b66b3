/**
 * Input rules shared by every boundary (HTTP schemas, gRPC handlers). The
 * identifier alphabet excludes ':' so two different (resource_id,
 * counter_type) pairs can never map to the same Redis key.
 */
export const ID_PATTERN = "^[A-Za-z0-9_.-]{1,128}$";
export const MAX_ABS_DELTA = 1_000_000_000;
/** Per HTTP batch request (the original's limit). */
export const MAX_HTTP_BATCH = 100;
export const TIME_RANGES = ["1h", "24h", "7d", "30d"] as const;
export type TimeRange = (typeof TIME_RANGES)[number];

const idRegex = new RegExp(ID_PATTERN);

export function isValidId(value: unknown): value is string {
  return typeof value === "string" && idRegex.test(value);
}

export function isValidDelta(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && Math.abs(value) <= MAX_ABS_DELTA;
}

export function isTimeRange(value: unknown): value is TimeRange {
  return typeof value === "string" && (TIME_RANGES as readonly string[]).includes(value);
}

/** The first rule an increment breaks, as a sentence naming the field. */
export function incrementProblem(op: { resourceId: unknown; counterType: unknown; delta: unknown }): string | undefined {
  if (!isValidId(op.resourceId)) return "resource_id must be 1-128 characters of A-Z a-z 0-9 _ . -";
  if (!isValidId(op.counterType)) return "counter_type must be 1-128 characters of A-Z a-z 0-9 _ . -";
  if (!isValidDelta(op.delta)) return `delta must be an integer between -${MAX_ABS_DELTA} and ${MAX_ABS_DELTA}`;
  return undefined;
}
