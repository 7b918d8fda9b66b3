import { monitorEventLoopDelay } from "node:perf_hooks";

/**
 * Sheds load when the gateway itself is saturated: when the event loop lags
 * (every request already waits that long before it is even parsed) or memory
 * passes a limit, requests are refused with 429 before their bodies are
 * read, which is the cheapest answer there is. `pressure` is the decision;
 * the monitor samples the process and keeps the verdict in a field that the
 * request hook reads, so the per-request cost is one property read.
 */
export interface PressureSample {
  eventLoopDelayMs: number;
  heapUsedBytes: number;
  rssBytes: number;
}

/** 0 disables a limit. */
export interface PressureLimits {
  maxEventLoopDelayMs: number;
  maxHeapUsedBytes: number;
  maxRssBytes: number;
}

export type PressureReason = "event loop delay" | "heap used" | "resident memory";

export function pressure(sample: PressureSample, limits: PressureLimits): PressureReason | undefined {
  if (limits.maxEventLoopDelayMs > 0 && sample.eventLoopDelayMs > limits.maxEventLoopDelayMs) return "event loop delay";
  if (limits.maxHeapUsedBytes > 0 && sample.heapUsedBytes > limits.maxHeapUsedBytes) return "heap used";
  if (limits.maxRssBytes > 0 && sample.rssBytes > limits.maxRssBytes) return "resident memory";
  return undefined;
}

export interface PressureMonitor {
  /** Why requests are being shed right now, or undefined. */
  reason: PressureReason | undefined;
  last: PressureSample;
  stop(): void;
}

const RESOLUTION_MS = 10;

export function startPressureMonitor(
  limits: PressureLimits,
  sampleMs: number,
  onChange?: (reason: PressureReason | undefined, sample: PressureSample) => void,
): PressureMonitor {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  const monitor: PressureMonitor = {
    reason: undefined,
    last: { eventLoopDelayMs: 0, heapUsedBytes: 0, rssBytes: 0 },
    stop() {
      clearInterval(timer);
      histogram.disable();
    },
  };
  const timer = setInterval(() => {
    const memory = process.memoryUsage();
    const mean = histogram.mean / 1e6;
    histogram.reset();
    // The histogram measures the timer's whole interval; the lag is what exceeds it.
    const sample = { eventLoopDelayMs: Number.isNaN(mean) ? 0 : Math.max(0, mean - RESOLUTION_MS), heapUsedBytes: memory.heapUsed, rssBytes: memory.rss };
    const reason = pressure(sample, limits);
    monitor.last = sample;
    if (reason !== monitor.reason) {
      monitor.reason = reason;
      onChange?.(reason, sample);
    }
  }, sampleMs);
  timer.unref();
  return monitor;
}
