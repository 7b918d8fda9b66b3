/**
 * A node:test reporter that writes one short entry per failed test: where it
 * is, its name, and the head and tail of its error. scripts/test.sh prints
 * the file last, after everything is stopped, so the cause of a red run is in
 * the closing lines of its output (where a CI page shows it) rather than
 * hundreds of lines above, behind a stack trace and the shutdown log.
 */
import { relative } from "node:path";

interface FailEvent {
  type: string;
  data: { name: string; file?: string; line?: number; details?: { error?: unknown } };
}

// Failures that only repeat another one: a suite whose tests failed, a test
// cancelled because its suite or the file's hook failed.
const ECHOES = new Set(["subtestsFailed", "cancelledByParent"]);
const HEAD = 3;
const TAIL = 8;

function cause(error: unknown): { message: string; failureType?: string } {
  const e = (error ?? {}) as { message?: unknown; cause?: unknown; failureType?: string; code?: string };
  // The runner wraps what the test threw in ERR_TEST_FAILURE; the thrown error is its cause.
  const inner = e.code === "ERR_TEST_FAILURE" && e.cause !== undefined ? (e.cause as { message?: unknown }) : e;
  return { message: String(inner?.message ?? inner ?? ""), failureType: e.failureType };
}

export function summarize(name: string, where: string, message: string): string {
  const lines = message.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "");
  const shown = lines.length <= HEAD + TAIL ? lines : [...lines.slice(0, HEAD), `… ${lines.length - HEAD - TAIL} lines …`, ...lines.slice(-TAIL)];
  return [`✖ ${where}: ${name}`, ...shown.map((l) => `    ${l.length > 240 ? `${l.slice(0, 240)}…` : l}`)].join("\n") + "\n";
}

export default async function* failureSummary(source: AsyncIterable<FailEvent>): AsyncGenerator<string> {
  for await (const event of source) {
    if (event.type !== "test:fail") continue;
    const { message, failureType } = cause(event.data.details?.error);
    if (failureType !== undefined && ECHOES.has(failureType)) continue;
    const file = event.data.file ? relative(process.cwd(), event.data.file) : "?";
    yield summarize(event.data.name, event.data.line ? `${file}:${event.data.line}` : file, message);
  }
}
