/**
 * Two bench results side by side (median repeats): ratio, QPS, P99, drain and
 * CPU µs per request of each process, before → after.
 *
 *   node dist/bench/compare.js bench/results/BEFORE.json bench/results/AFTER.json
 */
import { readFileSync } from "node:fs";
import { compareTable, type BenchResult } from "./report.js";

const [beforeFile, afterFile] = process.argv.slice(2);
if (!beforeFile || !afterFile) {
  console.error("usage: node dist/bench/compare.js BEFORE.json AFTER.json");
  process.exit(64);
}
const read = (file: string) => JSON.parse(readFileSync(file, "utf8")) as BenchResult;
console.log(compareTable(read(beforeFile).levels, read(afterFile).levels));
