/**
 * What Redis spends inside the two scripts that carry every increment, timed
 * by Redis itself (INFO commandstats, so neither the client nor the network
 * counts): the counter's increment script on calls of 200 operations, and
 * analytics' apply script on chunks of 500 counters, ids drawn Zipf(1.1)
 * over 100,000 as in the bench's write-zipf scenario. The script time of a
 * Redis-bound batch is mostly here (bench/README.md, "Per-batch events").
 *
 * With --against <git ref>, the scripts of that commit (taking the same
 * arguments) run too, blocks of calls alternating with this tree's, so both
 * see the same noise of a shared box: the before/after of a script change.
 *
 * Needs a Redis (scripts/infra.sh start redis; REDIS_URL, default
 * redis://127.0.0.1:6379); its keys are under one prefix, deleted at the end.
 *
 *   npm run build && node dist/bench/micro/redis-scripts.js [--blocks 60] [--against HEAD~1]
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { repoRoot } from "../../tools/local-system.js";
import { mulberry32 } from "../prng.js";
import { Zipf } from "../zipf.js";
import { formatTable, median, spread } from "./stats.js";

const SOURCES = { increment: ["services/counter/store.ts", "INCREMENT_SCRIPT"], apply: ["services/analytics/apply.ts", "APPLY_SCRIPT"] } as const;
type Kind = keyof typeof SOURCES;
const CALLS_PER_BLOCK = 10;

/** A script's Lua as written in the TypeScript source (a template literal; EVENT_COUNTERS is 500 in every release so far). */
function scriptOf(source: string, name: string): string {
  const lua = new RegExp(`const ${name} = \`([\\s\\S]*?)\`;`).exec(source)?.[1];
  if (!lua) throw new Error(`no ${name} template literal in the source`);
  return lua.replace("${EVENT_COUNTERS}", "500");
}

const sourceAt = (ref: string | undefined, path: string) =>
  ref === undefined ? readFileSync(join(repoRoot, path), "utf8") : execFileSync("git", ["show", `${ref}:${path}`], { cwd: repoRoot, encoding: "utf8" });

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { blocks: { type: "string", default: "60" }, against: { type: "string" } } });
  const blocks = Number(values.blocks);
  const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  const prefix = `hgp-bench-scripts:${process.pid}:`;
  const versions = values.against === undefined ? ["this tree"] : [`${values.against}`, "this tree"];
  const sha = new Map<string, string>();
  for (const version of versions) {
    for (const kind of Object.keys(SOURCES) as Kind[]) {
      const [path, name] = SOURCES[kind];
      const source = sourceAt(version === "this tree" ? undefined : version, path);
      sha.set(`${version} ${kind}`, (await redis.script("LOAD", scriptOf(source, name))) as string);
    }
  }
  const zipf = new Zipf(100_000, 1.1);
  const random = mulberry32(20261202);
  const id = () => `z${zipf.rank(random())}`;
  let events = 0;
  /** Counters handed to each script so far (an increment call's 200 operations fold into fewer). */
  const counters: Record<Kind, number> = { increment: 0, apply: 0 };

  const call: Record<Kind, (sha: string) => Promise<unknown>> = {
    async increment(script) {
      const sums = new Map<string, number>();
      for (let i = 0; i < 200; i++) {
        const resource = id();
        sums.set(resource, (sums.get(resource) ?? 0) + 1);
      }
      counters.increment += sums.size;
      const keys = [`${prefix}outbox`];
      const args: (string | number)[] = [Date.now(), sums.size, 0, 86_400, "", "b"];
      for (const [resource, n] of sums) {
        keys.push(`${prefix}counter:${resource}`);
        args.push(n, n, resource, "like");
      }
      await redis.evalsha(script, keys.length, ...keys, ...args);
      return redis.del(`${prefix}outbox`);
    },
    apply(script) {
      const keys = [`${prefix}seen:${events++}`, `${prefix}rank`, `${prefix}count`, `${prefix}sum`];
      const args: (string | number)[] = [86_400, 86_400, 1, 500];
      for (let i = 0; i < 500; i++) args.push(1, id(), 1 + (i % 3), 1);
      counters.apply += 500;
      return redis.evalsha(script, keys.length, ...keys, ...args);
    },
  };
  const scriptMicros = async () => {
    const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(await redis.info("commandstats"));
    return m ? Number(m[2]) : 0;
  };

  const samples = new Map<string, Array<{ micros: number; counters: number }>>([...sha.keys()].map((k) => [k, []]));
  try {
    for (let block = 0; block < blocks; block++) {
      const order = block % 2 ? [...versions].reverse() : versions;
      for (const version of order) {
        for (const kind of Object.keys(SOURCES) as Kind[]) {
          const [before, counted] = [await scriptMicros(), counters[kind]];
          for (let i = 0; i < CALLS_PER_BLOCK; i++) await call[kind](sha.get(`${version} ${kind}`)!);
          samples.get(`${version} ${kind}`)!.push({ micros: (await scriptMicros()) - before, counters: counters[kind] - counted });
        }
      }
    }
  } finally {
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) await redis.unlink(...keys);
    }
    redis.disconnect();
  }

  console.log(`Redis-timed µs per script call, ${blocks} blocks × ${CALLS_PER_BLOCK} calls per script and version, Zipf(1.1) over 100,000 ids\n`);
  const rows = [...samples].map(([key, blockSamples]) => {
    const perCall = blockSamples.map((b) => b.micros / CALLS_PER_BLOCK);
    const perCounter = blockSamples.map((b) => b.micros / b.counters);
    return [key, Math.round(median(perCall)).toLocaleString("en"), spread(perCall, 0), median(perCounter).toFixed(2), spread(perCounter, 2)];
  });
  console.log(formatTable(["script", "µs per call (median)", "range", "µs per counter (median)", "range"], rows));
}

await main();
