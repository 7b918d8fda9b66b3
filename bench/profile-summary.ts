/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and prints where the time
 * went: self time per package / area and the hottest functions.
 *
 *   node dist/bench/profile-summary.js FILE.cpuprofile [--top 30]
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Where a script belongs: an npm package, node's internals, or our code. */
export function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith("(") ? functionName : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith("node:")) return `node:${url.slice(5).split("/")[0] === "internal" ? url.slice(5).split("/").slice(0, 2).join("/") : url.slice(5)}`;
  const ours = /\/dist\/(.+)\.js$/.exec(url);
  if (ours) return ours[1]!;
  return url;
}

export function summarizeProfile(profile: Profile): { totalMs: number; areas: [string, number][]; functions: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const { functionName, url, lineNumber } = n.callFrame;
    total += us;
    const area = areaOf(url, functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const fn = `${functionName || "(anonymous)"} ${url ? `${url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*\/dist\//, "dist/")}:${lineNumber + 1}` : ""}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v / 1000] as [string, number]);
  return { totalMs: total / 1000, areas: sorted(areas), functions: sorted(functions) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "30" } } });
  const top = Number(values.top);
  for (const file of positionals) {
    const s = summarizeProfile(JSON.parse(readFileSync(file, "utf8")) as Profile);
    const pct = (ms: number) => `${((100 * ms) / s.totalMs).toFixed(1).padStart(5)}%`;
    console.log(`\n${file}: ${(s.totalMs / 1000).toFixed(1)} s sampled`);
    console.log("\nself time by area:");
    for (const [area, ms] of s.areas.slice(0, top)) console.log(`  ${pct(ms)}  ${ms.toFixed(0).padStart(7)} ms  ${area}`);
    console.log("\nhottest functions (self time):");
    for (const [fn, ms] of s.functions.slice(0, top)) console.log(`  ${pct(ms)}  ${ms.toFixed(0).padStart(7)} ms  ${fn}`);
  }
}
