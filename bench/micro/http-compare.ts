/**
 * Compares fastify server variants by the server's own CPU time per request,
 * the figure that a noisy shared box distorts least (bench/README.md,
 * "Reading the numbers"). Each variant runs in its own child process on
 * 127.0.0.1 and a free port; the parent drives them with an undici pool,
 * one variant at a time, the order rotating every round, so every variant
 * sees the same box. Reported: median and range over the rounds of CPU µs
 * per request and of requests per second, and the median of the per-round
 * differences to the reference variant (a pair measured seconds apart shares
 * most of the box's noise, so this is the figure to decide on).
 *
 * The same variants are then measured in one process through fastify's
 * inject (no sockets, no client process): the same hooks, validation and
 * serialization, with less noise around them.
 *
 * A bench file calls `runHttpComparison` with its variants; the same file,
 * started by the parent with `--serve <name>`, builds that variant and serves.
 */
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import type { FastifyInstance } from "fastify";
import { Pool } from "undici";
import { formatTable, median, spread } from "./stats.js";

export interface HttpRequestSpec {
  method: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Every answer must have this status (a check that the variants do the same work). */
  status: number;
}

export interface HttpComparison {
  title: string;
  variants: Record<string, () => Promise<FastifyInstance> | FastifyInstance>;
  request: HttpRequestSpec;
  /** The variant the others are compared with. */
  reference: string;
}

interface Options {
  rounds: number;
  requests: number;
  connections: number;
  warmup: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { rounds: 15, requests: 8_000, connections: 32, warmup: 20_000 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i]!.replace(/^--/, "") as keyof Options;
    const value = Number(argv[i + 1]);
    if (!(key in options) || !Number.isInteger(value) || value < 1) throw new Error(`usage: [--rounds N] [--requests N] [--connections N] [--warmup N], got ${argv.join(" ")}`);
    options[key] = value;
  }
  return options;
}

type Message = { port: number } | { cpuMicros: number };

async function serve(comparison: HttpComparison, name: string): Promise<void> {
  const build = comparison.variants[name];
  if (!build) throw new Error(`no variant ${name}`);
  const app = await build();
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  process.on("message", (message) => {
    if (message === "cpu") {
      const usage = process.cpuUsage();
      process.send!({ cpuMicros: usage.user + usage.system } satisfies Message);
    } else if (message === "stop") {
      void app.close().then(() => process.exit(0));
    }
  });
  process.send!({ port } satisfies Message);
}

class Server {
  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly pool: Pool,
  ) {}

  static async start(name: string): Promise<Server> {
    const child = fork(process.argv[1]!, ["--serve", name], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const [message] = (await once(child, "message")) as [Message];
    if (!("port" in message)) throw new Error(`${name} did not report its port`);
    return new Server(name, child, new Pool(`http://127.0.0.1:${message.port}`, { connections: 64, pipelining: 1 }));
  }

  async cpuMicros(): Promise<number> {
    this.child.send("cpu");
    const [message] = (await once(this.child, "message")) as [Message];
    if (!("cpuMicros" in message)) throw new Error(`${this.name} did not report its CPU time`);
    return message.cpuMicros;
  }

  async stop(): Promise<void> {
    await this.pool.close();
    this.child.send("stop");
    await once(this.child, "exit");
  }
}

