/**
 * The one way the services are started on this machine, shared by
 * `make run` (tools/run.ts), the tests (test/support/stack.ts) and the bench
 * (bench/system.ts): `node dist/services/<name>/main.js` with the caller's
 * environment, output appended to a log file, ready when its /readyz
 * answers 200; counter and analytics first, so the gateway finds them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "../..");

export const SERVICES = ["counter", "analytics", "gateway"] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface ServiceOptions {
  env: Record<string, string | undefined>;
  logFile: string;
  /** The service's /readyz (the gateway's port, or the back end's METRICS_PORT). */
  readyUrl: string;
  nodeArgs?: readonly string[];
  readyTimeoutMs?: number;
}

export interface ServiceProcess {
  name: ServiceName;
  child: ChildProcess;
  logFile: string;
  /** Sends `signal` and waits for the exit; SIGKILL after `timeoutMs`. Resolves with the exit code. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
}

export async function startService(name: ServiceName, options: ServiceOptions): Promise<ServiceProcess> {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = createWriteStream(options.logFile, { flags: "a" });
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), join(repoRoot, "dist/services", name, "main.js")], {
    cwd: repoRoot,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const service: ServiceProcess = {
    name,
    child,
    logFile: options.logFile,
    async stop(signal = "SIGTERM", timeoutMs = 20_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        await exited;
        clearTimeout(timer);
      }
      return child.exitCode;
    },
  };
  const timeoutMs = options.readyTimeoutMs ?? 90_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before it was ready; see ${options.logFile}`);
    }
    const ready = await fetch(options.readyUrl, { signal: AbortSignal.timeout(1_000) }).then((r) => r.status === 200, () => false);
    if (ready) return service;
    if (Date.now() > deadline) {
      await service.stop("SIGKILL");
      throw new Error(`${name} not ready at ${options.readyUrl} after ${timeoutMs / 1000} s; see ${options.logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Starts `names` in dependency order (back ends together, then the gateway).
 * On a failure, stops what already started before rethrowing.
 */
export async function startServices(
  names: readonly ServiceName[],
  optionsFor: (name: ServiceName) => ServiceOptions,
  onStarted: (service: ServiceProcess) => void = () => undefined,
): Promise<Map<ServiceName, ServiceProcess>> {
  const started = new Map<ServiceName, ServiceProcess>();
  const start = async (name: ServiceName) => {
    const service = await startService(name, optionsFor(name));
    started.set(name, service);
    onStarted(service);
  };
  try {
    await Promise.all(names.filter((n) => n !== "gateway").map(start));
    if (names.includes("gateway")) await start("gateway");
  } catch (err) {
    await stopServices(started);
    throw err;
  }
  return started;
}

/** Stops the gateway first (no new requests), then the back ends. */
export async function stopServices(services: ReadonlyMap<ServiceName, ServiceProcess>): Promise<void> {
  await services.get("gateway")?.stop();
  await Promise.all([...services.values()].filter((s) => s.name !== "gateway").map((s) => s.stop()));
}
