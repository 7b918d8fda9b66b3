/**
 * The simulation over many seeds (every trace's noise changes with the seed):
 * the mean of each column per trace and autoscaler, and on the noisy trace
 * how many seeds miss the calm target (a direction reversal, or more than
 * two scale changes). One seed can flatter a rule; this is how the
 * `confidence` defaults were chosen (README.md).
 *
 *   node dist/bench/autoscaler/seeds.js [--from 1] [--to 100] [--startup S] [--margin M] [--history S]
 */
import { autoscalersFor, confidenceArgs, optionalArg, simulate, type SimResult } from "./simulate.js";
import { traces } from "./traces.js";

const from = optionalArg("--from") ?? 1;
const to = optionalArg("--to") ?? 100;
const startup = optionalArg("--startup") ?? 10;
const confidence = confidenceArgs();

const byRow = new Map<string, SimResult[]>();
for (let seed = from; seed <= to; seed++) {
  for (const trace of traces(seed)) {
    for (const autoscaler of autoscalersFor(trace, confidence)) {
      const key = `${trace.name}\t${autoscaler.name}`;
      byRow.set(key, [...(byRow.get(key) ?? []), simulate(trace, autoscaler, trace.startupSeconds ?? startup)]);
    }
  }
}

const mean = (rs: SimResult[], f: (r: SimResult) => number): string => String(Math.round(rs.reduce((a, r) => a + f(r), 0) / rs.length));
console.log(`Seeds ${from}..${to}: means per trace; "not calm" counts the seeds with a direction reversal or more than 2 scale changes.`);
console.log("");
console.log("| trace | autoscaler | under-provisioning (pod·s) | over-provisioning (pod·s) | scale changes | direction reversals | not calm |");
console.log("|---|---|---:|---:|---:|---:|---:|");
for (const [key, rs] of byRow) {
  const [trace, autoscaler] = key.split("\t");
  const notCalm = rs.filter((r) => r.reversals > 0 || r.scaleChanges > 2).length;
  console.log(
    `| ${trace} | ${autoscaler} | ${mean(rs, (r) => r.underPodSeconds)} | ${mean(rs, (r) => r.overPodSeconds)} | ` +
      `${mean(rs, (r) => r.scaleChanges)} | ${mean(rs, (r) => r.reversals)} | ${trace === "noisy steady" ? `${notCalm}/${rs.length}` : ""} |`,
  );
}
