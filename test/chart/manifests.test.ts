/**
 * Rendered manifests of every value set checked for the security rules
 * (resources, probes, non-root, read-only root filesystem, no privilege
 * escalation) and for the wiring the services rely on (headless counter
 * Service, preStop/grace periods, autoscaler, NetworkPolicies, RBAC,
 * dashboards and alert rules loaded).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { type K8sObject, binDir, chartDir, ensureHelm, id, podSpec, render, run, valueSets } from "./tools.js";

before(() => ensureHelm());

const NS = "highgopress";
const FN = "hgp-highgopress";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function containersOf(o: K8sObject): { c: Any; init: boolean; pod: Any }[] {
  const pod = podSpec(o);
  if (!pod) return [];
  return [
    ...(pod.initContainers ?? []).map((c: Any) => ({ c, init: true, pod })),
    ...(pod.containers ?? []).map((c: Any) => ({ c, init: false, pod })),
  ];
}

const envOf = (c: Any): Record<string, Any> => Object.fromEntries((c.env ?? []).map((e: Any) => [e.name, e.value ?? e.valueFrom]));
const find = (objs: K8sObject[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name);
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe("security rules hold for every container of every value set", () => {
  for (const set of valueSets()) {
    test(set.name, () => {
      const objects = render(set, { namespace: NS });
      const problems: string[] = [];
      let checked = 0;
      for (const o of objects) {
        for (const { c, init, pod } of containersOf(o)) {
          checked++;
          const where = `${id(o)} container ${c.name}`;
          const r = c.resources ?? {};
          for (const kind of ["requests", "limits"]) for (const res of ["cpu", "memory"]) if (!r[kind]?.[res]) problems.push(`${where}: no resources.${kind}.${res}`);
          if (!init) {
            if (!c.readinessProbe) problems.push(`${where}: no readinessProbe`);
            if (!c.livenessProbe) problems.push(`${where}: no livenessProbe`);
            if (!c.startupProbe) problems.push(`${where}: no startupProbe`);
          }
          const sc = c.securityContext ?? {};
          const psc = pod.securityContext ?? {};
          if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) problems.push(`${where}: runAsNonRoot is not true`);
          const uid = sc.runAsUser ?? psc.runAsUser;
          if (!Number.isInteger(uid) || uid === 0) problems.push(`${where}: runAsUser must be a numeric non-root uid, got ${uid}`);
          if (sc.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem is not true`);
          if (sc.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation is not false`);
          if (sc.privileged === true) problems.push(`${where}: privileged`);
          if (!(sc.capabilities?.drop ?? []).includes("ALL")) problems.push(`${where}: capabilities not dropped (drop: [ALL])`);
          if (sc.capabilities?.add?.length) problems.push(`${where}: adds capabilities ${sc.capabilities.add}`);
          if ((sc.seccompProfile ?? psc.seccompProfile)?.type !== "RuntimeDefault") problems.push(`${where}: seccompProfile is not RuntimeDefault`);
          const image: string = c.image ?? "";
          const tag = image.includes("@") ? "digest" : image.split("/").pop()!.split(":")[1];
          if (!tag || tag === "latest") problems.push(`${where}: image ${image} is not pinned`);
        }
        const pod = podSpec(o);
        if (pod) {
          if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push(`${id(o)}: uses host namespaces`);
          for (const v of pod.volumes ?? []) if (v.hostPath) problems.push(`${id(o)}: hostPath volume ${v.name}`);
          const needsApi = o.metadata.name.endsWith("-autoscaler") || o.metadata.name.endsWith("-prometheus");
          if (!needsApi && pod.automountServiceAccountToken !== false) problems.push(`${id(o)}: mounts a ServiceAccount token it does not need`);
          // A read-only root filesystem needs somewhere writable for temp files.
          for (const { c, init } of containersOf(o)) {
            if (init) continue;
            const mounts: string[] = (c.volumeMounts ?? []).map((m: Any) => m.mountPath);
            if (!mounts.some((m) => m === "/tmp" || m.startsWith("/var/lib") || m === "/prometheus" || m === "/data")) problems.push(`${id(o)} ${c.name}: no writable volume mounted`);
          }
        }
      }
      assert.ok(checked >= 3, `only ${checked} containers found`);
      assert.deepEqual(problems, [], problems.join("\n"));
    });
  }
});

describe("wiring of the default values", () => {
  let objs: K8sObject[];
  before(() => {
    objs = render(valueSets()[0]!, { namespace: NS });
  });

  test("every Service selects pods of some workload, by existing port names", () => {
    const workloads = objs.filter((o) => podSpec(o));
    for (const s of objs.filter((o) => o.kind === "Service")) {
      const w = workloads.find((o) => matches(s.spec.selector, o.spec.template.metadata.labels));
      assert.ok(w, `${id(s)} selects no pods`);
      const portNames = new Set(podSpec(w).containers.flatMap((c: Any) => (c.ports ?? []).map((p: Any) => p.name)));
      for (const p of s.spec.ports) assert.ok(typeof p.targetPort === "number" || portNames.has(p.targetPort), `${id(s)} targets port ${p.targetPort} that ${id(w)} does not declare`);
    }
  });

  test("the counter is behind a headless Service that the gateway dials with dns:///", () => {
    const headless = find(objs, "Service", `${FN}-counter-headless`);
    assert.ok(headless);
    assert.equal(headless.spec.clusterIP, "None");
    assert.deepEqual(headless.spec.ports.map((p: Any) => [p.name, p.port]), [["grpc", 9001]]);
    const counter = find(objs, "Deployment", `${FN}-counter`)!;
    assert.ok(matches(headless.spec.selector, counter.spec.template.metadata.labels));
    const gw = podSpec(find(objs, "Deployment", `${FN}-gateway`)!).containers[0];
    assert.equal(envOf(gw).COUNTER_ADDR, `dns:///${FN}-counter-headless.${NS}.svc.cluster.local:9001`);
    assert.equal(envOf(gw).ANALYTICS_ADDR, `dns:///${FN}-analytics-headless.${NS}.svc.cluster.local:9002`);
  });

  test("each service runs its compiled entry point with its ports in the environment", () => {
    const expected: Record<string, Record<string, string>> = {
      gateway: { GATEWAY_PORT: "8080" },
      counter: { COUNTER_GRPC_PORT: "9001", METRICS_PORT: "9101" },
      analytics: { ANALYTICS_GRPC_PORT: "9002", METRICS_PORT: "9102" },
      autoscaler: { METRICS_PORT: "9103" },
    };
    for (const [name, env] of Object.entries(expected)) {
      const c = podSpec(find(objs, "Deployment", `${FN}-${name}`)!).containers[0];
      assert.deepEqual(c.command, ["node", `dist/services/${name}/main.js`]);
      const e = envOf(c);
      for (const [k, v] of Object.entries(env)) assert.equal(e[k], v, `${name} ${k}`);
      assert.equal(e.REDIS_URL, `redis://${FN}-redis.${NS}.svc.cluster.local:6379`);
      assert.equal(e.KAFKA_BROKERS, `${FN}-kafka-0.${FN}-kafka-headless.${NS}.svc.cluster.local:9092`);
      assert.equal(e.OTEL_EXPORTER_OTLP_ENDPOINT, `http://${FN}-jaeger.${NS}.svc.cluster.local:4318`);
      assert.deepEqual(e.REDIS_PASSWORD, { secretKeyRef: { name: `${FN}-secrets`, key: "redis-password", optional: true } });
    }
  });

  test("gateway, counter and analytics drain: preStop sleep, then a grace period longer than preStop + SHUTDOWN_GRACE_MS", () => {
    for (const name of ["gateway", "counter", "analytics"]) {
      const pod = podSpec(find(objs, "Deployment", `${FN}-${name}`)!);
      const c = pod.containers[0];
      const sleep = c.lifecycle?.preStop?.sleep?.seconds ?? Number(c.lifecycle?.preStop?.exec?.command?.[1]);
      assert.ok(sleep > 0, `${name} has no preStop sleep`);
      const drain = Number(envOf(c).SHUTDOWN_GRACE_MS) / 1000;
      assert.ok(pod.terminationGracePeriodSeconds > sleep + drain, `${name}: grace ${pod.terminationGracePeriodSeconds}s <= preStop ${sleep}s + drain ${drain}s`);
    }
  });

  test("services that need Redis and Kafka wait for them in an init container", () => {
    for (const name of ["counter", "analytics"]) {
      const init = podSpec(find(objs, "Deployment", `${FN}-${name}`)!).initContainers?.[0];
      assert.ok(init, `${name} has no init container`);
      assert.equal(envOf(init).WAIT_FOR, `${FN}-redis.${NS}.svc.cluster.local:6379,${FN}-kafka-0.${FN}-kafka-headless.${NS}.svc.cluster.local:9092`);
    }
  });

  test("the autoscaler owns the counter's replica count and the example CounterAutoscaler targets it", () => {
    const counter = find(objs, "Deployment", `${FN}-counter`)!;
    assert.equal(counter.spec.replicas, undefined, "counter Deployment sets replicas although the autoscaler manages it");
    const ca = find(objs, "CounterAutoscaler", `${FN}-counter`);
    assert.ok(ca);
    assert.equal(ca.apiVersion, "autoscaling.highgopress.io/v1alpha1");
    assert.deepEqual(ca.spec.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: `${FN}-counter` });
    assert.ok(ca.spec.minReplicas <= ca.spec.maxReplicas && ca.spec.targetQPSPerReplica > 0);
    assert.equal(ca.spec.metric.prometheusURL, `http://${FN}-prometheus.${NS}.svc.cluster.local:9090`);
    const as = podSpec(find(objs, "Deployment", `${FN}-autoscaler`)!).containers[0];
    assert.equal(envOf(as).PROMETHEUS_URL, ca.spec.metric.prometheusURL);
    assert.deepEqual(envOf(as).WATCH_NAMESPACE, { fieldRef: { fieldPath: "metadata.namespace" } });
    assert.deepEqual(envOf(as).POD_NAME, { fieldRef: { fieldPath: "metadata.name" } });
    assert.equal(envOf(as).LEASE_NAME, `${FN}-autoscaler`);
  });

  test("the autoscaler's RBAC is a namespaced Role with exactly the verbs it needs", () => {
    const role = find(objs, "Role", `${FN}-autoscaler`);
    assert.ok(role, "no Role for the autoscaler");
    assert.equal(objs.filter((o) => o.kind === "ClusterRole" || o.kind === "ClusterRoleBinding").length, 0, "cluster-wide RBAC by default");
    const rules = role.rules as Any[];
    for (const r of rules) {
      assert.ok(!r.verbs.includes("*") && !r.resources.includes("*") && !r.apiGroups.includes("*"), `wildcard in ${JSON.stringify(r)}`);
      assert.ok(!r.resources.includes("secrets"), "autoscaler can read Secrets");
      assert.ok(!r.verbs.includes("delete"), `autoscaler can delete ${r.resources}`);
    }
    const can = (group: string, resource: string, verb: string) => rules.some((r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb));
    assert.ok(can("autoscaling.highgopress.io", "counterautoscalers", "watch"));
    assert.ok(can("autoscaling.highgopress.io", "counterautoscalers/status", "patch"));
    assert.ok(can("apps", "deployments/scale", "update"));
    assert.ok(!can("apps", "deployments", "update"), "autoscaler may update Deployments directly instead of via scale");
    assert.ok(can("autoscaling", "horizontalpodautoscalers", "list"));
    assert.ok(can("", "events", "create"), "the controller records core/v1 Events");
    assert.ok(can("coordination.k8s.io", "leases", "update"));
    // Nothing beyond what services/autoscaler/kube-api.ts calls.
    assert.deepEqual(
      rules.flatMap((r) => r.resources.flatMap((res: string) => r.verbs.map((v: string) => `${r.apiGroups[0]}/${res}:${v}`))).sort(),
      [
        "/events:create",
        "apps/deployments/scale:get",
        "apps/deployments/scale:update",
        "autoscaling.highgopress.io/counterautoscalers/status:get",
        "autoscaling.highgopress.io/counterautoscalers/status:patch",
        "autoscaling.highgopress.io/counterautoscalers/status:update",
        "autoscaling.highgopress.io/counterautoscalers:get",
        "autoscaling.highgopress.io/counterautoscalers:list",
        "autoscaling.highgopress.io/counterautoscalers:watch",
        "autoscaling/horizontalpodautoscalers:list",
        "coordination.k8s.io/leases:create",
        "coordination.k8s.io/leases:get",
        "coordination.k8s.io/leases:update",
      ],
    );
    const binding = find(objs, "RoleBinding", `${FN}-autoscaler`)!;
    assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: `${FN}-autoscaler`, namespace: NS }]);
    assert.equal(podSpec(find(objs, "Deployment", `${FN}-autoscaler`)!).serviceAccountName, `${FN}-autoscaler`);
  });

  test("only counter and analytics may reach Redis and Kafka (and the broker itself)", () => {
    for (const dep of ["redis", "kafka"]) {
      const np = find(objs, "NetworkPolicy", `${FN}-${dep}`);
      assert.ok(np, `no NetworkPolicy for ${dep}`);
      assert.deepEqual(np.spec.policyTypes, ["Ingress"]);
      const from = np.spec.ingress.flatMap((r: Any) => r.from ?? [{ everyone: true }]);
      const comps = from.map((p: Any) => p.podSelector?.matchLabels?.["app.kubernetes.io/component"] ?? JSON.stringify(p)).sort();
      assert.deepEqual(comps, dep === "kafka" ? ["analytics", "counter", "kafka"] : ["analytics", "counter"]);
    }
    const counterNp = find(objs, "NetworkPolicy", `${FN}-counter`)!;
    const grpcRule = counterNp.spec.ingress.find((r: Any) => r.ports.some((p: Any) => p.port === "grpc"));
    assert.deepEqual(grpcRule.from.map((p: Any) => p.podSelector.matchLabels["app.kubernetes.io/component"]), ["gateway"]);
  });

  test("every component with a PodDisruptionBudget has one selecting its pods", () => {
    for (const name of ["gateway", "counter", "analytics"]) {
      const pdb = find(objs, "PodDisruptionBudget", `${FN}-${name}`);
      assert.ok(pdb, `no PDB for ${name}`);
      assert.ok(matches(pdb.spec.selector.matchLabels, find(objs, "Deployment", `${FN}-${name}`)!.spec.template.metadata.labels));
    }
  });

  test("Prometheus scrapes annotated pods and loads every alert rule file", () => {
    const cm = find(objs, "ConfigMap", `${FN}-prometheus`)!;
    assert.match(cm.data["prometheus.yml"], /kubernetes_sd_configs/);
    assert.match(cm.data["prometheus.yml"], /rule_files:\s*\n\s*- \/etc\/prometheus\/rules\/\*\.yml/);
    const rules = find(objs, "ConfigMap", `${FN}-prometheus-rules`)!;
    const alertsDir = join(chartDir, "files/alerts");
    const files = existsSync(alertsDir) ? readdirSync(alertsDir).filter((f) => /\.ya?ml$/.test(f)) : [];
    for (const f of files) assert.ok(rules.data[f], `alert rule file ${f} is not loaded`);
    const mounts = podSpec(find(objs, "Deployment", `${FN}-prometheus`)!).containers[0].volumeMounts.map((m: Any) => m.mountPath);
    assert.ok(mounts.includes("/etc/prometheus/rules"));
    for (const name of ["gateway", "counter", "analytics", "autoscaler"]) {
      const ann = find(objs, "Deployment", `${FN}-${name}`)!.spec.template.metadata.annotations;
      assert.equal(ann["prometheus.io/scrape"], "true", `${name} is not scraped`);
    }
  });

  const promtool = ["/usr/bin/promtool", join(binDir, "promtool")].find((p) => existsSync(p));
  test("promtool accepts the rendered Prometheus config (relabelling, rule files) and the alert rules", () => {
    // make test installs it (scripts/prometheus.sh); a missing promtool is a failure, not a skip.
    assert.ok(promtool, "promtool is not installed: run scripts/prometheus.sh start once (Debian package prometheus)");
    const dir = mkdtempSync(join(tmpdir(), "hgp-prom-"));
    try {
      const rulesDir = join(dir, "rules");
      mkdirSync(rulesDir);
      for (const [name, text] of Object.entries(find(objs, "ConfigMap", `${FN}-prometheus-rules`)!.data as Record<string, string>)) writeFileSync(join(rulesDir, name), text);
      const config = parseYaml((find(objs, "ConfigMap", `${FN}-prometheus`)!.data["prometheus.yml"] as string).replaceAll("/etc/prometheus/rules", rulesDir));
      // Debian's promtool is built without Kubernetes service discovery: check
      // everything else (relabelling, rule files) with a static target instead.
      for (const sc of config.scrape_configs) {
        assert.ok(sc.kubernetes_sd_configs?.length, `${sc.job_name} does not discover pods`);
        delete sc.kubernetes_sd_configs;
        sc.static_configs = [{ targets: ["127.0.0.1:9"] }];
      }
      writeFileSync(join(dir, "prometheus.yml"), stringifyYaml(config));
      const r = run(promtool!, ["check", "config", join(dir, "prometheus.yml")]);
      assert.equal(r.status, 0, `promtool check config failed:\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout + r.stderr, /SUCCESS/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("Grafana provisions both datasources and every dashboard file", () => {
    const prov = find(objs, "ConfigMap", `${FN}-grafana-provisioning`)!;
    assert.match(prov.data["datasources.yaml"], /type: prometheus/);
    assert.match(prov.data["datasources.yaml"], /type: jaeger/);
    assert.match(prov.data["dashboards.yaml"], /path: \/etc\/grafana\/dashboards/);
    const dash = find(objs, "ConfigMap", `${FN}-grafana-dashboards`)!;
    const dir = join(chartDir, "dashboards");
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".json")) : [];
    for (const f of files) {
      assert.ok(dash.data?.[f], `dashboard ${f} is not provisioned`);
      JSON.parse(dash.data[f]);
    }
    const mounts = podSpec(find(objs, "Deployment", `${FN}-grafana`)!).containers[0].volumeMounts.map((m: Any) => m.mountPath);
    assert.ok(mounts.includes("/etc/grafana/dashboards"));
  });
});

describe("wiring of the other value sets", () => {
  const byName = Object.fromEntries(valueSets().map((s) => [s.name, s]));

  test("all-external: no bundled dependency, services point at the external addresses", () => {
    const objs = render(byName["all-external"]!, { namespace: NS });
    assert.equal(objs.filter((o) => o.kind === "StatefulSet").length, 0);
    for (const dep of ["redis", "kafka", "prometheus", "grafana", "jaeger"]) {
      assert.ok(!objs.some((o) => o.metadata.name === `${FN}-${dep}` && podSpec(o)), `${dep} is still deployed`);
    }
    const e = envOf(podSpec(find(objs, "Deployment", `${FN}-counter`)!).containers[0]);
    assert.equal(e.REDIS_URL, "redis://redis-master.data.svc.cluster.local:6379");
    assert.equal(e.KAFKA_BROKERS, "kafka-0.kafka.data.svc.cluster.local:9092,kafka-1.kafka.data.svc.cluster.local:9092");
    assert.equal(e.OTEL_EXPORTER_OTLP_ENDPOINT, "http://otel-collector.observability.svc.cluster.local:4318");
    const ca = find(objs, "CounterAutoscaler", `${FN}-counter`)!;
    assert.equal(ca.spec.metric.prometheusURL, "http://prometheus-operated.monitoring.svc.cluster.local:9090");
  });

  test("minimal: one replica each, no autoscaler, the counter keeps its replica count", () => {
    const objs = render(byName.minimal!, { namespace: NS });
    assert.equal(find(objs, "Deployment", `${FN}-counter`)!.spec.replicas, 1);
    assert.equal(find(objs, "Deployment", `${FN}-autoscaler`), undefined);
    assert.equal(objs.filter((o) => o.kind === "CounterAutoscaler").length, 0);
    assert.equal(envOf(podSpec(find(objs, "Deployment", `${FN}-gateway`)!).containers[0]).TRACING_EXPORTER, "none");
  });

  test("production: persistent volumes, several replicas, API keys from the Secret, Ingress", () => {
    const objs = render(byName.production!, { namespace: NS });
    assert.equal(find(objs, "Deployment", `${FN}-gateway`)!.spec.replicas, 3);
    for (const sts of ["redis", "kafka"]) assert.equal(find(objs, "StatefulSet", `${FN}-${sts}`)!.spec.volumeClaimTemplates?.[0]?.spec.resources.requests.storage !== undefined, true);
    for (const pvc of ["prometheus", "grafana"]) assert.ok(find(objs, "PersistentVolumeClaim", `${FN}-${pvc}`));
    const secret = find(objs, "Secret", `${FN}-secrets`)!;
    assert.equal(Buffer.from(secret.data["api-keys"], "base64").toString(), "change-me-1,change-me-2");
    assert.ok(find(objs, "Ingress", `${FN}-gateway`));
    assert.equal(find(objs, "Deployment", `${FN}-gateway`)!.spec.template.spec.containers[0].image, "registry.example.com/highgopress:0.1.0");
  });
});
