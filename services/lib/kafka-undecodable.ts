import { createRequire } from "node:module";

/**
 * A record batch kafkajs cannot read (a compressed payload that does not
 * decompress, records that do not parse, a codec id Kafka does not define)
 * makes kafkajs throw while decoding the whole fetch: the consumer crashes,
 * restarts at the same offset and crashes again, for good. Guarding each
 * codec turns such a batch into stand-in records, one per offset of the
 * batch, marked with UNDECODABLE_HEADER: the consumer counts, dead-letters
 * and skips them like any message it cannot read, and the partition moves on.
 * The first stand-in carries the batch's compressed bytes, for the
 * dead-letter copy.
 *
 * kafkajs passes a codec only the compressed bytes, as a view into the fetch
 * response; the batch header fields needed here (its record count and last
 * offset delta) sit just before them in the same buffer, where kafkajs's
 * record batch decoder read them. kafkajs is pinned exactly for this
 * (docs/DEPENDENCIES.md).
 */
export const UNDECODABLE_HEADER = "highgopress-undecodable";

const require = createRequire(import.meta.url);
// kafkajs's own record encoder and byte decoder, so stand-ins are exactly what its fetch decoder reads.
const encodeRecord = require("kafkajs/src/protocol/recordBatch/record/v0") as (record: {
  offsetDelta: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}) => { buffer: Buffer };
const Decoder = require("kafkajs/src/protocol/decoder") as new (buffer: Buffer) => { offset: number; readVarInt(): number };

export interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

// From the records back to the batch header fields (Kafka's RecordBatch v2 layout):
// ... LastOffsetDelta int32, FirstTimestamp int64, MaxTimestamp int64, ProducerId int64,
// ProducerEpoch int16, FirstSequence int32, RecordCount int32, then the records.
const RECORD_COUNT_BACK = 4;
const LAST_OFFSET_DELTA_BACK = 4 + 4 + 2 + 8 + 8 + 8 + 4;
/** More records than any batch a broker accepts by default (1 MB of at least 7-byte records). */
const MAX_RECORDS = 1 << 20;

/** The batch's record count and last offset delta, read before its compressed bytes; undefined when implausible. */
export function batchShape(compressed: Buffer): { count: number; lastOffsetDelta: number } | undefined {
  if (compressed.byteOffset < LAST_OFFSET_DELTA_BACK) return undefined;
  const header = Buffer.from(compressed.buffer, compressed.byteOffset - LAST_OFFSET_DELTA_BACK, LAST_OFFSET_DELTA_BACK);
  const lastOffsetDelta = header.readInt32BE(0);
  const count = header.readInt32BE(LAST_OFFSET_DELTA_BACK - RECORD_COUNT_BACK);
  if (count < 1 || count > MAX_RECORDS || lastOffsetDelta < count - 1) return undefined;
  return { count, lastOffsetDelta };
}

/** True when `records` holds exactly `count` length-prefixed records, as kafkajs will read them. */
export function recordsParse(records: Buffer, count: number): boolean {
  const decoder = new Decoder(records);
  try {
    for (let i = 0; i < count; i++) {
      const length = decoder.readVarInt();
      if (length < 0 || decoder.offset + length > records.length) return false;
      decoder.offset += length;
    }
  } catch {
    return false;
  }
  return decoder.offset === records.length;
}

/** One stand-in record per offset of the batch; the last one at the batch's last offset, so the fetch position moves past it. */
export function standIns(compressed: Buffer, shape: { count: number; lastOffsetDelta: number }, error: string): Buffer {
  const records: Buffer[] = [];
  for (let i = 0; i < shape.count; i++) {
    const offsetDelta = i === shape.count - 1 ? shape.lastOffsetDelta : i;
    records.push(encodeRecord({ offsetDelta, key: null, value: i === 0 ? Buffer.from(compressed) : null, headers: { [UNDECODABLE_HEADER]: error } }).buffer);
  }
  return Buffer.concat(records);
}

/** `codec` whose failed reads become stand-ins; a failure whose batch header cannot be read still throws. */
export function guarded(name: string, codec: Codec): Codec {
  return {
    compress: (encoder) => codec.compress(encoder),
    async decompress(compressed) {
      let records: Buffer | undefined;
      let error: string;
      try {
        records = await codec.decompress(compressed);
        error = `${name}: the decompressed records do not parse`;
      } catch (err) {
        error = `${name}: ${(err as Error).message}`;
      }
      const shape = batchShape(compressed);
      if (!shape) {
        if (records) return records;
        throw new Error(error);
      }
      return records && recordsParse(records, shape.count) ? records : standIns(compressed, shape, error);
    },
  };
}

/** A codec id Kafka does not define (5-7): every batch that claims it becomes stand-ins. */
export function unknownCodec(id: number): Codec {
  return guarded(`compression codec ${id}`, {
    compress: () => Promise.reject(new Error(`compression codec ${id} is not defined by Kafka`)),
    decompress: () => Promise.reject(new Error("not defined by Kafka")),
  });
}
