import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runDir } from "../../support/stack.js";

/**
 * Each fault scenario writes what it measured to
 * $HIGHGOPRESS_RUN/fault-results/<scenario>.json (and prints it), which is
 * where the figures in RELIABILITY.md come from.
 */
export function report(scenario: string, figures: Record<string, unknown>): void {
  const dir = join(runDir, "fault-results");
  mkdirSync(dir, { recursive: true });
  const data = { scenario, at: new Date().toISOString(), ...figures };
  writeFileSync(join(dir, `${scenario}.json`), `${JSON.stringify(data, null, 2)}\n`);
  console.log(`# ${scenario}: ${JSON.stringify(figures)}`);
}
