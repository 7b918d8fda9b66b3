import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { redisUrl, repoRoot, runDir } from "../support/stack.js";

let redis: Redis;
before(() => {
  redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
});
after(() => redis?.disconnect());

test("the tests' Redis keeps its data apart from make run's: nothing they write shows up there", async () => {
  const [, dir] = (await redis.config("GET", "dir")) as [string, string];
  const makeRun = join(repoRoot, ".run");
  assert.notEqual(runDir, makeRun, "scripts/test.sh gives the tests their own HIGHGOPRESS_RUN");
  assert.ok(dir.startsWith(join(runDir, "")), `the tests' Redis stores its data in ${dir}, inside ${runDir}`);
  assert.ok(!dir.startsWith(join(makeRun, "redis")), `the tests' Redis stores its data in make run's ${dir}`);
});
