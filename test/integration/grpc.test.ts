import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { service as healthService } from "grpc-health-check";
import { createCounterService } from "../../services/counter/grpc-service.js";
import { createCounterStore } from "../../services/counter/store.js";
import { createBatchCalls } from "../../services/gateway/batch-calls.js";
import { createDownstream } from "../../services/gateway/downstream.js";
import { startGrpcServer } from "../../services/lib/grpc-server.js";
import { createLogger } from "../../services/lib/logger.js";
import { STANDALONE } from "../../services/lib/redis-shards.js";
import {
  CounterServiceClient,
  CounterServiceService,
  type BatchReply,
  type CounterServiceServer,
  type GetCounterRequest,
  type GetCounterResponse,
  type IncrementCounterRequest,
  type IncrementCounterResponse,
  type StreamIncrementsResponse,
} from "../../services/lib/gen/highgopress/counter/v1/counter.js";
import { startStack, type Stack } from "../support/stack.js";

let stack: Stack;
let client: CounterServiceClient;
before(async () => {
  stack = await startStack({ services: ["counter"] });
  client = new CounterServiceClient(`127.0.0.1:${stack.ports.counter}`, grpc.credentials.createInsecure());
});
after(async () => {
  client?.close();
  await stack?.stop();
});

const unary = <Req, Res>(fn: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown, req: Req) =>
  new Promise<Res>((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res))));

