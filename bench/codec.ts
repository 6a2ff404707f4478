/**
 * Benchmark of the peer message payload codec (figures, not pass/fail):
 * `node dist/bench/codec.js [--runs 3] [--duration-ms 400] [--json]`.
 *
 * Encodes and decodes the runtime's `{ kind: 'raft', message }` frame of a typical append
 * (1, 16 and 64 command entries of 100-byte data), an append-response and a heartbeat: with
 * plain msgpack (msgpackr, as every payload was before the binary form) and with
 * `encodePayload` / `decodePayload` (the binary form of the hot messages). Encoding an
 * append is timed as the leader does it, once per follower of a three-node cluster: two
 * messages holding the same entries, new ones in every round; alone (`encode`) and as
 * the transport sends it, framed with its length and CRC32C (`frame`). Figures:
 * operations per second and ns per entry, each the median of `--runs` runs, the runs of
 * all cases interleaved so that drift in a shared machine hits them alike.
 */
import { Packr } from 'msgpackr';
import type { Entry, Message } from '../src/core/types.js';
import { decodePayload, encodeFramedPayload, encodePayload } from '../src/transport/codec.js';
import { encodeFrame } from '../src/transport/frame.js';
import { median, parseCountOptions } from './stats.js';

const entryCounts = [1, 16, 64] as const;
const entryDataBytes = 100;
/** Followers of a three-node cluster: an append's entries are encoded once for each. */
const followers = ['node-2', 'node-3'] as const;
const warmUpMs = 200;

/** The msgpack codec every payload had before the binary form, with the same options. */
const packr = new Packr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

/** One timed case: `operation` done once is `operationsPerCall` operations on `entries`. */
interface Case {
  readonly name: string;
  readonly entries: number;
  readonly operationsPerCall: number;
  /** The bytes of one encoded payload. */
  readonly payloadBytes: number;
  readonly operation: () => number;
}

/** What one case measured (medians). */
interface Figure {
  readonly name: string;
  readonly operationsPerSecond: number;
  readonly nsPerEntry: number | null;
  readonly payloadBytes: number;
}

function entries(count: number): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    index: 1000 + i,
    term: 7,
    kind: 'command' as const,
    durability: 'quorum' as const,
    data: new Uint8Array(Buffer.alloc(entryDataBytes, i)),
  }));
}

function appendFrames(log: readonly Entry[]): { kind: 'raft'; message: Message }[] {
  return followers.map((to) => ({
    kind: 'raft',
    message: {
      type: 'append',
      from: 'node-1',
      to,
      term: 7,
      prevIndex: 999,
      prevTerm: 7,
      entries: log.slice(),
      commit: 998,
    },
  }));
}

const appendResponse = {
  kind: 'raft',
  message: {
    type: 'append-response',
    from: 'node-2',
    to: 'node-1',
    term: 7,
    reject: false,
    index: 1063,
    hintIndex: 0,
    hintTerm: 0,
    applied: 1000,
  },
} as const;

const heartbeat = {
  kind: 'raft',
  message: { type: 'heartbeat', from: 'node-1', to: 'node-2', term: 7, commit: 1063, round: 12 },
} as const;

