/**
 * Batch arithmetic, pure: a batch of increments becomes one INCRBY per
 * counter (deltas summed), and each caller's own post-increment value is
 * reconstructed from the counter's returned total and the caller's position
 * in the batch, as if the increments had been applied one by one in order.
 */
export interface IncrementOp {
  resourceId: string;
  counterType: string;
  delta: number;
  /** Idempotency key; such operations are applied (or recalled) one by one. */
  requestId?: string;
}

export interface CounterGroup {
  resourceId: string;
  counterType: string;
  /** Sum of the deltas of the plain (non-idempotent) operations. */
  sum: number;
  /** Number of plain operations folded into `sum`. */
  count: number;
}

export interface IdempotentOp {
  opIndex: number;
  group: number;
  delta: number;
  requestId: string;
  /** What the key was first used for; a different use is a conflict. */
  fingerprint: string;
}

export interface BatchPlan {
  groups: CounterGroup[];
  /** For op i without a request id: its group and running sum in that group up to and including it. */
  plain: Array<{ group: number; runningSum: number } | undefined>;
  idempotent: IdempotentOp[];
}

export function fingerprint(op: IncrementOp): string {
  return `${op.resourceId}:${op.counterType}:${op.delta}`;
}

export function planBatch(ops: readonly IncrementOp[]): BatchPlan {
  const groups: CounterGroup[] = [];
  const byCounter = new Map<string, number>();
  const plain: BatchPlan["plain"] = new Array(ops.length);
  const idempotent: IdempotentOp[] = [];
  ops.forEach((op, opIndex) => {
    const id = `${op.resourceId}:${op.counterType}`;
    let group = byCounter.get(id);
    if (group === undefined) {
      group = groups.push({ resourceId: op.resourceId, counterType: op.counterType, sum: 0, count: 0 }) - 1;
      byCounter.set(id, group);
    }
    if (op.requestId) {
      idempotent.push({ opIndex, group, delta: op.delta, requestId: op.requestId, fingerprint: fingerprint(op) });
      return;
    }
    const g = groups[group]!;
    g.sum += op.delta;
    g.count += 1;
    plain[opIndex] = { group, runningSum: g.sum };
  });
  return { groups, plain, idempotent };
}

/**
 * A counter value as the script returns it: a number while a double holds it
 * exactly (|v| < 2^53), its decimal string beyond.
 */
export type Value = number | string;

/**
 * Why Redis refused one increment; nothing of it was applied. Except
 * "unavailable": its shard of a cluster failed the call (the other shards'
 * operations of the batch went through), and it may or may not have been
 * applied.
 */
export type Refusal = "not_a_counter" | "overflow" | "idempotency_conflict" | "unexpected" | "unavailable";

export interface Refused {
  refused: Refusal;
  /** Redis's own words, for the log only. */
  detail?: string;
}

export type IdempotentOutcome = { value: Value; duplicate: boolean } | Refused;

export type OpResult = { currentValue: string; duplicate: boolean } | Refused;

export const isRefused = (r: object): r is Refused => "refused" in r;

/** `value + k` as an exact decimal string; k is a sum of bounded deltas. */
export function offsetValue(value: Value, k: number): string {
  if (typeof value === "number") {
    const sum = value + k;
    if (Number.isSafeInteger(sum)) return String(sum);
  }
  return String(BigInt(value) + BigInt(k));
}

/**
 * `totals[g]` is group g's value right after its summed INCRBY (or why it was
 * refused); plain operations are applied after the idempotent ones of the
 * same batch.
 */
export function resolveResults(
  plan: BatchPlan,
  totals: ReadonlyArray<Value | Refused>,
  outcomes: readonly IdempotentOutcome[],
): OpResult[] {
  const results: OpResult[] = new Array(plan.plain.length);
  plan.plain.forEach((slot, opIndex) => {
    if (!slot) return;
    const total = totals[slot.group]!;
    if (typeof total === "object") {
      results[opIndex] = total;
      return;
    }
    results[opIndex] = { currentValue: offsetValue(total, slot.runningSum - plan.groups[slot.group]!.sum), duplicate: false };
  });
  plan.idempotent.forEach((op, i) => {
    const outcome = outcomes[i]!;
    results[op.opIndex] = isRefused(outcome) ? outcome : { currentValue: String(outcome.value), duplicate: outcome.duplicate };
  });
  return results;
}