describe("counter gRPC API", () => {
  test("IncrementCounter and GetCounter", async () => {
    const resourceId = `g-${stack.runId}`;
    const r = await unary<IncrementCounterRequest, IncrementCounterResponse>(client.incrementCounter.bind(client), { resourceId, counterType: "like", delta: 4, requestId: "", userId: "" });
    assert.equal(r.currentValue, "4");
    const g = await unary<GetCounterRequest, GetCounterResponse>(client.getCounter.bind(client), { resourceId, counterType: "like" });
    assert.equal(g.currentValue, "4");
  });

  test("invalid input is INVALID_ARGUMENT naming the operation and field", async () => {
    await assert.rejects(
      unary(client.batchIncrementCounters.bind(client), {
        operations: [
          { resourceId: "ok", counterType: "like", delta: 1, requestId: "", userId: "" },
          { resourceId: "bad:id", counterType: "like", delta: 1, requestId: "", userId: "" },
        ],
      }),
      (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && /operations\[1\]: resource_id/.test(err.details),
    );
    await assert.rejects(
      unary(client.incrementCounter.bind(client), { resourceId: "a", counterType: "like", delta: 2e9, requestId: "", userId: "" }),
      (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && /delta/.test(err.details),
    );
  });

  test("StreamIncrements answers each message in order with exact values", async () => {
    const resourceId = `s-${stack.runId}`;
    const call = client.streamIncrements();
    const answers: StreamIncrementsResponse[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on("data", (m: StreamIncrementsResponse) => answers.push(m));
      call.on("end", resolve);
      call.on("error", reject);
    });
    for (let i = 0; i < 20; i++) {
      call.write({ operations: [1, 2].map((delta) => ({ resourceId, counterType: "view", delta, requestId: "", userId: "" })) });
    }
    call.end();
    await done;
    assert.equal(answers.length, 20);
    assert.deepEqual(
      answers.flatMap((a) => a.results.map((r) => r.currentValue)),
      Array.from({ length: 20 }, (_, i) => [3 * i + 1, 3 * i + 3]).flat().map(String),
    );
  });

  test("BatchCalls answers each call by its id, a refused call with an error reply, and goes on", async () => {
    const resourceId = `bc-${stack.runId}`;
    const op = (delta: number) => ({ resourceId, counterType: "like", delta, requestId: "", userId: "" });
    const call = client.batchCalls();
    const replies = new Map<number, BatchReply>();
    const done = new Promise<void>((resolve, reject) => {
      call.on("data", (m: BatchReply) => replies.set(m.callId, m));
      call.on("end", resolve);
      call.on("error", reject);
    });
    call.write({ callId: 7, traceparent: "", call: { $case: "increment", value: { operations: [op(2), op(3)] } } });
    call.write({ callId: 8, traceparent: "", call: { $case: "increment", value: { operations: [{ ...op(1), resourceId: "bad:id" }] } } });
    call.write({ callId: 9, traceparent: "", call: { $case: "increment", value: { operations: [op(10)] } } });
    call.end();
    await done;
    assert.deepEqual([...replies.keys()].sort(), [7, 8, 9]);
    const seven = replies.get(7)!.reply;
    assert.equal(seven?.$case, "increment");
    assert.deepEqual(seven.$case === "increment" && seven.value.results.map((r) => r.currentValue), ["2", "5"]);
    const eight = replies.get(8)!.reply;
    assert.ok(eight?.$case === "error" && eight.value.code === grpc.status.INVALID_ARGUMENT && /resource_id/.test(eight.value.message), JSON.stringify(eight));
    const nine = replies.get(9)!.reply;
    assert.deepEqual(nine?.$case === "increment" && nine.value.results.map((r) => r.currentValue), ["15"]);

    const get = client.batchCalls();
    const answer = new Promise<BatchReply>((resolve, reject) => {
      get.on("data", resolve);
      get.on("error", reject);
    });
    get.write({ callId: 1, traceparent: "", call: { $case: "get", value: { queries: [{ resourceId, counterType: "like" }] } } });
    const g = (await answer).reply;
    get.end();
    assert.deepEqual(g?.$case === "get" && g.value.results.map((r) => r.currentValue), ["15"]);

    // Carried calls are measured as the unary method they stand for.
    const metrics = await (await fetch(`http://127.0.0.1:${stack.ports.counterMetrics}/metrics`)).text();
    for (const [method, code] of [["BatchIncrementCounters", "OK"], ["BatchIncrementCounters", "INVALID_ARGUMENT"], ["BatchGetCounters", "OK"]]) {
      const counted = metrics
        .split("\n")
        .filter((l) => l.startsWith("highgopress_grpc_server_handling_seconds_count{") && l.includes(`grpc_method="${method}"`) && l.includes(`grpc_code="${code}"`));
      assert.ok(counted.length === 1 && Number(counted[0]!.split(" ").pop()) >= 1, `${method} ${code}: ${counted.join(" | ")}`);
    }
  });

  test("standard health service reports SERVING", async () => {
    const Health = grpc.makeClientConstructor(healthService, "grpc.health.v1.Health");
    const health = new Health(`127.0.0.1:${stack.ports.counter}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      check: (req: { service: string }, cb: (err: grpc.ServiceError | null, res: { status: string }) => void) => void;
    };
    const res = await unary(health.check.bind(health), { service: "highgopress.counter.v1.CounterService" });
    assert.equal(res.status, "SERVING");
    health.close();
  });

  test("server reflection lists the counter service", async () => {
    const require = createRequire(import.meta.url);
    const reflectionProto = join(dirname(require.resolve("@grpc/reflection")), "../proto/grpc/reflection/v1/reflection.proto");
    const def = grpc.loadPackageDefinition(protoLoader.loadSync(reflectionProto, { keepCase: true })) as any;
    const reflection = new def.grpc.reflection.v1.ServerReflection(`127.0.0.1:${stack.ports.counter}`, grpc.credentials.createInsecure());
    const call = reflection.ServerReflectionInfo();
    const reply = await new Promise<any>((resolve, reject) => {
      call.on("data", resolve);
      call.on("error", reject);
      call.write({ list_services: "" });
    });
    call.end();
    reflection.close();
    const names = reply.list_services_response.service.map((s: { name: string }) => s.name);
    assert.ok(names.includes("highgopress.counter.v1.CounterService"), names.join(","));
  });
});

/** A grpc-js server on a free loopback port with the given CounterService handlers (missing ones answer UNIMPLEMENTED). */
async function serve(implementation: Partial<CounterServiceServer>): Promise<{ server: grpc.Server; address: string }> {
  const server = new grpc.Server();
  server.addService(CounterServiceService, implementation as CounterServiceServer);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, address: `127.0.0.1:${port}` };
}

const op = (resourceId: string, delta = 1) => ({ resourceId, counterType: "like", delta, requestId: "", userId: "" });

describe("gateway batch calls on BatchCalls streams", () => {
  test("calls spread over several streams each get their exact value", async () => {
    const resourceId = `bcc-${stack.runId}`;
    const calls = createBatchCalls({ open: () => client.batchCalls(), callsPerStream: 3 });
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => calls.call("increment", { operations: [op(resourceId), op(resourceId)] }, 2_000, "")),
    );
    const values = answers.flatMap((a) => a.results.map((r) => Number(r.currentValue))).sort((a, b) => a - b);
    assert.deepEqual(values, Array.from({ length: 40 }, (_, i) => i + 1));
    const read = await calls.call("get", { queries: [{ resourceId, counterType: "like" }] }, 1_000, "");
    assert.equal(read.results[0]!.currentValue, "40");
    calls.close();
  });

  test("a call refused by the counter fails alone with its status", async () => {
    const calls = createBatchCalls({ open: () => client.batchCalls() });
    const refused = calls.call("increment", { operations: [op("bad:id")] }, 2_000, "");
    const fine = calls.call("increment", { operations: [op(`bcr-${stack.runId}`)] }, 2_000, "");
    await assert.rejects(refused, (err: grpc.ServiceError) => err.code === grpc.status.INVALID_ARGUMENT && /resource_id/.test(err.details));
    assert.equal((await fine).results[0]!.currentValue, "1");
    calls.close();
  });

  test("an unanswered call ends at its deadline, and a broken stream fails its calls with the stream's status", async () => {
    const { server, address } = await serve({ batchCalls: () => {} });
    const silent = new CounterServiceClient(address, grpc.credentials.createInsecure());
    const calls = createBatchCalls({ open: () => silent.batchCalls() });
    const started = performance.now();
    await assert.rejects(calls.call("get", { queries: [{ resourceId: "a", counterType: "like" }] }, 150, ""), (err: grpc.ServiceError) => err.code === grpc.status.DEADLINE_EXCEEDED);
    assert.ok(performance.now() - started < 1_000);
    const pending = calls.call("get", { queries: [{ resourceId: "a", counterType: "like" }] }, 10_000, "");
    await new Promise((r) => setTimeout(r, 100));
    server.forceShutdown();
    await assert.rejects(pending, (err: grpc.ServiceError) => err.code !== undefined && err.code !== grpc.status.OK && err.code !== grpc.status.DEADLINE_EXCEEDED);
    calls.close();
    silent.close();
  });

  test("a counter without BatchCalls (a rolling upgrade) gets the batches as unary calls", async () => {
    const outboxStream = `outbox:test-${stack.runId}-older`;
    const store = createCounterStore({ redis: stack.redis, layout: STANDALONE, outboxStream, eventFormat: "batch", idempotencyTtlSeconds: 60 });
    const current = createCounterService({ store, maxBatch: 1_000, logger: createLogger("counter", "error") });
    const older: Partial<CounterServiceServer> = { ...current, batchCalls: undefined };
    const { server, address } = await serve(older);
    const downstream = createDownstream({
      counterAddr: address,
      analyticsAddr: "127.0.0.1:1",
      maxConnectionAgeMs: 30_000,
      writeDeadlineMs: 2_000,
      readDeadlineMs: 1_000,
      maxBatch: 100,
      maxInFlight: 2,
      maxQueued: 1_000,
      counterCalls: "stream",
    });
    try {
      const resourceId = `bco-${stack.runId}`;
      const results = await Promise.all(Array.from({ length: 5 }, () => downstream.increment({ resourceId, counterType: "like", delta: 2 })));
      assert.deepEqual(results.map((r) => Number(r.currentValue)).sort((a, b) => a - b), [2, 4, 6, 8, 10]);
      assert.equal((await downstream.get({ resourceId, counterType: "like" })).currentValue, "10");
    } finally {
      downstream.close();
      server.forceShutdown();
      await stack.redis.del(outboxStream);
    }
  });
});

describe("connections ended by the counter's max connection age", () => {
  test("the gateway's calls in flight while a connection drains after its GOAWAY all get their answers", { timeout: 30_000 }, async () => {
    const outboxStream = `outbox:test-${stack.runId}-aging`;
    const store = createCounterStore({ redis: stack.redis, layout: STANDALONE, outboxStream, eventFormat: "batch", idempotencyTtlSeconds: 60 });
    const service = createCounterService({ store, maxBatch: 1_000, logger: createLogger("counter", "error") });
    // Each BatchCalls stream names its connection by the client's address and port.
    const connections = new Set<string>();
    const maxConnectionAgeMs = 1_000;
    const counter = await startGrpcServer({ host: "127.0.0.1", port: 0, protoFiles: ["highgopress/counter/v1/counter.proto"], maxConnectionAgeMs }, (server) => {
      server.addService(CounterServiceService, {
        ...service,
        batchCalls: (call: Parameters<CounterServiceServer["batchCalls"]>[0]) => {
          connections.add(call.getPeer());
          service.batchCalls(call);
        },
      });
      return [];
    });
    const downstream = createDownstream({
      counterAddr: `127.0.0.1:${counter.port}`,
      analyticsAddr: "127.0.0.1:1",
      maxConnectionAgeMs,
      writeDeadlineMs: 5_000,
      readDeadlineMs: 1_000,
      maxBatch: 100,
      maxInFlight: 4,
      maxQueued: 10_000,
    });
    const resourceId = `aging-${stack.runId}`;
    const failures: string[] = [];
    let answered = 0;
    try {
      const until = Date.now() + 4_500;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (Date.now() < until) {
            await downstream.increment({ resourceId, counterType: "like", delta: 1 }).then(
              () => void answered++,
              (err: grpc.ServiceError) => void failures.push(`${err.code} ${err.details}`),
            );
          }
        }),
      );
      assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${answered + failures.length} calls failed`);
      assert.ok(connections.size >= 3, `the connection was replaced as it aged: ${connections.size} connections`);
      assert.equal((await downstream.get({ resourceId, counterType: "like" })).currentValue, String(answered), "every answered increment was applied once");
    } finally {
      downstream.close();
      await counter.shutdown(1_000);
      await stack.redis.del(outboxStream);
    }
  });
});
