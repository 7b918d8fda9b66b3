/**
 * Runs wrk with bench/wrk/hgp.lua: exactly `total` requests over
 * `connections` keep-alive connections, and reads back what the script
 * recorded. wrk (C, epoll) is used because on a 2-core box the generator
 * shares the cores with the system under test, and wrk costs far less CPU
 * per request than a Node-based generator.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const LUA_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "../../bench/wrk/hgp.lua");

export interface WrkOptions {
  url: string;
  requestsFile: string;
  total: number;
  connections: number;
  threads: number;
  outFile: string;
  /** wrk ends itself after this long even if answers are missing. */
  capSeconds: number;
  timeoutSeconds?: number;
}

export interface WrkRaw {
  requests: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { mean: number; stdev: number; max: number; p50: number; p90: number; p99: number; "p99.9": number };
  threads: Array<{ tid: number; quota: number; issued: number; idle: number; conns: number; t0: number; t1: number }>;
}

export interface LoadResult {
  requests: number;
  ok: number;
  /** Answers with status > 399 (wrk's count). */
  non2xx: number;
  socketErrors: number;
  errors: number;
  /** First request sent to last answer received, over all threads. */
  seconds: number;
  qps: number;
  latencyMs: { mean: number; p50: number; p90: number; p99: number; p999: number; max: number };
  /** Every request was answered. */
  complete: boolean;
}

/** What the Lua script wrote, as the numbers the report needs. */
export function summarize(raw: WrkRaw, total: number, capSeconds: number): LoadResult {
  const e = raw.errors;
  const complete = raw.requests >= total && raw.threads.every((t) => t.t1 > 0);
  const starts = raw.threads.filter((t) => t.t0 > 0).map((t) => t.t0);
  const ends = raw.threads.map((t) => t.t1).filter((t) => t > 0);
  const seconds = complete && starts.length > 0 ? Math.max(...ends) - Math.min(...starts) : capSeconds;
  const non2xx = e.status;
  // Requests never answered (socket errors, timeouts) are missing from wrk's count.
  const socketErrors = Math.max(e.connect + e.read + e.write + e.timeout, total - raw.requests);
  const ms = (us: number) => Math.round(us / 10) / 100;
  const l = raw.latency_us;
  return {
    requests: raw.requests,
    ok: raw.requests - non2xx,
    non2xx,
    socketErrors,
    errors: non2xx + socketErrors,
    seconds,
    qps: seconds > 0 ? raw.requests / seconds : 0,
    latencyMs: { mean: ms(l.mean), p50: ms(l.p50), p90: ms(l.p90), p99: ms(l.p99), p999: ms(l["p99.9"]), max: ms(l.max) },
    complete,
  };
}

export interface WrkHooks {
  /** wrk is running (pid known). */
  started?(pid: number): void;
  /** Every thread has its answers; called before wrk is told to stop. */
  finished?(): void;
}

export function runWrk(options: WrkOptions, hooks: WrkHooks = {}): Promise<LoadResult> {
  const args = [
    "-t", String(options.threads),
    "-c", String(options.connections),
    "-d", `${options.capSeconds}s`,
    "--timeout", `${options.timeoutSeconds ?? 10}s`,
    "-s", LUA_SCRIPT,
    options.url,
    "--",
    options.requestsFile,
    String(options.total),
    "0",
    options.outFile,
    String(options.threads),
    String(options.connections),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
    let doneThreads = 0;
    let stderr = "";
    let stdout = "";
    let finished = false;
    child.on("spawn", () => hooks.started?.(child.pid!));
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      const seen = stderr.match(/HGP_THREAD_DONE/g)?.length ?? 0;
      if (seen > doneThreads) doneThreads = seen;
      if (!finished && doneThreads >= options.threads) {
        finished = true;
        hooks.finished?.();
        child.kill("SIGINT");
      }
    });
    child.on("error", (err) =>
      reject(new Error(`could not run wrk (${err.message}); install it with 'apt-get install -y wrk' (scripts/bench.sh does)`)),
    );
    child.on("exit", (code) => {
      if (!finished) hooks.finished?.();
      if (code !== 0) return reject(new Error(`wrk exited with ${code}: ${stderr.replace(/HGP_THREAD_DONE \d+\n/g, "").trim() || stdout.trim()}`));
      try {
        const raw = JSON.parse(readFileSync(options.outFile, "utf8")) as WrkRaw;
        resolve(summarize(raw, options.total, options.capSeconds));
      } catch (err) {
        reject(new Error(`wrk left no readable result in ${options.outFile}: ${(err as Error).message}`));
      }
    });
  });
}
