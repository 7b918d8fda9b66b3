/**
 * skaffold.yaml, the Tiltfile and the kind config agree with the chart and
 * the image: the names they build, deploy and port-forward exist. When the
 * real skaffold (built by scripts/k8s/build.sh skaffold) parses the config
 * (diagnose) and renders the chart (render) for each profile.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { parse } from "yaml";
import { binDir, chartDir, ensureHelm, parseManifests, podSpec, render, repoRoot, run, runOk, valueSets } from "./tools.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const skaffold: Any = parse(readFileSync(join(repoRoot, "skaffold.yaml"), "utf8"));
const tiltfile = readFileSync(join(repoRoot, "Tiltfile"), "utf8");
const kind: Any = parse(readFileSync(join(repoRoot, "k8s/kind-config.yaml"), "utf8"));
const chartValues: Any = parse(readFileSync(join(chartDir, "values.yaml"), "utf8"));

before(() => ensureHelm());

describe("skaffold.yaml", () => {
  const release = skaffold.deploy.helm.releases[0];

  test("builds the one image from the Dockerfile and deploys the chart with it", () => {
    assert.match(skaffold.apiVersion, /^skaffold\/v4beta\d+$/);
    assert.equal(skaffold.kind, "Config");
    const [artifact, ...more] = skaffold.build.artifacts;
    assert.equal(more.length, 0, "one image for all services");
    assert.equal(artifact.image, chartValues.image.repository);
    assert.ok(existsSync(join(repoRoot, artifact.context ?? ".", artifact.docker.dockerfile)));
    assert.match(readFileSync(join(repoRoot, "Dockerfile"), "utf8"), new RegExp(`AS ${artifact.docker.target}\\b`));
    assert.equal(join(repoRoot, release.chartPath), chartDir);
    assert.equal(release.setValueTemplates["image.repository"], `{{.IMAGE_REPO_${artifact.image}}}`);
    assert.equal(release.setValueTemplates["image.tag"], `{{.IMAGE_TAG_${artifact.image}}}`);
  });

  test("port-forwards gateway, Grafana, Jaeger and Prometheus to Services the chart creates", () => {
    const objs = render(valueSets()[0]!, { release: release.name, namespace: release.namespace });
    const services = new Map(objs.filter((o) => o.kind === "Service").map((o) => [o.metadata.name, o]));
    const forwarded = new Map<number, string>();
    for (const pf of skaffold.portForward) {
      assert.equal(pf.resourceType, "service");
      assert.equal(pf.namespace, release.namespace);
      const svc = services.get(pf.resourceName);
      assert.ok(svc, `port-forward to ${pf.resourceName}, which the chart does not create`);
      assert.ok(svc.spec.ports.some((p: Any) => p.port === pf.port), `${pf.resourceName} has no port ${pf.port}`);
      forwarded.set(pf.localPort, pf.resourceName);
    }
    assert.deepEqual([...forwarded.keys()].sort((a, b) => a - b), [3000, 8080, 9090, 16686]);
  });

  test("has kind and minikube profiles that build locally without pushing", () => {
    const profiles = new Map(skaffold.profiles.map((p: Any) => [p.name, p]));
    for (const [name, context] of [["kind", `kind-${kind.name}`], ["minikube", "minikube"]] as const) {
      const p: Any = profiles.get(name);
      assert.ok(p, `no ${name} profile`);
      assert.deepEqual(p.activation, [{ kubeContext: context }]);
      const local = p.patches.find((x: Any) => x.path === "/build/local").value;
      assert.equal(local.push, false);
    }
  });

  const skaffoldBin = join(binDir, "skaffold");
  // skaffold is built from the Go module proxy like the control plane (minutes
  // when cold, instant when cached); HGP_SKIP_SKAFFOLD=1 skips these checks.
  const withSkaffold = { skip: process.env.HGP_SKIP_SKAFFOLD === "1" ? "HGP_SKIP_SKAFFOLD=1" : false };
  before(() => {
    if (!withSkaffold.skip) runOk(join(repoRoot, "scripts/k8s/build.sh"), ["skaffold"], { timeoutMs: 45 * 60_000 });
  }, { timeout: 46 * 60_000 });

  test("skaffold diagnose accepts it", withSkaffold, () => {
    const r = run(skaffoldBin, ["diagnose", "--yaml-only", "--filename", "skaffold.yaml"], { env: { PATH: `${binDir}:${process.env.PATH}`, SKAFFOLD_UPDATE_CHECK: "false" } });
    assert.equal(r.status, 0, `skaffold diagnose failed:\n${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, /apiVersion: skaffold\/v4beta/);
  });

  for (const profile of ["", "kind", "minikube"]) {
    test(`skaffold render${profile ? ` -p ${profile}` : ""} renders the chart with the built image`, withSkaffold, () => {
      const args = ["render", "--digest-source=tag", "--offline=true", "--filename", "skaffold.yaml", ...(profile ? ["-p", profile] : [])];
      const r = run(skaffoldBin, args, { env: { PATH: `${binDir}:${process.env.PATH}`, SKAFFOLD_UPDATE_CHECK: "false" }, timeoutMs: 300_000 });
      assert.equal(r.status, 0, `skaffold ${args.join(" ")} failed:\n${r.stderr}\n${r.stdout.slice(0, 2000)}`);
      const objs = parseManifests(r.stdout);
      const gw = objs.find((o) => o.kind === "Deployment" && o.metadata.name === `${release.name}-gateway`);
      assert.ok(gw, "no gateway Deployment in skaffold's render");
      assert.match(podSpec(gw).containers[0].image, /^highgopress(:|$)/);
      assert.equal(gw.metadata.namespace, release.namespace);
    });
  }
});

describe("Tiltfile", () => {
  test("builds the chart's image, syncs compiled JavaScript to where the image keeps it", () => {
    assert.match(tiltfile, new RegExp(`docker_build\\(\\s*'${chartValues.image.repository}'`));
    assert.match(tiltfile, /sync\('dist\/services', '\/app\/dist\/services'\)/);
    assert.match(readFileSync(join(repoRoot, "Dockerfile"), "utf8"), /WORKDIR \/app/);
    const tsconfig = JSON.parse(readFileSync(join(repoRoot, "tsconfig.json"), "utf8"));
    assert.equal(tsconfig.compilerOptions.outDir, "dist");
    // .dockerignore must let dist/services through, or Tilt never sees the change.
    assert.match(readFileSync(join(repoRoot, ".dockerignore"), "utf8"), /^!dist\/services\/\*\*$/m);
    assert.match(tiltfile, /helm\(\s*'charts\/highgopress'/);
    assert.match(tiltfile, /devMode\.enabled=true/);
  });

  test("every resource it names is a workload of the chart, with port-forwards for the four UIs", () => {
    const release = /RELEASE = '([^']+)'/.exec(tiltfile)?.[1];
    assert.ok(release);
    const objs = render(valueSets()[0]!, { release, namespace: "highgopress", extra: ["--set", "devMode.enabled=true"] });
    const workloads = new Set(objs.filter((o) => podSpec(o)).map((o) => o.metadata.name));
    const names = [...tiltfile.matchAll(/k8s_resource\(\s*'%s-([a-z]+)' % RELEASE/g)].map((m) => `${release}-${m[1]}`);
    const loopNames = /for name in \[([^\]]+)\]/.exec(tiltfile)![1]!.match(/'([a-z]+)'/g)!.map((q) => `${release}-${q.slice(1, -1)}`);
    for (const n of [...names, ...loopNames]) assert.ok(workloads.has(n), `Tiltfile names ${n}, which the chart does not create`);
    for (const port of ["8080:8080", "3000:3000", "16686:16686", "9090:9090"]) assert.ok(tiltfile.includes(`'${port}'`), `no port-forward ${port}`);
    // devMode: node --watch restarts the service when Tilt syncs new files.
    const gw = objs.find((o) => o.kind === "Deployment" && o.metadata.name === `${release}-gateway`)!;
    assert.deepEqual(podSpec(gw).containers[0].command, ["node", "--watch", "dist/services/gateway/main.js"]);
    assert.equal(podSpec(gw).containers[0].securityContext.readOnlyRootFilesystem, false);
  });
});

describe("k8s/kind-config.yaml", () => {
  test("is a kind Cluster named as the skaffold kind profile expects", () => {
    assert.equal(kind.kind, "Cluster");
    assert.equal(kind.apiVersion, "kind.x-k8s.io/v1alpha4");
    assert.equal(kind.name, "highgopress");
    assert.ok(kind.nodes.some((n: Any) => n.role === "control-plane"));
  });
});
