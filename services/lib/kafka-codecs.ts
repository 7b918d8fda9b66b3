import { promisify } from "node:util";
import { zstdCompress, zstdDecompress } from "node:zlib";
import lz4Module from "@2l/kafkajs-lz4";
import kafkajs from "kafkajs";
import SnappyCodec from "kafkajs-snappy";
import { guarded, unknownCodec, type Codec } from "./kafka-undecodable.js";

// kafkajs is CommonJS without named-export hints: its registries come from the default export.
const { CompressionCodecs, CompressionTypes } = kafkajs;

/**
 * Every compression codec Kafka defines, for kafkajs, which ships only gzip:
 * without the others a topic whose broker setting `compression.type` is
 * snappy, lz4 or zstd stops the consumer for good ("LZ4 compression not
 * implemented", not retried). snappy is kafkajs-snappy (pure JavaScript,
 * reads the xerial framing brokers write), lz4 is @2l/kafkajs-lz4 (lz4-napi,
 * prebuilt per platform as npm packages, no build step), zstd is Node's own
 * zlib (Node 22.15+). Cost per event: bench/README.md, "Kafka compression".
 */
export const COMPRESSIONS = ["none", "gzip", "snappy", "lz4", "zstd"] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export const compressionType: Record<Compression, kafkajs.CompressionTypes> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

// The package's CommonJS export is the class itself (module.exports), while
// its typings declare an ES default export; this is the class either way.
const LZ4Codec = lz4Module as unknown as typeof lz4Module.default;

const zstd = { compress: promisify(zstdCompress), decompress: promisify(zstdDecompress) };

let registered = false;

/**
 * Registers snappy, lz4 and zstd with kafkajs (process-wide, once), each
 * codec guarded so that a batch it cannot read is skipped rather than
 * crashing the consumer (kafka-undecodable.ts); so are the ids Kafka leaves
 * undefined.
 */
export function registerKafkaCodecs(): void {
  if (registered) return;
  registered = true;
  const codecs = CompressionCodecs as unknown as Record<number, () => Codec>;
  const gzip = codecs[CompressionTypes.GZIP]!();
  const snappy = SnappyCodec();
  const lz4 = new LZ4Codec().codec();
  const zstdCodec: Codec = {
    compress: (encoder) => zstd.compress(encoder.buffer),
    decompress: (buffer) => zstd.decompress(buffer),
  };
  const all: Array<[number, string, Codec]> = [
    [CompressionTypes.GZIP, "gzip", gzip],
    [CompressionTypes.Snappy, "snappy", snappy],
    [CompressionTypes.LZ4, "lz4", lz4],
    [CompressionTypes.ZSTD, "zstd", zstdCodec],
  ];
  for (const [id, name, codec] of all) {
    const safe = guarded(name, codec);
    codecs[id] = () => safe;
  }
  for (const id of [5, 6, 7]) {
    const safe = unknownCodec(id);
    codecs[id] = () => safe;
  }
}
