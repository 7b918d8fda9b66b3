/**
 * The five levels of the original load test and the request mixes, pure:
 * a scenario and a level become the exact list of HTTP requests (the same
 * list is sent to the ceiling server and to the system) and, for writes,
 * how much each key must have been incremented once every request is
 * acknowledged.
 */
import { Zipf } from "./zipf.js";

export interface Level {
  name: string;
  requests: number;
  connections: number;
}

/** The original's progressive levels (1k/10c … 50k/500c). */
export const LEVELS: readonly Level[] = [
  { name: "L1", requests: 1_000, connections: 10 },
  { name: "L2", requests: 5_000, connections: 50 },
  { name: "L3", requests: 10_000, connections: 100 },
  { name: "L4", requests: 20_000, connections: 200 },
  { name: "L5", requests: 50_000, connections: 500 },
];

export const SCENARIOS = ["health", "read", "write-hot", "write-zipf", "batch"] as const;
export type Scenario = (typeof SCENARIOS)[number];

export const isWrite = (s: Scenario) => s === "write-hot" || s === "write-zipf" || s === "batch";

export const ZIPF_IDS = 100_000;
export const ZIPF_S = 1.1;
/** Operations per batch-increment request. */
export const BATCH_OPS = 10;
export const HOT_KEY = "hot";
/** The counter type the read scenario reads. */
export const READ_TYPE = "like";

export interface HttpRequestSpec {
  method: "GET" | "POST";
  path: string;
  body?: string;
}

export interface Workload {
  scenario: Scenario;
  /** The requests, in order; thread t of T sends those with index % T === t. */
  requests: HttpRequestSpec[];
  /** Counter type the writes go to (unique per run and level). */
  counterType: string;
  /** Per resource id, the delta sum Redis must hold when every request is acknowledged. */
  expected: Map<string, number>;
}

let zipfCache: Zipf | undefined;
const zipf = () => (zipfCache ??= new Zipf(ZIPF_IDS, ZIPF_S));

export const zipfId = (rank: number) => `z${rank}`;

/** A stable 32-bit seed from a label, so a level's key sequence is reproducible. */
export function seedOf(label: string): number {
  let h = 2166136261;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

const incrementBody = (resourceId: string, counterType: string) =>
  `{"resource_id":"${resourceId}","counter_type":"${counterType}","delta":1}`;

/**
 * The requests of one run. `requests` is the level's request count; static
 * scenarios (health, write-hot) return a single request that every
 * connection repeats.
 */
export function buildWorkload(scenario: Scenario, requests: number, counterType: string, seedLabel: string): Workload {
  const expected = new Map<string, number>();
  const add = (id: string, delta: number) => expected.set(id, (expected.get(id) ?? 0) + delta);
  const seed = seedOf(seedLabel);
  switch (scenario) {
    case "health":
      return { scenario, requests: [{ method: "GET", path: "/api/v1/health" }], counterType, expected };
    case "read": {
      const ranks = zipf().sample(requests, seed);
      const list = Array.from(ranks, (r) => ({ method: "GET" as const, path: `/api/v1/counter/${zipfId(r)}/${READ_TYPE}` }));
      return { scenario, requests: list, counterType: READ_TYPE, expected };
    }
    case "write-hot":
      add(HOT_KEY, requests);
      return {
        scenario,
        requests: [{ method: "POST", path: "/api/v1/counter/increment", body: incrementBody(HOT_KEY, counterType) }],
        counterType,
        expected,
      };
    case "write-zipf": {
      const ranks = zipf().sample(requests, seed);
      const list = Array.from(ranks, (r) => {
        add(zipfId(r), 1);
        return { method: "POST" as const, path: "/api/v1/counter/increment", body: incrementBody(zipfId(r), counterType) };
      });
      return { scenario, requests: list, counterType, expected };
    }
    case "batch": {
      const ranks = zipf().sample(requests * BATCH_OPS, seed);
      const list: HttpRequestSpec[] = [];
      for (let i = 0; i < requests; i++) {
        const ops: string[] = [];
        for (let j = 0; j < BATCH_OPS; j++) {
          const id = zipfId(ranks[i * BATCH_OPS + j]!);
          add(id, 1);
          ops.push(`{"resource_id":"${id}","counter_type":"${counterType}","delta":1}`);
        }
        list.push({ method: "POST", path: "/api/v1/counter/batch-increment", body: `{"operations":[${ops.join(",")}]}` });
      }
      return { scenario, requests: list, counterType, expected };
    }
  }
}

/** Requests thread `t` (0-based) of `threads` sends, as the Lua script splits them. */
export function threadQuota(total: number, threads: number, t: number): number {
  return Math.floor(total / threads) + (t < total % threads ? 1 : 0);
}

/** One line per request: METHOD \t PATH \t BODY (what bench/wrk/hgp.lua reads). */
export function requestFile(requests: readonly HttpRequestSpec[]): string {
  return requests.map((r) => `${r.method}\t${r.path}\t${r.body ?? ""}`).join("\n") + "\n";
}
