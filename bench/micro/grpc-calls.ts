/**
 * What one coalesced batch costs grpc-js as a unary call
 * (`BatchGetCounters`) and as a message of a `BatchCalls` stream sent by the
 * gateway's own client (`services/gateway/batch-calls.ts`): client and
 * server CPU µs per call and wall µs per call, one call at a time (what a
 * batch meets at low concurrency). The server is a child process answering
 * 5 queries from memory, so only the transport is measured; the variants
 * alternate over the rounds, so both see the same box.
 *
 *   node dist/bench/micro/grpc-calls.js [--rounds 7] [--calls 4000]
 */
import { fork } from "node:child_process";
import { once } from "node:events";
import { cpuUsage } from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import {
  CounterServiceClient,
  CounterServiceService,
  type BatchCall,
  type BatchGetCountersRequest,
  type BatchGetCountersResponse,
  type BatchReply,
  type CounterServiceServer,
} from "../../services/lib/gen/highgopress/counter/v1/counter.js";
import { createBatchCalls } from "../../services/gateway/batch-calls.js";
import { formatTable, median, spread } from "./stats.js";

const answer = (req: BatchGetCountersRequest): BatchGetCountersResponse => ({
  results: req.queries.map((q) => ({ ...q, currentValue: "42", timestampMs: Date.now(), error: undefined })),
});

async function serve(): Promise<void> {
  const server = new grpc.Server();
  const handlers: Partial<CounterServiceServer> = {
    batchGetCounters: (call, cb) => cb(null, answer(call.request)),
    batchCalls: (call) => {
      call.on("data", (m: BatchCall) => {
        if (m.call?.$case === "get") call.write({ callId: m.callId, reply: { $case: "get", value: answer(m.call.value) } } satisfies BatchReply);
      });
      call.on("end", () => call.end());
    },
  };
  server.addService(CounterServiceService, handlers as CounterServiceServer);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  process.on("message", (m) => {
    if (m === "cpu") process.send!(cpuUsage());
  });
  process.send!({ port });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: "string", default: "7" }, calls: { type: "string", default: "4000" } } });
  const rounds = Number(values.rounds);
  const calls = Number(values.calls);
  const child = fork(fileURLToPath(import.meta.url), ["--serve"]);
  const [{ port }] = (await once(child, "message")) as [{ port: number }];
  const serverCpu = async () => {
    child.send("cpu");
    const [u] = (await once(child, "message")) as [NodeJS.CpuUsage];
    return u.user + u.system;
  };
  const client = new CounterServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const stream = createBatchCalls({ open: () => client.batchCalls() });
  const request: BatchGetCountersRequest = { queries: Array.from({ length: 5 }, (_, i) => ({ resourceId: `r${i}`, counterType: "like" })) };
  const variants: Record<string, () => Promise<unknown>> = {
    "unary BatchGetCounters": () =>
      new Promise((resolve, reject) => client.batchGetCounters(request, new grpc.Metadata(), { deadline: Date.now() + 2_000 }, (err, res) => (err ? reject(err) : resolve(res)))),
    "BatchCalls message": () => stream.call("get", request, 2_000, ""),
  };
  const names = Object.keys(variants);
  const samples = new Map(names.map((n) => [n, { client: [] as number[], server: [] as number[], wall: [] as number[] }]));
  for (const name of names) for (let i = 0; i < 1_000; i++) await variants[name]!();
  for (let round = 0; round < rounds; round++) {
    for (const name of round % 2 ? [...names].reverse() : names) {
      const s0 = await serverCpu();
      const c0 = cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) await variants[name]!();
      const wall = performance.now() - t0;
      const c = cpuUsage(c0);
      const s = (await serverCpu()) - s0;
      const m = samples.get(name)!;
      m.client.push((c.user + c.system) / calls);
      m.server.push(s / calls);
      m.wall.push((wall * 1_000) / calls);
    }
  }
  stream.close();
  client.close();
  child.kill();
  console.log(`grpc-js one call at a time, ${rounds} rounds × ${calls} calls, 5 queries per call; median (range) per call:\n`);
  console.log(
    formatTable(
      ["variant", "client CPU µs", "server CPU µs", "wall µs"],
      names.map((n) => {
        const m = samples.get(n)!;
        return [n, `${median(m.client).toFixed(0)} (${spread(m.client, 0)})`, `${median(m.server).toFixed(0)} (${spread(m.server, 0)})`, `${median(m.wall).toFixed(0)} (${spread(m.wall, 0)})`];
      }),
    ),
  );
}

if (process.argv.includes("--serve")) await serve();
else await main();
