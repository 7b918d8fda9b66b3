/**
 * The image is built for real by the end-to-end suite (scripts/k8s/images.sh,
 * buildah) and its pods run on the local node, which checks that every COPY
 * source exists, the stages chain and the build produces dist/services. What a
 * successful build does not check is checked here: the base image, the build
 * context allowlist, a non-root runtime with production dependencies only,
 * and that the command of every Deployment in every value set is an entry
 * point the TypeScript build produces.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { COMPONENTS, ensureHelm, podSpec, render, repoRoot, valueSets } from "./tools.js";

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  base: string;
  name: string;
  instructions: Instruction[];
}

function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const lines = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const [op = "", ...rest] = line.split(/\s+/);
    const argText = rest.join(" ");
    if (op.toUpperCase() === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(argText);
      assert.ok(m, `cannot parse '${line}'`);
      stages.push({ base: m[1]!, name: m[2] ?? String(stages.length), instructions: [] });
    } else if (stages.length === 0) {
      if (op.toUpperCase() === "ARG") {
        const [k, v = ""] = argText.split("=");
        args[k!] = v;
      }
    } else {
      stages.at(-1)!.instructions.push({ op: op.toUpperCase(), args: argText });
    }
  }
  return { args, stages };
}

/** Docker's .dockerignore semantics: the last matching pattern wins, "!" re-includes. */
function dockerignored(patterns: string[], path: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const neg = raw.startsWith("!");
    const pat = (neg ? raw.slice(1) : raw).replace(/^\/+/, "").replace(/\/+$/, "");
    const re = new RegExp(
      "^" + pat.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*\/?/g, "\u0000").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]").replace(/\u0000/g, ".*") + "(/.*)?$",
    );
    if (re.test(path)) ignored = !neg;
  }
  return ignored;
}

const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
const { args, stages } = parseDockerfile(dockerfile);
const ignorePatterns = readFileSync(join(repoRoot, ".dockerignore"), "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
const stage = (name: string) => stages.find((s) => s.name === name);

describe("Dockerfile", () => {
  test("is multi-stage on a pinned Node base image", () => {
    assert.ok(stages.length >= 3, `only ${stages.length} stages`);
    for (const s of stages) {
      const base = s.base.replace(/\$\{(\w+)\}/g, (_, k: string) => args[k] ?? "");
      if (stage(base)) continue;
      assert.match(base, /^node:\d+[\w.-]*$/, `stage ${s.name} builds on '${base}', expected a node:<major>... image`);
    }
  });

  test("the build context carries the sources and leaves out local builds, tests and node_modules", () => {
    for (const p of ["package.json", "package-lock.json", "tsconfig.json", "buf.gen.yaml", "proto/highgopress/counter/v1/counter.proto", "services/gateway/main.ts", "services/lib/config.ts"]) {
      assert.ok(!dockerignored(ignorePatterns, p), `${p} is excluded from the build context`);
    }
    for (const p of ["node_modules/fastify/package.json", "test/chart/tools.ts", ".git/HEAD", ".run/k8s/kubeconfig", "services/lib/gen/x.ts", "dist/test/chart/tools.js", "charts/highgopress/values.yaml"]) {
      assert.ok(dockerignored(ignorePatterns, p), `${p} would be sent in the build context`);
    }
  });

  test("the runtime (last stage) is non-root and ships only production dependencies and dist/services", () => {
    const last = stages.at(-1)!;
    const chain: Stage[] = [];
    for (let s: Stage | undefined = last; s; s = stage(s.base)) chain.push(s);
    const all = chain.flatMap((s) => s.instructions);
    // The effective USER: the last one in the nearest stage of the chain that sets one.
    const user = chain.map((s) => s.instructions.filter((i) => i.op === "USER").at(-1)).find(Boolean);
    assert.ok(user, "the runtime stage sets no USER");
    assert.match(user.args, /^[1-9]\d*(:\d+)?$/, `USER must be a numeric non-root uid (runAsNonRoot can only verify numbers), got ${user.args}`);
    const from = all.filter((i) => /--from=/.test(i.args)).map((i) => i.args);
    assert.ok(from.some((a) => /\/app\/dist\/services/.test(a)), "runtime does not copy dist/services from the build stage");
    const depsStage = from.map((a) => /--from=(\S+)\s+\S*node_modules/.exec(a)?.[1]).find(Boolean);
    assert.ok(depsStage, "runtime does not copy node_modules from a stage");
    const npmCi = stage(depsStage)!.instructions.filter((i) => i.op === "RUN" && /npm ci/.test(i.args));
    assert.ok(npmCi.length > 0 && npmCi.every((i) => /--omit=dev/.test(i.args)), `node_modules of stage ${depsStage} are not production-only`);
    assert.ok(!all.some((i) => i.op === "COPY" && /\bservices\b/.test(i.args) && !/--from/.test(i.args)), "runtime copies TypeScript sources");
    // gRPC server reflection loads proto/ relative to dist/services/lib at start-up.
    assert.ok(all.some((i) => i.op === "COPY" && /^proto\s+\.\/proto$/.test(i.args)), "runtime does not ship proto/ for server reflection");
  });
});

describe("Deployment commands point at compiled entry points", () => {
  before(() => ensureHelm());

  for (const set of valueSets()) {
    test(set.name, () => {
      const deployments = render(set).filter((o) => o.kind === "Deployment");
      let found = 0;
      for (const d of deployments) {
        for (const c of podSpec(d).containers) {
          const cmd: string[] = c.command ?? [];
          if (cmd[0] !== "node") continue; // bundled dependencies use their own images
          found++;
          const entry = cmd.filter((a) => !a.startsWith("-"))[1]!;
          const m = /^dist\/services\/([a-z-]+)\/main\.js$/.exec(entry);
          assert.ok(m, `${d.metadata.name}: command ${cmd.join(" ")} does not run dist/services/<name>/main.js`);
          assert.ok((COMPONENTS as readonly string[]).includes(m[1]!), `${d.metadata.name}: unknown service ${m[1]}`);
          assert.ok(existsSync(join(repoRoot, `services/${m[1]}/main.ts`)), `${d.metadata.name} runs ${entry}, but services/${m[1]}/main.ts does not exist`);
          // The compiled tree of this checkout (tests run after tsc) has it too.
          if (existsSync(join(repoRoot, "dist/services"))) assert.ok(existsSync(join(repoRoot, entry)), `${entry} was not produced by tsc`);
        }
      }
      assert.ok(found >= 3, `only ${found} HighGoPress containers found`);
    });
  }
});
