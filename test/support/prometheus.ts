/**
 * A Prometheus of a test's own (Debian package, temp dir, free port, 1 s
 * scrape), for tests that must control exactly what it scrapes.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, freePort, raceTimeout, repoRoot } from "./stack.js";

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? "/usr/bin/prometheus";

export interface TestPrometheus {
  url: string;
  query(expr: string): Promise<PromSeries[]>;
  stop(): Promise<void>;
}

export interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

/** Installs Debian's prometheus through the project's apt helper when missing (scripts/prometheus.sh does the same). */
function ensurePrometheus(): void {
  if (existsSync(PROMETHEUS_BIN)) return;
  const r = spawnSync("bash", ["-c", `source "${join(repoRoot, "scripts/lib.sh")}" && ensure_apt "${PROMETHEUS_BIN}" prometheus`], {
    stdio: ["ignore", "inherit", "inherit"],
    timeout: 15 * 60_000,
  });
  if (r.status !== 0 || !existsSync(PROMETHEUS_BIN)) throw new Error(`Prometheus is not installed at ${PROMETHEUS_BIN}; run scripts/prometheus.sh start once`);
}

/**
 * A Prometheus scraping `jobs` (job name → host:port targets) every second,
 * with exemplar storage on and the given rule files, stopped by `stop`.
 */
export async function startTestPrometheus(jobs: Record<string, string[]>, ruleFiles: string[] = []): Promise<TestPrometheus> {
  ensurePrometheus();
  const dir = mkdtempSync(join(tmpdir(), "hgp-obs-prom-"));
  const port = await freePort();
  const lines = [
    "global:",
    "  scrape_interval: 1s",
    "  scrape_timeout: 1s",
    "  evaluation_interval: 1s",
    "rule_files:",
    ...ruleFiles.map((f) => `  - ${JSON.stringify(f)}`),
    "scrape_configs:",
  ];
  for (const [job, targets] of Object.entries(jobs)) {
    lines.push(`  - job_name: ${job}`, "    static_configs:", `      - targets: ${JSON.stringify(targets)}`);
  }
  writeFileSync(join(dir, "prometheus.yml"), lines.join("\n") + "\n");
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--enable-feature=exemplar-storage",
      "--log.level=warn",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    "the test Prometheus to be ready",
    async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
      const r = await fetch(`${url}/-/ready`).catch(() => undefined);
      return r?.ok ? true : undefined;
    },
    30_000,
  );
  return {
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { result: PromSeries[] } };
      if (body.status !== "success") throw new Error(`query failed: ${body.error ?? res.status}: ${expr}`);
      return body.data!.result;
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([exited, raceTimeout(10_000)]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

