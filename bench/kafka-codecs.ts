/**
 * What each Kafka codec costs per counter event, in process: a payload of
 * 1,000 per-key CounterEvents (distinct resources, one counter type; a batch
 * event carries the same fields per counter, less the id and timestamp)
 * compressed and decompressed with the codecs the services
 * register (services/lib/kafka-codecs.ts), median of `--rounds` rounds.
 *
 *   node dist/bench/kafka-codecs.js [--rounds 200]
 */
import kafkajs from "kafkajs";
import { COMPRESSIONS, compressionType, registerKafkaCodecs } from "../services/lib/kafka-codecs.js";
import { CounterEvent } from "../services/lib/gen/highgopress/events/v1/counter_event.js";

const EVENTS = 1_000;
const roundsArg = process.argv.indexOf("--rounds");
const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 200;

registerKafkaCodecs();
type Codec = { compress(encoder: { buffer: Buffer }): Promise<Buffer>; decompress(buffer: Buffer): Promise<Buffer> };
const codecs: Record<number, () => Codec> = kafkajs.CompressionCodecs;
const now = Date.now();
const payload = Buffer.concat(
  Array.from({ length: EVENTS }, (_, i) =>
    Buffer.from(
      CounterEvent.encode({
        eventId: `${now}-${i}`,
        resourceId: `article_${(i * 7919) % 100_000}`,
        counterType: "like",
        delta: 1 + (i % 3),
        incrementCount: 1 + (i % 2),
        newValue: String(1_000 + i),
        timestampMs: now,
      }).finish(),
    ),
  ),
);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(`${EVENTS} events, ${payload.length} bytes uncompressed, ${rounds} rounds, Node ${process.version}`);
console.log("| codec | bytes per event | compress µs/event | decompress µs/event |");
console.log("|---|---|---|---|");
for (const name of COMPRESSIONS) {
  if (name === "none") continue;
  const codec = codecs[compressionType[name]]!();
  let compressed = await codec.compress({ buffer: payload });
  const c: number[] = [];
  const d: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t = performance.now();
    compressed = await codec.compress({ buffer: payload });
    c.push(performance.now() - t);
    t = performance.now();
    const back = await codec.decompress(compressed);
    d.push(performance.now() - t);
    if (back.length !== payload.length) throw new Error(`${name}: decompressed ${back.length} bytes, expected ${payload.length}`);
  }
  const us = (ms: number) => ((ms * 1000) / EVENTS).toFixed(2);
  console.log(`| ${name} | ${(compressed.length / EVENTS).toFixed(1)} | ${us(median(c))} | ${us(median(d))} |`);
}
console.log(`| none | ${(payload.length / EVENTS).toFixed(1)} | – | – |`);
