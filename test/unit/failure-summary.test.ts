import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

test("the failure summary names each failed test once, with the head and tail of its error", () => {
  const r = spawnSync(
    process.execPath,
    ["--test", `--test-reporter=${join(here, "../support/failure-summary.js")}`, "--test-reporter-destination=stdout", join(here, "fixtures/failing-suite.js")],
    // Without NODE_TEST_CONTEXT, which would make it report to this runner instead.
    { encoding: "utf8", timeout: 60_000, env: { ...process.env, NODE_TEST_CONTEXT: undefined } },
  );
  assert.notEqual(r.status, 0, "the fixture's failures fail the run");
  const out = r.stdout;
  assert.doesNotMatch(out, /a test that passes/);
  assert.match(out, /✖ .*failing-suite\.js:\d+: a test that fails with a long message\n {4}line 1\n {4}line 2\n {4}line 3\n {4}… 19 lines …\n {4}line 23\n/);
  assert.match(out, /line 30\n/);
  assert.match(out, /a suite whose setup fails\n {4}setup went wrong\n {4}error: the reason, last\n/);
  // The test the failed hook cancelled repeats that failure; it is left out.
  assert.doesNotMatch(out, /never runs/);
  assert.equal(out.match(/^✖/gm)?.length, 2, out);
});
