/**
 * CPU and memory of the processes under test, from /proc: CPU time
 * (utime + stime of all threads) over a run, and the peak resident set size
 * sampled while it runs. 100% CPU = one core busy for the whole run.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/**
 * utime + stime + cutime + cstime in clock ticks from /proc/<pid>/stat (comm
 * may hold spaces and parentheses). Children's time counts once they are
 * reaped: Redis' AOF-rewrite child is part of Redis' cost.
 */
export function parseStatTicks(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); utime, stime, cutime, cstime are fields 14-17.
  return Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]);
}

/** VmRSS in kB from /proc/<pid>/status. */
export function parseRssKb(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) : 0;
}

/** Busy and total ticks of the whole machine from the first line of /proc/stat. */
export function parseMachineTicks(procStat: string): { busy: number; total: number } {
  const fields = procStat.split("\n", 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

export const cpuPercent = (ticks: number, clkTck: number, seconds: number) => (seconds > 0 ? (100 * ticks) / clkTck / seconds : 0);

let clkTckCache: number | undefined;
export function clkTck(): number {
  if (clkTckCache === undefined) {
    try {
      clkTckCache = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clkTckCache = 100;
    }
  }
  return clkTckCache;
}

const read = (path: string) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};

export interface ProcessUsage {
  /** Average CPU over the window, % of one core. */
  cpuPercent: number;
  /** Peak resident set size seen, MiB. */
  rssMiB: number;
}

export interface UsageReport {
  seconds: number;
  processes: Record<string, ProcessUsage>;
  /** Whole machine, % of one core (2 cores = 200%). */
  machineCpuPercent: number;
  /** Machine CPU not used by the listed processes: other work on the box. */
  otherCpuPercent: number;
}

/** Samples the named processes from start() to stop(). */
export class UsageSampler {
  private startTicks = new Map<string, number>();
  private peakRss = new Map<string, number>();
  private machine0 = { busy: 0, total: 0 };
  private t0 = 0;
  private timer: NodeJS.Timeout | undefined;

  /** A name may stand for several processes (the nodes of a Redis Cluster): their figures are summed. */
  constructor(private readonly pids: () => Record<string, number | readonly number[] | undefined>) {}

  private each(): Array<[string, number[]]> {
    return Object.entries(this.pids()).map(([name, pid]) => [name, pid === undefined ? [] : typeof pid === "number" ? [pid] : [...pid]]);
  }

  private ticks(pids: readonly number[]): number | undefined {
    const stats = pids.map((pid) => read(`/proc/${pid}/stat`));
    return stats.length > 0 && stats.every((s) => s !== undefined) ? stats.reduce((sum, s) => sum + parseStatTicks(s!), 0) : undefined;
  }

  start(): void {
    this.startTicks.clear();
    this.peakRss.clear();
    for (const [name, pids] of this.each()) {
      const ticks = this.ticks(pids);
      if (ticks !== undefined) this.startTicks.set(name, ticks);
    }
    this.machine0 = parseMachineTicks(read("/proc/stat") ?? "cpu 0 0 0 0");
    this.t0 = performance.now();
    this.sampleRss();
    this.timer = setInterval(() => this.sampleRss(), 200);
  }

  private sampleRss(): void {
    for (const [name, pids] of this.each()) {
      const statuses = pids.map((pid) => read(`/proc/${pid}/status`)).filter((s) => s !== undefined);
      if (statuses.length > 0) this.peakRss.set(name, Math.max(this.peakRss.get(name) ?? 0, statuses.reduce((kb, s) => kb + parseRssKb(s), 0)));
    }
  }

  stop(): UsageReport {
    clearInterval(this.timer);
    this.sampleRss();
    const seconds = (performance.now() - this.t0) / 1000;
    const hz = clkTck();
    const processes: Record<string, ProcessUsage> = {};
    let ours = 0;
    for (const [name, pids] of this.each()) {
      const now = this.ticks(pids);
      const before = this.startTicks.get(name);
      if (now === undefined || before === undefined) continue;
      const ticks = now - before;
      ours += ticks;
      processes[name] = { cpuPercent: round1(cpuPercent(ticks, hz, seconds)), rssMiB: round1((this.peakRss.get(name) ?? 0) / 1024) };
    }
    const m1 = parseMachineTicks(read("/proc/stat") ?? "cpu 0 0 0 0");
    const machineCpuPercent = cpuPercent(m1.busy - this.machine0.busy, hz, seconds);
    return {
      seconds: round3(seconds),
      processes,
      machineCpuPercent: round1(machineCpuPercent),
      otherCpuPercent: round1(Math.max(0, machineCpuPercent - cpuPercent(ours, hz, seconds))),
    };
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const round3 = (x: number) => Math.round(x * 1000) / 1000;
