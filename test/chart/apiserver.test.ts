/**
 * The chart against a real kube-apiserver (etcd + kube-apiserver +
 * kube-controller-manager from scripts/k8s/up.sh; no kubelet, so pods are
 * created but never run):
 *  - every rendered object of every value set passes server-side dry run
 *    with strict field validation, in a namespace that enforces the
 *    "restricted" Pod Security Standard;
 *  - a real `helm install` succeeds, the controllers create every pod
 *    (admitted under "restricted"), `helm upgrade` keeps the replica count
 *    the autoscaler chose, and `helm uninstall` removes everything.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { chartDir, ensureControlPlane, helm, kubectl, parseManifests, renderText, runOk, kubectlBin, helmBin, valueSets, id } from "./tools.js";

const suffix = randomBytes(3).toString("hex");
const namespaces: string[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(what: string, check: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(500);
  }
}

/** A fresh namespace that enforces the restricted Pod Security Standard. */
function createNamespace(base: string): string {
  const ns = `${base}-${suffix}`.slice(0, 63);
  runOk(kubectlBin, ["create", "namespace", ns]);
  runOk(kubectlBin, ["label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted", "pod-security.kubernetes.io/warn=restricted", "pod-security.kubernetes.io/audit=restricted"]);
  namespaces.push(ns);
  return ns;
}

before(async () => {
  ensureControlPlane();
  // The CRD first (cluster-scoped; helm install would also apply it from crds/).
  runOk(kubectlBin, ["apply", "--server-side", "--force-conflicts", "-f", join(chartDir, "crds")]);
  runOk(kubectlBin, ["wait", "--for=condition=Established", "--timeout=60s", "crd/counterautoscalers.autoscaling.highgopress.io"]);
}, { timeout: 60 * 60_000 });

after(() => {
  for (const ns of namespaces) kubectl(["delete", "namespace", ns, "--wait=false", "--ignore-not-found"]);
});