/** Sends `count` requests over `connections` concurrent loops; throws on an unexpected status. */
async function load(server: Server, spec: HttpRequestSpec, count: number, connections: number): Promise<number> {
  let sent = 0;
  const started = performance.now();
  const loop = async () => {
    while (sent < count) {
      sent++;
      const response = await server.pool.request({ method: spec.method, path: spec.path, headers: spec.headers, body: spec.body });
      await response.body.dump();
      if (response.statusCode !== spec.status) throw new Error(`${server.name}: ${spec.method} ${spec.path} answered ${response.statusCode}, expected ${spec.status}`);
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  return performance.now() - started;
}

interface Sample {
  cpuMicrosPerRequest: number;
  requestsPerSecond: number;
}

const signed = (v: number, digits: number) => `${v >= 0 ? "+" : ""}${v.toFixed(digits)}`;

/** Rows of CPU µs per request: median, range, and the median per-round difference to the reference. */
function cpuRows(names: readonly string[], samples: Map<string, Sample[]>, reference: string): string[][] {
  const ref = samples.get(reference)!.map((s) => s.cpuMicrosPerRequest);
  const refMedian = median(ref);
  return names.map((name) => {
    const cpu = samples.get(name)!.map((s) => s.cpuMicrosPerRequest);
    const diffs = cpu.map((v, i) => v - ref[i]!);
    const d = median(diffs);
    return [name, median(cpu).toFixed(1), spread(cpu, 1), `${signed(d, 2)} (${signed((d / refMedian) * 100, 1)}%)`, `${signed(Math.min(...diffs), 1)}…${signed(Math.max(...diffs), 1)}`];
  });
}

const CPU_HEADERS = (reference: string) => ["variant", "CPU µs/req (median)", "range", `paired Δ vs ${reference} (median)`, "Δ range"];

/** All variants in this process, driven by inject with `concurrency` requests in flight. */
async function injectComparison(comparison: HttpComparison, options: Options): Promise<void> {
  const names = Object.keys(comparison.variants);
  const apps = await Promise.all(names.map(async (name) => [name, await comparison.variants[name]!()] as const));
  const { method, path, headers, body, status } = comparison.request;
  const run = async (name: string, app: FastifyInstance, count: number) => {
    let sent = 0;
    const loop = async () => {
      while (sent++ < count) {
        const response = await app.inject({ method, url: path, headers, payload: body });
        if (response.statusCode !== status) throw new Error(`${name}: inject answered ${response.statusCode}, expected ${status}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, loop));
  };
  try {
    for (const [name, app] of apps) await run(name, app, options.warmup);
    const samples = new Map<string, Sample[]>(names.map((name) => [name, []]));
    for (let round = 0; round < options.rounds; round++) {
      for (let i = 0; i < apps.length; i++) {
        const [name, app] = apps[(i + round) % apps.length]!;
        const before = process.cpuUsage();
        await run(name, app, options.requests);
        const used = process.cpuUsage(before);
        samples.get(name)!.push({ cpuMicrosPerRequest: (used.user + used.system) / options.requests, requestsPerSecond: 0 });
      }
    }
    console.log(`\nThe same through fastify inject, in one process: ${options.rounds} rounds × ${options.requests.toLocaleString("en")} requests, 8 in flight; process CPU per request (inject's own cost included, the same for every variant)\n`);
    console.log(formatTable(CPU_HEADERS(comparison.reference), cpuRows(names, samples, comparison.reference)));
  } finally {
    await Promise.all(apps.map(([, app]) => app.close()));
  }
}

export async function runHttpComparison(comparison: HttpComparison): Promise<void> {
  const serveAt = process.argv.indexOf("--serve");
  if (serveAt >= 0) return serve(comparison, process.argv[serveAt + 1]!);

  const options = parseOptions(process.argv.slice(2));
  const names = Object.keys(comparison.variants);
  const servers = await Promise.all(names.map((name) => Server.start(name)));
  try {
    for (const server of servers) await load(server, comparison.request, options.warmup, options.connections);
    const samples = new Map<string, Sample[]>(names.map((name) => [name, []]));
    for (let round = 0; round < options.rounds; round++) {
      for (let i = 0; i < servers.length; i++) {
        const server = servers[(i + round) % servers.length]!;
        const before = await server.cpuMicros();
        const ms = await load(server, comparison.request, options.requests, options.connections);
        const cpu = (await server.cpuMicros()) - before;
        samples.get(server.name)!.push({ cpuMicrosPerRequest: cpu / options.requests, requestsPerSecond: (options.requests * 1000) / ms });
      }
    }
    console.log(`\n${comparison.title}`);
    console.log(
      `${comparison.request.method} ${comparison.request.path}, over HTTP: ${options.rounds} rounds × ${options.requests.toLocaleString("en")} requests over ${options.connections} connections per variant, order rotating; server process CPU (user + system) per request\n`,
    );
    const rows = cpuRows(names, samples, comparison.reference).map((row, i) => {
      const rps = samples.get(names[i]!)!.map((s) => s.requestsPerSecond);
      return [...row, Math.round(median(rps)).toLocaleString("en")];
    });
    console.log(formatTable([...CPU_HEADERS(comparison.reference), "req/s (median)"], rows));
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
  await injectComparison(comparison, options);
}
