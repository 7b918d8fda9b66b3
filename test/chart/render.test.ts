/**
 * helm lint and helm template for the default values and every
 * ci/*-values.yaml; values.schema.json and the chart's own checks reject bad
 * values with a message that names the problem.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { COMPONENTS, chartDir, ensureHelm, helm, id, podSpec, render, valueSets, valuesArgs } from "./tools.js";

before(() => ensureHelm());

describe("helm lint and template", () => {
  const sets = valueSets();

  test("there are at least three value sets besides the defaults", () => {
    const names = sets.map((s) => s.name);
    for (const wanted of ["all-external", "minimal", "production"]) assert.ok(names.includes(wanted), `ci/${wanted}-values.yaml is missing (have ${names.join(", ")})`);
  });

  for (const set of sets) {
    test(`${set.name}: helm lint --strict passes`, () => {
      const r = helm(["lint", "--strict", chartDir, ...valuesArgs(set)]);
      assert.equal(r.status, 0, `helm lint failed:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });

    test(`${set.name}: helm template renders valid, uniquely named objects`, () => {
      const objects = render(set);
      assert.ok(objects.length > 5, `only ${objects.length} objects rendered`);
      const seen = new Set<string>();
      for (const o of objects) {
        assert.ok(o.apiVersion && o.kind && o.metadata?.name, `object without apiVersion/kind/name: ${JSON.stringify(o).slice(0, 200)}`);
        assert.ok(o.metadata.name.length <= 63, `${id(o)}: name longer than 63 characters`);
        const key = `${o.apiVersion}/${id(o)}`;
        assert.ok(!seen.has(key), `${key} rendered twice`);
        seen.add(key);
      }
      // The HighGoPress services that are enabled each got a Deployment.
      const deployments = objects.filter((o) => o.kind === "Deployment").map((o) => o.metadata.name);
      assert.ok(deployments.includes("hgp-highgopress-gateway"), `no gateway Deployment in ${deployments.join(", ")}`);
      assert.ok(deployments.includes("hgp-highgopress-counter"));
    });
  }
});

test("every label and annotation is a string; a hash in a template is quoted, since 16 hex digits can read as a number", () => {
  for (const set of valueSets()) {
    for (const o of render(set)) {
      for (const meta of [o.metadata, o.spec?.template?.metadata]) {
        for (const [key, value] of Object.entries({ ...meta?.labels, ...meta?.annotations })) {
          assert.equal(typeof value, "string", `${set.name}: ${o.kind} ${o.metadata.name}: ${key} is ${JSON.stringify(value)}`);
        }
      }
    }
  }
  // A hash like 1234e56789012345 or 0123456789012345 renders as a number unless
  // quoted, and the API server then refuses the object (seen once in a test run).
  const templates = join(chartDir, "templates");
  for (const file of readdirSync(templates)) {
    for (const line of readFileSync(join(templates, file), "utf8").split("\n").filter((l) => l.includes("sha256sum"))) {
      assert.match(line, /\|\s*quote\s*\}\}/, `${file}: ${line.trim()}`);
    }
  }
});

test("the chart's Kafka broker is the version the local tests run", () => {
  const tested = /^KAFKA_DEFAULT_VERSION=(\S+)$/m.exec(readFileSync(join(chartDir, "../../scripts/kafka.sh"), "utf8"))?.[1];
  const kafka = render(valueSets().find((s) => s.name === "default") ?? valueSets()[0]!).find((o) => o.kind === "StatefulSet" && /kafka/.test(o.metadata.name));
  assert.ok(tested && kafka, "no KAFKA_DEFAULT_VERSION in scripts/kafka.sh or no Kafka StatefulSet rendered");
  assert.equal(podSpec(kafka).containers[0].image, `apache/kafka:${tested}`);
});

describe("values.schema.json", () => {
  const defaults = valueSets()[0]!;

  test("rejects a wrong type, naming the field", () => {
    const r = helm(["template", "hgp", chartDir, "--set", "components.counter.replicas=two"]);
    assert.notEqual(r.status, 0, "a string replica count was accepted");
    assert.match(r.stderr, /values don't meet the specifications of the schema/);
    assert.match(r.stderr, /\/components\/counter\/replicas/);
    assert.match(r.stderr, /got string, want integer/);
  });

  test("rejects an unknown top-level key", () => {
    const r = helm(["template", "hgp", chartDir, "--set", "replicaCount=3"]);
    assert.notEqual(r.status, 0, "an unknown top-level key was accepted");
    assert.match(r.stderr, /additional properties 'replicaCount' not allowed/);
  });

  test("rejects an unknown key inside a component block (typo guard)", () => {
    const r = helm(["template", "hgp", chartDir, "--set", "components.gateway.replica=3"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /additional properties 'replica' not allowed/);
  });

  test("rejects a component without resource limits", () => {
    const r = helm(["template", "hgp", chartDir, "--set", "components.gateway.resources.limits=null"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /limits/);
  });

  test("rejects turning off non-root or the read-only root filesystem", () => {
    for (const bad of ["containerSecurityContext.readOnlyRootFilesystem=false", "podSecurityContext.runAsNonRoot=false", "redis.podSecurityContext.runAsNonRoot=false"]) {
      const r = helm(["template", "hgp", chartDir, "--set", bad]);
      assert.notEqual(r.status, 0, `${bad} was accepted`);
    }
  });

  test("the event format reaches the counter as OUTBOX_EVENT_FORMAT, batch by default; another value is refused", () => {
    const format = (extra: string[] = []) => {
      const counter = render(defaults, { extra }).find((o) => o.kind === "Deployment" && o.metadata.name === "hgp-highgopress-counter");
      assert.ok(counter);
      return podSpec(counter).containers[0].env.find((e: { name: string }) => e.name === "OUTBOX_EVENT_FORMAT")?.value;
    };
    assert.equal(format(), "batch");
    assert.equal(format(["--set", "config.eventFormat=per-key"]), "per-key");
    const r = helm(["template", "hgp", chartDir, "--set", "config.eventFormat=json"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /eventFormat/);
  });

  test("redis.mode=cluster: a 6-node cluster with its bootstrap Job, PDB and policy, and the services pointed at it", () => {
    const objects = render(defaults, { extra: ["--set", "redis.mode=cluster"] });
    const sts = objects.find((o) => o.kind === "StatefulSet" && o.metadata.name === "hgp-highgopress-redis")!;
    assert.equal(sts.spec.replicas, 6);
    assert.deepEqual(podSpec(sts).containers[0].ports.map((p: { name: string }) => p.name), ["redis", "bus"]);
    const config = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === "hgp-highgopress-redis");
    assert.match(config?.data["redis.conf"], /cluster-enabled yes[\s\S]*cluster-require-full-coverage no/);
    // The node script that keeps each node in the cluster runs as the container's command.
    assert.deepEqual(podSpec(sts).containers[0].command, ["sh", "/etc/redis/node.sh"]);
    assert.equal(config?.data["node.sh"], readFileSync(join(chartDir, "files/redis-cluster-node.sh"), "utf8"));
    const job = objects.find((o) => o.kind === "Job" && o.metadata.name === "hgp-highgopress-redis-bootstrap-1")!;
    assert.match(podSpec(job).containers[0].command[2], /redis-cli --cluster create \$addrs --cluster-replicas 1 --cluster-yes/);
    assert.equal(objects.find((o) => o.kind === "PodDisruptionBudget" && o.metadata.name === "hgp-highgopress-redis")?.spec.maxUnavailable, 1);
    const policy = objects.find((o) => o.kind === "NetworkPolicy" && o.metadata.name === "hgp-highgopress-redis")!;
    assert.ok(policy.spec.ingress.some((rule: { ports: Array<{ port: string }> }) => rule.ports.some((p) => p.port === "bus")), "the cluster bus is open between the nodes");
    const counter = objects.find((o) => o.kind === "Deployment" && o.metadata.name === "hgp-highgopress-counter")!;
    const env = Object.fromEntries(podSpec(counter).containers[0].env.map((e: { name: string; value?: string }) => [e.name, e.value]));
    assert.equal(env.REDIS_MODE, "cluster");
    assert.equal(env.REDIS_CLUSTER_NODES.split(",").length, 6);
    assert.equal(env.REDIS_WAIT_REPLICAS, "1");
    assert.equal(env.REDIS_URL, undefined);
    assert.equal(objects.filter((o) => o.metadata?.name === "hgp-highgopress-redis" && o.kind === "Service").length, 0, "no standalone Service");

    const external = render(defaults, { extra: ["--set", "redis.mode=cluster", "--set", "redis.enabled=false", "--set", "redis.external.clusterNodes=10.0.0.1:7000\\,10.0.0.2:7000"] });
    assert.equal(external.filter((o) => o.kind === "StatefulSet" && o.metadata.name === "hgp-highgopress-redis").length, 0);
    const externalCounter = external.find((o) => o.kind === "Deployment" && o.metadata.name === "hgp-highgopress-counter")!;
    assert.equal(podSpec(externalCounter).containers[0].env.find((e: { name: string }) => e.name === "REDIS_CLUSTER_NODES").value, "10.0.0.1:7000,10.0.0.2:7000");
    for (const [bad, message] of [
      [["redis.enabled=false"], /redis\.external\.clusterNodes is required/],
      [["redis.cluster.replicasPerPrimary=0"], /waitReplicas \(1\) cannot exceed redis\.cluster\.replicasPerPrimary \(0\)/],
      [["redis.cluster.primaries=2"], /primaries/],
    ] as const) {
      const r = helm(["template", "hgp", chartDir, "--set", "redis.mode=cluster", ...bad.flatMap((b) => ["--set", b])]);
      assert.notEqual(r.status, 0, `${bad} was accepted`);
      assert.match(r.stderr, message);
    }
  });

  test("the chart refuses a grace period shorter than preStop + drain time", () => {
    const r = helm(["template", "hgp", chartDir, "--set", "components.counter.terminationGracePeriodSeconds=12"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /components\.counter\.terminationGracePeriodSeconds \(12\) must exceed preStopSleepSeconds \+ config\.shutdownGraceMs\/1000 \(15\)/);
  });

  test("a disabled dependency without an external address is refused with a clear message", () => {
    const r = helm(["template", "hgp", chartDir, "--set", "redis.enabled=false"]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /redis\.external\.url is required when redis\.enabled is false/);
  });

  test("defaults render every component", () => {
    const objects = render(defaults);
    for (const name of COMPONENTS) {
      const d = objects.find((o) => o.kind === "Deployment" && o.metadata.name === `hgp-highgopress-${name}`);
      assert.ok(d, `no Deployment for ${name}`);
      assert.ok(podSpec(d));
    }
  });
});