describe("server-side dry run with strict validation", () => {
  for (const set of valueSets()) {
    test(`${set.name}: every object is accepted by kube-apiserver`, () => {
      const ns = createNamespace(`hgp-dry-${set.name}`);
      const manifest = renderText(set, { namespace: ns, release: "hgp" });
      const objects = parseManifests(manifest);
      const r = kubectl(["apply", "--server-side", "--dry-run=server", "--validate=strict", "--field-manager=chart-test", "-n", ns, "-f", "-"], { input: manifest });
      assert.equal(r.status, 0, `kube-apiserver rejected ${set.name}:\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /Warning/i, `warnings from kube-apiserver:\n${r.stderr}`);
      const accepted = r.stdout.trim().split("\n").filter((l) => /serverside-applied \(server dry run\)/.test(l));
      assert.equal(accepted.length, objects.length, `only ${accepted.length} of ${objects.length} objects applied:\n${r.stdout}`);
    });
  }
});

describe("helm install, upgrade and uninstall", () => {
  let ns: string;
  let manifest: string;
  const release = "hgp";

  before(() => {
    ns = createNamespace("hgp-install");
  });

  test("helm install succeeds and prints how to reach the services", () => {
    const r = helm(["install", release, chartDir, "-n", ns, "--timeout", "2m"], { timeoutMs: 180_000 });
    assert.equal(r.status, 0, `helm install failed:\n${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, /STATUS: deployed/);
    assert.match(r.stdout, new RegExp(`port-forward svc/${release}-highgopress-gateway 8080:8080`));
    assert.match(r.stdout, /port-forward svc\/hgp-highgopress-grafana 3000:3000/);
    assert.match(r.stdout, /port-forward svc\/hgp-highgopress-jaeger 16686:16686/);
    assert.match(r.stdout, /port-forward svc\/hgp-highgopress-prometheus 9090:9090/);
    manifest = runOk(helmBin, ["get", "manifest", release, "-n", ns]);
    const got = kubectl(["get", "-n", ns, "-f", "-", "-o", "name"], { input: manifest });
    assert.equal(got.status, 0, `objects of the release are missing:\n${got.stderr}`);
    assert.equal(got.stdout.trim().split("\n").length, parseManifests(manifest).length);
  });

  test("the controllers create every pod, all admitted under the restricted Pod Security Standard", async () => {
    const objects = parseManifests(manifest);
    const expected = objects
      .filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet")
      .reduce((n, o) => n + (o.spec.replicas ?? 1), 0);
    const pods = await eventually(`${expected} pods in ${ns}`, () => {
      const r = kubectl(["get", "pods", "-n", ns, "-o", "name"]);
      const names = r.stdout.trim().split("\n").filter(Boolean);
      return names.length >= expected ? names : undefined;
    });
    assert.equal(pods.length, expected);
    const events = runOk(kubectlBin, ["get", "events", "-n", ns, "--field-selector", "reason=FailedCreate", "-o", "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}"]);
    assert.equal(events.trim(), "", `pods were refused:\n${events}`);
  });

  test("helm upgrade keeps the replica count the autoscaler set and the generated passwords", async () => {
    const deploy = `deployment/${release}-highgopress-counter`;
    runOk(kubectlBin, ["scale", "-n", ns, deploy, "--replicas=5"]);
    const secretBefore = runOk(kubectlBin, ["get", "secret", "-n", ns, `${release}-highgopress-secrets`, "-o", "jsonpath={.data.redis-password}"]);
    const grafanaBefore = runOk(kubectlBin, ["get", "secret", "-n", ns, `${release}-highgopress-grafana`, "-o", "jsonpath={.data.admin-password}"]);
    const r = helm(["upgrade", release, chartDir, "-n", ns, "--set", "components.gateway.replicas=3", "--timeout", "2m"], { timeoutMs: 180_000 });
    assert.equal(r.status, 0, `helm upgrade failed:\n${r.stderr}`);
    assert.equal(runOk(kubectlBin, ["get", "-n", ns, deploy, "-o", "jsonpath={.spec.replicas}"]), "5");
    assert.equal(runOk(kubectlBin, ["get", "-n", ns, `deployment/${release}-highgopress-gateway`, "-o", "jsonpath={.spec.replicas}"]), "3");
    assert.equal(runOk(kubectlBin, ["get", "secret", "-n", ns, `${release}-highgopress-secrets`, "-o", "jsonpath={.data.redis-password}"]), secretBefore);
    assert.equal(runOk(kubectlBin, ["get", "secret", "-n", ns, `${release}-highgopress-grafana`, "-o", "jsonpath={.data.admin-password}"]), grafanaBefore);
    manifest = runOk(helmBin, ["get", "manifest", release, "-n", ns]);
  });

  test("helm uninstall removes every object of the release, and the garbage collector the pods", async () => {
    const r = helm(["uninstall", release, "-n", ns, "--wait", "--timeout", "2m"], { timeoutMs: 180_000 });
    assert.equal(r.status, 0, `helm uninstall failed:\n${r.stderr}`);
    const left = kubectl(["get", "-n", ns, "-f", "-", "--ignore-not-found", "-o", "name"], { input: manifest });
    assert.equal(left.stdout.trim(), "", `left behind:\n${left.stdout}`);
    for (const o of parseManifests(manifest)) assert.ok(o.kind && o.metadata.name, id(o));
    await eventually("pods and ReplicaSets to be garbage-collected", () => {
      const rest = kubectl(["get", "pods,replicasets,controllerrevisions,endpointslices", "-n", ns, "-o", "name"]).stdout.trim();
      return rest === "" ? true : undefined;
    }, 90_000);
    const releases = runOk(helmBin, ["list", "-n", ns, "-a", "-q"]);
    assert.equal(releases.trim(), "");
    const secrets = runOk(kubectlBin, ["get", "secrets", "-n", ns, "-l", "owner=helm", "-o", "name"]);
    assert.equal(secrets.trim(), "", "helm release records remain");
  });
});
