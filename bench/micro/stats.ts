/**
 * What the microbenchmarks share: medians and ranges over rounds, a
 * markdown table (pasted as is into bench/README.md), and an in-process
 * comparison of call costs whose variants run interleaved, the order
 * rotating every round, so all of them see the same noise of a shared box.
 */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function spread(values: readonly number[], digits: number): string {
  const fmt = (v: number) => (digits === 0 ? Math.round(v).toLocaleString("en") : v.toFixed(digits));
  return `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
}

export function formatTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(headers), line(headers.map((_, i) => (i === 0 ? "---" : "--:"))), ...rows.map(line)].join("\n");
}

/** Runs the variant `iterations` times; async variants are awaited once per batch. */
export type CallVariant = (iterations: number) => void | Promise<void>;

export interface CallComparison {
  title: string;
  variants: Record<string, CallVariant>;
  reference: string;
  rounds?: number;
  iterations: number;
}

/** ns per call, median and range over the rounds, for each variant. */
export async function compareCalls(comparison: CallComparison): Promise<Map<string, number[]>> {
  const rounds = comparison.rounds ?? 9;
  const names = Object.keys(comparison.variants);
  const samples = new Map<string, number[]>(names.map((n) => [n, []]));
  for (const name of names) await comparison.variants[name]!(comparison.iterations);
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length]!;
      const started = process.hrtime.bigint();
      await comparison.variants[name]!(comparison.iterations);
      samples.get(name)!.push(Number(process.hrtime.bigint() - started) / comparison.iterations);
    }
  }
  const reference = median(samples.get(comparison.reference)!);
  const rows = names.map((name) => {
    const ns = samples.get(name)!;
    const m = median(ns);
    return [name, m.toFixed(1), spread(ns, 1), `${m - reference >= 0 ? "+" : ""}${(m - reference).toFixed(1)} ns`, `×${(m / reference).toFixed(2)}`];
  });
  console.log(`\n${comparison.title}`);
  console.log(`${rounds} rounds × ${comparison.iterations.toLocaleString("en")} calls per variant, order rotating; wall time per call\n`);
  console.log(formatTable(["variant", "ns/call (median)", "range", `vs ${comparison.reference}`, "ratio"], rows));
  return samples;
}
