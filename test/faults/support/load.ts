/**
 * Load generation and bookkeeping for the fault tests: a bounded closed-loop
 * (optionally paced) load over keep-alive connections on loopback, and a
 * ledger of increments with one unique counter per request, so that after a
 * fault every single increment can be checked against Redis and analytics.
 */
import { readFileSync } from "node:fs";
import type { Stack } from "../../support/stack.js";
import { Pool } from "undici";
import { eventually, http, sleep } from "../../support/stack.js";

export interface LoadRequest {
  method: "GET" | "POST";
  path: string;
  body?: string;
  headers?: Record<string, string>;
}

export interface Outcome {
  /** HTTP status, or 0 when no answer came (connection refused or reset, timeout). */
  status: number;
  error?: string;
  body?: string;
  retryAfter?: string;
  sentAt: number;
  latencyMs: number;
}

export interface LoadOptions {
  origin: string;
  connections: number;
  /** Stop after this long (the requests in flight then still complete). */
  durationMs: number;
  /** Stop after this many requests. */
  maxRequests?: number;
  /** Overall pace in requests per second; unpaced when absent. */
  ratePerSecond?: number;
  /** Per request timeout for the answer. */
  timeoutMs?: number;
  /** Keep the answer body in the outcome. */
  keepBody?: boolean;
  /** Checked before each request: true ends the load early. */
  stop?: () => boolean;
  next(i: number): LoadRequest;
  onResult?(i: number, outcome: Outcome): void;
}

export interface LoadSummary {
  requests: number;
  elapsedMs: number;
  byStatus: Record<string, number>;
  latencies: number[];
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function runLoad(options: LoadOptions): Promise<LoadSummary> {
  const pool = new Pool(options.origin, {
    connections: options.connections,
    pipelining: 1,
    headersTimeout: options.timeoutMs ?? 10_000,
    bodyTimeout: options.timeoutMs ?? 10_000,
    connect: { timeout: 5_000 },
  });
  const started = Date.now();
  const summary: LoadSummary = { requests: 0, elapsedMs: 0, byStatus: {}, latencies: [] };
  let issued = 0;
  const max = options.maxRequests ?? Number.POSITIVE_INFINITY;
  async function worker(): Promise<void> {
    for (;;) {
      if (issued >= max || Date.now() - started >= options.durationMs || options.stop?.()) return;
      const i = issued++;
      if (options.ratePerSecond) {
        const due = started + (i * 1000) / options.ratePerSecond;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        if (Date.now() - started >= options.durationMs) return;
      }
      const req = options.next(i);
      const sentAt = Date.now();
      const t0 = performance.now();
      let outcome: Outcome;
      try {
        const res = await pool.request({
          method: req.method,
          path: req.path,
          body: req.body,
          headers: req.body === undefined ? req.headers : { "content-type": "application/json", ...req.headers },
        });
        const body = await res.body.text();
        const retryAfter = res.headers["retry-after"];
        outcome = {
          status: res.statusCode,
          body: options.keepBody || res.statusCode >= 400 ? body : undefined,
          retryAfter: typeof retryAfter === "string" ? retryAfter : undefined,
          sentAt,
          latencyMs: performance.now() - t0,
        };
      } catch (err) {
        outcome = { status: 0, error: (err as Error & { code?: string }).code ?? (err as Error).message, sentAt, latencyMs: performance.now() - t0 };
      }
      summary.requests++;
      summary.byStatus[outcome.status] = (summary.byStatus[outcome.status] ?? 0) + 1;
      summary.latencies.push(outcome.latencyMs);
      options.onResult?.(i, outcome);
    }
  }
  try {
    await Promise.all(Array.from({ length: options.connections }, worker));
  } finally {
    summary.elapsedMs = Date.now() - started;
    await pool.close().catch(() => undefined);
  }
  return summary;
}

/** What the client knows about one increment. */
export type Fate = "acknowledged" | "refused" | "in-doubt";

/**
 * 2xx: acknowledged, so it must be stored exactly once. 4xx (bad input, 429
 * shed or rate limited), a 503 for an open circuit (the gateway did not call
 * the counter) and fastify's 503 while closing (the request was not routed):
 * refused before any write, so it must not be stored. No answer or any
 * other 5xx: in doubt, stored at most once.
 */
export function fateOf(outcome: Outcome): Fate {
  if (outcome.status >= 200 && outcome.status < 300) return "acknowledged";
  if (outcome.status >= 400 && outcome.status < 500) return "refused";
  if (outcome.status === 503 && /circuit open|"message":"Service Unavailable"/.test(outcome.body ?? "")) return "refused";
  return "in-doubt";
}

/** Increments on a counter of their own each (delta 1-7), so each one can be found again. */
/** Increments from `ledger` under runLoad; every outcome is recorded in the ledger and kept by request number. */
export function runLedgerLoad(
  ledger: IncrementLedger,
  options: Omit<LoadOptions, "next" | "onResult">,
): { done: Promise<LoadSummary>; outcomes: Outcome[] } {
  const outcomes: Outcome[] = [];
  const done = runLoad({
    ...options,
    next: ledger.request,
    onResult: (i, o) => {
      ledger.record(i, o);
      outcomes[i] = o;
    },
  });
  return { done, outcomes };
}

/** The fault scenarios' write load: 300 increments/s from 16 connections, until stopped (at most a minute). */
export const PACED_WRITES = { connections: 16, ratePerSecond: 300, durationMs: 60_000, timeoutMs: 10_000 } as const;

export class IncrementLedger {
  readonly delta: number[] = [];
  readonly fate: Fate[] = [];
  readonly status: number[] = [];
  readonly sentAt: number[] = [];

