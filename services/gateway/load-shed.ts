import underPressure from "@fastify/under-pressure";
import type { FastifyInstance } from "fastify";

/**
 * Sheds load when the gateway itself is saturated: when the event loop lags
 * (every request already waits that long before it is even parsed) or memory
 * passes a limit, requests are refused with 429 before their bodies are
 * read, which is the cheapest answer there is.
 *
 * Sampling and the verdict are @fastify/under-pressure's: event-loop delay
 * as the mean of a 10 ms monitorEventLoopDelay histogram less that
 * resolution, heap used and RSS, every 500 ms. It sits in a context of its
 * own that has no routes, so its own hook (a 503 for every route of the app)
 * never runs; the admission hook (admission.ts) asks for the verdict and
 * answers instead, because a plugin's hook runs before the routes' telemetry
 * hook and refusals would go untimed and untraced. Measured with the
 * plugin's own hook, the library costs the same per request as the module it
 * replaced (bench/README.md, "Library or hand-written").
 */

/** 0 disables a limit. */
export interface PressureLimits {
  maxEventLoopDelayMs: number;
  maxHeapUsedBytes: number;
  maxRssBytes: number;
}

export interface PressureSample {
  eventLoopDelayMs: number;
  heapUsedBytes: number;
  rssBytes: number;
}

export interface PressureMonitor {
  /** True while requests are to be shed. */
  underPressure(): boolean;
  /** The latest sample, for the log. */
  sample(): PressureSample;
}

export const SAMPLE_MS = 500;

export function sheddingEnabled(limits: PressureLimits): boolean {
  return limits.maxEventLoopDelayMs > 0 || limits.maxHeapUsedBytes > 0 || limits.maxRssBytes > 0;
}

/** Samples from the time `app` loads until it closes; not under pressure before the first sample. */
export function monitorPressure(app: FastifyInstance, limits: PressureLimits): PressureMonitor {
  let sampler: FastifyInstance | undefined;
  app.register(async (context) => {
    await context.register(underPressure, {
      maxEventLoopDelay: limits.maxEventLoopDelayMs,
      maxHeapUsedBytes: limits.maxHeapUsedBytes,
      maxRssBytes: limits.maxRssBytes,
      sampleInterval: SAMPLE_MS,
    });
    sampler = context;
  });
  return {
    underPressure: () => sampler?.isUnderPressure() ?? false,
    sample() {
      const usage = sampler?.memoryUsage();
      return { eventLoopDelayMs: usage?.eventLoopDelay ?? 0, heapUsedBytes: usage?.heapUsed ?? 0, rssBytes: usage?.rssBytes ?? 0 };
    },
  };
}
