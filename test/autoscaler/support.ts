/**
 * Test support for the autoscaler integration tests: the local control plane
 * from scripts/k8s/up.sh, a dedicated Prometheus (Debian package, 1 s scrape)
 * and a metrics endpoint whose request rate each test sets.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { kubeconfig, kubectlBin } from "../chart/tools.js";
import { startTestPrometheus, type TestPrometheus } from "../support/prometheus.js";
import { runDir } from "../support/stack.js";

export type { TestPrometheus };
export { eventually, freePort, raceTimeout, repoRoot, runDir, sleep } from "../support/stack.js";

export { cacheDir, ensureControlPlane, kubectlBin } from "../chart/tools.js";
export const logDir = join(runDir, "test-logs");

export function kubectl(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(kubectlBin, ["--kubeconfig", kubeconfig, ...args], { encoding: "utf8", input, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function kubectlOk(args: string[], input?: string): string {
  const r = kubectl(args, input);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** A /metrics endpoint with one counter per scenario, growing at the rate the test sets. */
export interface RateEndpoint {
  port: number;
  setRate(scenario: string, perSecond: number): void;
  close(): Promise<void>;
}

export async function startRateEndpoint(): Promise<RateEndpoint> {
  const counters = new Map<string, { value: number; rate: number; at: number }>();
  const advance = () => {
    const now = Date.now();
    for (const c of counters.values()) {
      c.value += (c.rate * (now - c.at)) / 1000;
      c.at = now;
    }
  };
  const server: Server = createServer((req, res) => {
    advance();
    const lines = ["# HELP hgp_test_requests_total Requests served (test-controlled rate).", "# TYPE hgp_test_requests_total counter"];
    for (const [scenario, c] of counters) lines.push(`hgp_test_requests_total{scenario="${scenario}"} ${c.value.toFixed(3)}`);
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(lines.join("\n") + "\n");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    setRate(scenario, perSecond) {
      advance();
      const c = counters.get(scenario) ?? { value: 0, rate: 0, at: Date.now() };
      c.rate = perSecond;
      counters.set(scenario, c);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A Prometheus of the test's own scraping `target` every second. */
export function startPrometheus(target: string): Promise<TestPrometheus> {
  return startTestPrometheus({ "autoscaler-test": [target] });
}