function cases(): Case[] {
  const result: Case[] = [];
  const codecs = {
    msgpack: {
      encode: (value: unknown) => packr.pack(value),
      frame: (value: unknown) => encodeFrame(packr.pack(value)),
      decode: decodeMsgpack,
    },
    binary: { encode: encodePayload, frame: encodeFramedPayload, decode: decodeBinary },
  };
  for (const count of entryCounts) {
    // Two batches taken in turn, as a leader sends new entries in every round.
    const rounds = [appendFrames(entries(count)), appendFrames(entries(count))];
    const frames = rounds[0] as { kind: 'raft'; message: Message }[];
    let round = 0;
    for (const [codec, { encode, frame: encodeFramed, decode }] of Object.entries(codecs)) {
      const encoded = Buffer.from(encode(frames[0]));
      // Encoding alone, and into a frame as the transport sends it, to every follower.
      for (const [verb, each] of [
        ['encode', encode],
        ['frame', encodeFramed],
      ] as const) {
        result.push({
          name: `${codec} ${verb} append x${count} to ${followers.length} followers`,
          entries: count * followers.length,
          operationsPerCall: followers.length,
          payloadBytes: encoded.byteLength,
          operation: () => {
            round = 1 - round;
            const batch = rounds[round] as { kind: 'raft'; message: Message }[];
            return batch.reduce((bytes, frame) => bytes + each(frame).byteLength, 0);
          },
        });
      }
      result.push({
        name: `${codec} decode append x${count}`,
        entries: count,
        operationsPerCall: 1,
        payloadBytes: encoded.byteLength,
        operation: () => decode(encoded),
      });
    }
  }
  for (const [what, frame] of Object.entries({ 'append-response': appendResponse, heartbeat })) {
    for (const [codec, { encode, decode }] of Object.entries(codecs)) {
      result.push({
        name: `${codec} encode+decode ${what}`,
        entries: 0,
        operationsPerCall: 1,
        payloadBytes: encode(frame).byteLength,
        operation: () => decode(Buffer.from(encode(frame))),
      });
    }
  }
  return result;
}

function decodeMsgpack(bytes: Buffer): number {
  return (packr.unpack(bytes) as object) === null ? 0 : 1;
}

function decodeBinary(bytes: Buffer): number {
  const decoded = decodePayload(bytes);
  if (!decoded.ok) throw new Error(decoded.reason);
  return 1;
}

/** Calls of `operation` per second, over `durationMs`. */
function callsPerSecond(operation: () => number, durationMs: number): number {
  let sink = 0;
  let calls = 0;
  const started = performance.now();
  let now = started;
  while (now - started < durationMs) {
    for (let i = 0; i < 100; i++) sink += operation();
    calls += 100;
    now = performance.now();
  }
  if (sink < 0) console.log(sink);
  return (calls * 1000) / (now - started);
}

function measure(runs: number, durationMs: number): Figure[] {
  const all = cases();
  for (const each of all) callsPerSecond(each.operation, warmUpMs);
  const rates: number[][] = all.map(() => []);
  for (let run = 0; run < runs; run++) {
    all.forEach((each, i) => rates[i]?.push(callsPerSecond(each.operation, durationMs)));
  }
  return all.map((each, i) => {
    const calls = median(rates[i] as number[]);
    const operationsPerSecond = calls * each.operationsPerCall;
    const nsPerEntry = each.entries === 0 ? null : 1e9 / (calls * each.entries);
    return { name: each.name, operationsPerSecond, nsPerEntry, payloadBytes: each.payloadBytes };
  });
}

function printTable(figures: readonly Figure[], runs: number, durationMs: number): void {
  console.log(
    `payload codec, ${entryDataBytes}-byte entry data, median of ${runs} runs of ${durationMs} ms`,
  );
  console.log(`${'case'.padEnd(48)} ${'ops/s'.padStart(12)} ${'ns/entry'.padStart(9)}   bytes`);
  for (const figure of figures) {
    console.log(
      [
        figure.name.padEnd(48),
        Math.round(figure.operationsPerSecond).toString().padStart(12),
        (figure.nsPerEntry === null ? '-' : figure.nsPerEntry.toFixed(1)).padStart(9),
        figure.payloadBytes.toString().padStart(7),
      ].join(' '),
    );
  }
}

const options = parseCountOptions(
  process.argv.slice(2),
  { runs: 3, 'duration-ms': 400 },
  'codec.js [--runs 3] [--duration-ms 400] [--json]',
);
const figures = measure(options.runs, options['duration-ms']);
if (options.json) console.log(JSON.stringify({ options, figures }));
else printTable(figures, options.runs, options['duration-ms']);
