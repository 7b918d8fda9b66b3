import assert from "node:assert/strict";
import { test } from "node:test";
import { loadCounterConfig } from "../../services/counter/config.js";
import { loadGatewayConfig } from "../../services/gateway/config.js";
import { ConfigError } from "../../services/lib/config.js";

test("defaults need no environment at all", () => {
  const c = loadGatewayConfig({});
  assert.equal(c.port, 8080);
  assert.equal(c.bodyLimitBytes, 65536);
  assert.equal(loadCounterConfig({}).grpcPort, 9001);
});

test("every bad value is named in one clear error", () => {
  assert.throws(
    () => loadCounterConfig({ COUNTER_GRPC_PORT: "99999", REDIS_URL: "localhost", KAFKA_BROKERS: "kafka" }),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 3);
      assert.match(err.message, /COUNTER_GRPC_PORT must be an integer between 0 and 65535, got '99999'/);
      assert.match(err.message, /REDIS_URL must be a redis: or rediss: URL such as redis:\/\/127.0.0.1, got 'localhost'/);
      assert.match(err.message, /KAFKA_BROKERS must be a comma-separated list of host:port, got 'kafka'/);
      return true;
    },
  );
});

test("integers reject fractions and words", () => {
  assert.throws(() => loadGatewayConfig({ WRITE_DEADLINE_MS: "1.5" }), /WRITE_DEADLINE_MS/);
  assert.throws(() => loadGatewayConfig({ MAX_QUEUED_REQUESTS: "many" }), /MAX_QUEUED_REQUESTS/);
});

test("cluster mode: seed nodes required, a replica wait by default, its timeout below the command timeout", () => {
  const standalone = loadCounterConfig({});
  assert.equal(standalone.redisMode, "standalone");
  assert.equal(standalone.redisDurability.replicas, 0);
  const cluster = loadCounterConfig({ REDIS_MODE: "cluster", REDIS_CLUSTER_NODES: "10.0.0.1:7000,10.0.0.2:7000" });
  assert.deepEqual(cluster.redisClusterNodes, ["10.0.0.1:7000", "10.0.0.2:7000"]);
  assert.equal(cluster.redisClusterShards, 12);
  assert.deepEqual(cluster.redisDurability, { replicas: 1, timeoutMs: 250 });
  assert.throws(() => loadCounterConfig({ REDIS_MODE: "cluster" }), /REDIS_MODE=cluster needs REDIS_CLUSTER_NODES/);
  assert.throws(() => loadCounterConfig({ REDIS_MODE: "sentinel" }), /REDIS_MODE must be one of standalone, cluster/);
  assert.throws(() => loadCounterConfig({ REDIS_WAIT_TIMEOUT_MS: "3000" }), /REDIS_WAIT_TIMEOUT_MS \(3000\) must be below REDIS_COMMAND_TIMEOUT_MS \(2000\)/);
  assert.throws(() => loadCounterConfig({ REDIS_MODE: "cluster", REDIS_CLUSTER_NODES: "nohost" }), /REDIS_CLUSTER_NODES must be a comma-separated list of host:port/);
});