  constructor(
    readonly prefix: string,
    readonly counterType: string,
    private readonly headers: Record<string, string> = {},
  ) {}

  resourceId(i: number): string {
    return `${this.prefix}${i}`;
  }

  request = (i: number): LoadRequest => {
    this.delta[i] = 1 + (i % 7);
    return {
      method: "POST",
      path: "/api/v1/counter/increment",
      body: JSON.stringify({ resource_id: this.resourceId(i), counter_type: this.counterType, delta: this.delta[i] }),
      headers: this.headers,
    };
  };

  record = (i: number, outcome: Outcome): void => {
    this.fate[i] = fateOf(outcome);
    this.status[i] = outcome.status;
    this.sentAt[i] = outcome.sentAt;
  };

  get size(): number {
    return this.fate.length;
  }

  count(fate: Fate): number {
    return this.fate.filter((f) => f === fate).length;
  }

  acknowledgedSum(): number {
    return this.fate.reduce((sum, f, i) => (f === "acknowledged" ? sum + this.delta[i]! : sum), 0);
  }
}

export interface LedgerCheck {
  requests: number;
  acknowledged: number;
  refused: number;
  inDoubt: number;
  inDoubtStored: number;
  acknowledgedSum: number;
  storedSum: number;
  /** Human-readable violations; empty when every increment is where it should be. */
  problems: string[];
  /** Stored value per resource id (only non-zero ones). */
  stored: Map<string, number>;
}

/** The counts of a ledger check, as a fault scenario reports them. */
export function ledgerFigures({ problems: _problems, stored: _stored, ...figures }: LedgerCheck): Omit<LedgerCheck, "problems" | "stored"> {
  return figures;
}

/** Where a ledger's counters are: the stack's Redis and key layout (standalone or cluster). */
type CounterStore = Pick<Stack, "redis" | "counterKey">;

/**
 * Reads every counter of the ledger from Redis and checks: an acknowledged
 * increment is stored exactly once (value == its delta), a refused one not
 * at all, one in doubt at most once.
 */

export async function checkLedger({ redis, counterKey }: CounterStore, ledger: IncrementLedger): Promise<LedgerCheck> {
  const result: LedgerCheck = {
    requests: ledger.size,
    acknowledged: 0,
    refused: 0,
    inDoubt: 0,
    inDoubtStored: 0,
    acknowledgedSum: 0,
    storedSum: 0,
    problems: [],
    stored: new Map(),
  };
  for (let start = 0; start < ledger.size; start += 1000) {
    const ids = Array.from({ length: Math.min(1000, ledger.size - start) }, (_, k) => start + k);
    // One GET per key: a cluster refuses an MGET across slots.
    const values = await Promise.all(ids.map((i) => redis.get(counterKey(ledger.resourceId(i), ledger.counterType))));
    ids.forEach((i, k) => {
      const stored = values[k] === null ? 0 : Number(values[k]);
      const delta = ledger.delta[i]!;
      const fate = ledger.fate[i];
      if (stored !== 0) result.stored.set(ledger.resourceId(i), stored);
      result.storedSum += stored;
      if (fate === "acknowledged") {
        result.acknowledged++;
        result.acknowledgedSum += delta;
        if (stored !== delta) result.problems.push(`request ${i} was acknowledged (delta ${delta}) but Redis holds ${stored}`);
      } else if (fate === "refused") {
        result.refused++;
        if (stored !== 0) result.problems.push(`request ${i} was refused with ${ledger.status[i]} but Redis holds ${stored}`);
      } else {
        result.inDoubt++;
        if (stored === delta) result.inDoubtStored++;
        else if (stored !== 0) result.problems.push(`request ${i} (in doubt, delta ${delta}) is stored as ${stored}`);
      }
    });
  }
  return result;
}

/** Every ranked item of a counter type over the last 24 h, walking the pages. */
export async function analyticsRanking(gatewayUrl: string, counterType: string): Promise<Map<string, { value: number; count: number }>> {
  const ranking = new Map<string, { value: number; count: number }>();
  for (let page = 1; page <= 10_000; page++) {
    const r = await http("GET", `${gatewayUrl}/api/v1/analytics/top?counter_type=${counterType}&limit=100&page=${page}&time_range=24h`);
    if (r.status !== 200) throw new Error(`top answered ${r.status}: ${JSON.stringify(r.body)}`);
    for (const item of r.body.data.items) ranking.set(item.resource_id, { value: item.value, count: item.increment_count });
    if (r.body.data.items.length < 100) break;
  }
  return ranking;
}

/**
 * Waits until analytics holds exactly what Redis holds for the ledger's
 * counters (each stored increment counted once, with increment_count 1),
 * and returns the last difference seen if it never does.
 */
export async function expectAnalyticsEqualsRedis(gatewayUrl: string, check: LedgerCheck, counterType: string, timeoutMs = 90_000): Promise<void> {
  let last = "";
  await eventually(
    "analytics to equal Redis",
    async () => {
      const ranking = await analyticsRanking(gatewayUrl, counterType);
      const diffs: string[] = [];
      for (const [id, value] of check.stored) {
        const got = ranking.get(id);
        if (!got || got.value !== value || got.count !== 1) diffs.push(`${id}: redis ${value}, analytics ${JSON.stringify(got)}`);
      }
      for (const id of ranking.keys()) if (!check.stored.has(id)) diffs.push(`${id}: in analytics but not in Redis`);
      last = `${diffs.length} differences (${ranking.size} ranked, ${check.stored.size} stored), e.g. ${diffs.slice(0, 3).join("; ")}`;
      return diffs.length === 0 ? true : undefined;
    },
    timeoutMs,
    1_000,
  ).catch((err) => {
    throw new Error(`${(err as Error).message}; last: ${last}`);
  });
}

/** Resident set size of a process in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
  return kb === undefined ? 0 : Number(kb) * 1024;
}

/** One metric's value from a Prometheus text page (first matching series, or the sum of all when `sum`). */
export async function scrape(url: string, name: string, sum = false): Promise<number> {
  const text = await (await fetch(url)).text();
  const lines = text.split("\n").filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  const values = lines.map((l) => Number(l.split(" ").pop()));
  return sum ? values.reduce((a, b) => a + b, 0) : (values[0] ?? 0);
}

/** Deletes the counters a ledger created (and their idempotency keys are short-lived anyway). */
export async function dropLedgerKeys({ redis, counterKey }: CounterStore, ledger: IncrementLedger): Promise<void> {
  for (let start = 0; start < ledger.size; start += 1000) {
    const keys = Array.from({ length: Math.min(1000, ledger.size - start) }, (_, k) => counterKey(ledger.resourceId(start + k), ledger.counterType));
    await Promise.all(keys.map((key) => redis.unlink(key)));
  }
}

export function summarize(s: LoadSummary): string {
  const qps = Math.round((s.requests * 1000) / Math.max(1, s.elapsedMs));
  return `${s.requests} requests in ${(s.elapsedMs / 1000).toFixed(1)} s (${qps}/s), statuses ${JSON.stringify(s.byStatus)}, p50 ${percentile(s.latencies, 50).toFixed(1)} ms, p99 ${percentile(s.latencies, 99).toFixed(1)} ms`;
}
