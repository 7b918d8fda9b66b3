import type { Logger } from "./logger.js";

export type ShutdownStep = { name: string; run: () => Promise<void> | void };

/**
 * Runs the steps in order on SIGTERM/SIGINT (readiness off, drain, flush,
 * close clients), each bounded by the grace period, then exits. A second
 * signal exits at once.
 */
export function onShutdown(logger: Logger, graceMs: number, steps: ShutdownStep[]): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, "second signal received; exiting now");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, graceMs }, "shutting down");
    const deadline = Date.now() + graceMs;
    for (const step of steps) {
      const left = Math.max(0, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(step.run),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${left} ms`)), left);
          }),
        ]);
      } catch (err) {
        logger.error({ err, step: step.name }, "shutdown step failed");
      } finally {
        clearTimeout(timer);
      }
    }
    logger.info("shutdown complete");
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}
