/**
 * Shared plumbing of the chart tests: where the repository, the chart and the
 * control-plane binaries are, how to run helm and kubectl, and how to render
 * the chart for each value set.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../../..");
export const chartDir = join(repoRoot, "charts/highgopress");
export const cacheDir = process.env.HIGHGOPRESS_CACHE ?? join(homedir(), ".cache/highgopress");
export const binDir = join(cacheDir, "bin");
/** Control plane and node state: one per machine, in the clone's .run/k8s (scripts/k8s/common.sh). */
export const k8sRunDir = join(repoRoot, ".run/k8s");
export const kubeconfig = join(k8sRunDir, "kubeconfig");
export const COMPONENTS = ["gateway", "counter", "analytics", "autoscaler"] as const;

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Its output goes into the test's as it comes (a cold build's progress), and is not returned. */
  live?: boolean;
}

/** Runs a program to completion; never throws on a non-zero exit. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): RunResult {
  const r = spawnSync(cmd, args, {
    cwd: repoRoot,
    input: opts.input,
    stdio: opts.live ? ["ignore", "inherit", "inherit"] : "pipe",
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    timeout: opts.timeoutMs ?? 120_000,
    env: { ...process.env, KUBECONFIG: kubeconfig, HELM_CACHE_HOME: join(k8sRunDir, "helm/cache"), HELM_CONFIG_HOME: join(k8sRunDir, "helm/config"), HELM_DATA_HOME: join(k8sRunDir, "helm/data"), ...opts.env },
  });
  if (r.error) throw new Error(`${cmd} ${args.join(" ")}: ${r.error.message}\n${(r.stderr ?? "").slice(-4000)}`);
  return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "(its output is above)" };
}

/**
 * Runs and fails with the command's own output when it exits non-zero:
 * standard error last, since the scripts end it with the reason they stopped.
 */
export function runOk(cmd: string, args: string[], opts: RunOptions = {}): string {
  const r = run(cmd, args, opts);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}\n${r.stdout.slice(-4000)}\n${r.stderr}`);
  }
  return r.stdout;
}

export const helmBin = join(binDir, "helm");
export const kubectlBin = join(binDir, "kubectl");

/** Builds helm if needed (seconds when already built). */
export function ensureHelm(): void {
  if (!existsSync(helmBin)) runOk(join(repoRoot, "scripts/k8s/build.sh"), ["helm"], { timeoutMs: 30 * 60_000 });
}

/**
 * Builds what is missing of the control plane and starts what is not running
 * (scripts/k8s/up.sh: seconds when it is up), then a KubeConfig for it.
 */
export function ensureControlPlane(): KubeConfig {
  runOk(join(repoRoot, "scripts/k8s/up.sh"), [], { timeoutMs: 60 * 60_000 });
  process.env.KUBECONFIG = kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return kc;
}

export const helm = (args: string[], opts: { input?: string; timeoutMs?: number } = {}) => run(helmBin, args, opts);
export const kubectl = (args: string[], opts: { input?: string; timeoutMs?: number } = {}) => run(kubectlBin, args, opts);

/** The value sets every test covers: the defaults plus every ci/*-values.yaml. */
export interface ValueSet {
  name: string;
  file?: string;
}
export function valueSets(): ValueSet[] {
  const ci = join(chartDir, "ci");
  const files = readdirSync(ci).filter((f) => f.endsWith("-values.yaml")).sort();
  return [{ name: "default" }, ...files.map((f) => ({ name: f.replace(/-values\.yaml$/, ""), file: join(ci, f) }))];
}

export const valuesArgs = (set: ValueSet): string[] => (set.file ? ["-f", set.file] : []);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: any; data?: any; [k: string]: any };

export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
    const value = doc.toJSON() as K8sObject | null;
    if (value) out.push(value);
  }
  return out;
}

/** helm template of one value set; returns the YAML text. */
export function renderText(set: ValueSet, opts: { release?: string; namespace?: string; extra?: string[] } = {}): string {
  return runOk(helmBin, [
    "template", opts.release ?? "hgp", chartDir,
    "--namespace", opts.namespace ?? "highgopress",
    ...valuesArgs(set), ...(opts.extra ?? []),
  ]);
}

export function render(set: ValueSet, opts: { release?: string; namespace?: string; extra?: string[] } = {}): K8sObject[] {
  return parseManifests(renderText(set, opts));
}

/** The pod template of a workload object, if it has one. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function podSpec(o: K8sObject): any | undefined {
  if (["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].includes(o.kind)) return o.spec?.template?.spec;
  if (o.kind === "CronJob") return o.spec?.jobTemplate?.spec?.template?.spec;
  if (o.kind === "Pod") return o.spec;
  return undefined;
}

export const id = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
