import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { service as healthService } from "grpc-health-check";
import {
  CounterServiceClient,
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
