import {
  durabilityOrder,
  type AppendMessage,
  type AppendResponseMessage,
  type ChainClaim,
  type Durability,
  type Entry,
  type EntryKind,
  type HeartbeatMessage,
  type HeartbeatResponseMessage,
  type Message,
  type RelayRoute,
} from '../core/types.js';

/**
 * A hand-written binary form of the core's most frequent messages, which msgpack spends
 * too much CPU on: `append` (with its entries), `append-response`, `heartbeat` and
 * `heartbeat-response`. Every other message, and any of these that the binary form
 * cannot carry exactly (an entry of kind `membership`, a field outside its type's range),
 * stays msgpack. Big-endian (network byte order), like the frame header:
 *
 * | bytes | field                                                                  |
 * | ----- | ---------------------------------------------------------------------- |
 * | 1     | tag 0xc1 (`binaryMessageTag`)                                          |
 * | 1     | type: 1 append, 2 append-response, 3 heartbeat, 4 heartbeat-response,  |
 * |       | 5 chain append, 6 chain append-response                                |
 * | 2 + n | from: byte length, then UTF-8                                          |
 * | 2 + n | to: byte length, then UTF-8                                            |
 * | 8     | term                                                                   |
 * | ...   | the type's own fields, in the order of the table below                 |
 *
 * | type               | fields                                                       |
 * | ------------------ | ------------------------------------------------------------ |
 * | append             | prevIndex 8, prevTerm 8, commit 8, entry count 4, then each  |
 * |                    | entry's header, then every entry's data back to back         |
 * | append-response    | reject 1 (0 or 1), index 8, hintIndex 8, hintTerm 8,         |
 * |                    | applied 8                                                    |
 * | heartbeat          | commit 8, round 8                                            |
 * | heartbeat-response | round 8, applied 8                                           |
 * | chain append       | prevIndex 8, prevTerm 8, commit 8, flags 1 (bit 0: a leader, |
 * |                    | bit 1: routes), the leader's id 2 + n if set, the routes if  |
 * |                    | set, then entry count 4 and the entries as an append's       |
 * | chain append-resp. | an append-response's fields, claim count 2, then each claim: |
 * |                    | id 2 + n, index 8, applied 8                                 |
 *
 * Routes are a count 1, then each route's id 2 + n and its own routes, at most
 * `routeDepthMax` deep and `routeNodesMax` in all. A message without chain fields goes as
 * type 1 or 2, byte for byte as before chains existed.
 *
 * An entry's header is index 8, term 8, kind 1 (0 command, 1 noop), durability 1 (0
 * async, 1 semi-sync, 2 quorum, 3 sync), flags 1 (bit 0: it has `data`), data bytes 4
 * (0 without data). Every 8-byte field is an unsigned integer that must be a safe one.
 * Data comes after all headers so that a decoder copies it out in one piece.
 */
export const binaryMessageTag = 0xc1;

/** The outcome of decoding a binary message payload. */
export type BinaryDecodeResult =
  | { readonly ok: true; readonly message: Message }
  | { readonly ok: false; readonly reason: string };

const typeCodes = {
  append: 1,
  'append-response': 2,
  heartbeat: 3,
  'heartbeat-response': 4,
  chainAppend: 5,
  chainAppendResponse: 6,
};
const leaderFlag = 1;
const routesFlag = 2;
/** The deepest route tree and the most members in one, on the wire (a chain of 64). */
const routeDepthMax = 64;
const routeNodesMax = 255;
const kindCodes: readonly EntryKind[] = ['command', 'noop'];
const hasDataFlag = 1;

/** The longest node id the binary form carries, in UTF-8 bytes (its length field's range). */
const idBytesMax = 0xffff;
/** Bytes of the fixed part: tag, type, the two id lengths and the term. */
const headerFixedBytes = 1 + 1 + 2 + 2 + 8;
/** Bytes of an append's own fields before its entries: prevIndex, prevTerm, commit, count. */
const appendFixedBytes = 8 + 8 + 8 + 4;
/** Bytes of one entry's header. */
const entryHeaderBytes = 8 + 8 + 1 + 1 + 1 + 4;
const appendResponseBytes = 1 + 8 + 8 + 8 + 8;
const heartbeatBytes = 8 + 8;
const heartbeatResponseBytes = 8 + 8;
/** 2^32: an 8-byte field is written as two 4-byte halves. */
const uint32Range = 0x1_0000_0000;
/** The high half of Number.MAX_SAFE_INTEGER: a higher one is not a safe integer. */
const safeHighMax = 0x1f_ffff;

/**
 * The binary form of `message` after `headroomBytes` left unwritten (room for a frame
 * header, so that the frame needs no copy), or null when it must go as msgpack instead: a
 * type without a binary form, or a value the binary form could not give back exactly.
 */
export function encodeBinaryMessage(message: Message, headroomBytes = 0): Buffer | null {
  switch (message.type) {
    case 'append':
      return encodeAppend(message, headroomBytes);
    case 'append-response':
      return encodeAppendResponse(message, headroomBytes);
    case 'heartbeat':
      return encodeHeartbeat(message, headroomBytes);
    case 'heartbeat-response':
      return encodeHeartbeatResponse(message, headroomBytes);
    default:
      return null;
  }
}

/** The UTF-8 bytes of the two ids of a message, when both fit the binary form. */
interface Ids {
  readonly from: Buffer;
  readonly to: Buffer;
}

function idsOf(message: Message): Ids | null {
  const from = idBytes(message.from);
  const to = idBytes(message.to);
  return from === null || to === null || !isIndex(message.term) ? null : { from, to };
}

/**
 * Encoded node ids, since the same few go in every message. Bounded: cleared when full,
 * which only a cluster of more nodes than this ever needs.
 */
const idCache = new Map<string, Buffer | null>();
const idCacheSizeMax = 256;

/** The UTF-8 of `id`, or null when it has none that decodes back to it (a lone surrogate). */
function idBytes(id: unknown): Buffer | null {
  if (typeof id !== 'string') return null;
  const cached = idCache.get(id);
  if (cached !== undefined) return cached;
  const bytes = Buffer.from(id, 'utf8');
  const exact = bytes.length <= idBytesMax && bytes.toString('utf8') === id;
  if (idCache.size >= idCacheSizeMax) idCache.clear();
  idCache.set(id, exact ? bytes : null);
  return exact ? bytes : null;
}

/** A payload being written, and where the type's own fields go in it. */
interface Target {
  readonly target: Buffer;
  readonly bodyAt: number;
}

/**
 * A buffer for a message with `headroomBytes` before it and `bodyBytes` of the type's own
 * fields after its header, with the tag, type and header written.
 */
function begin(
  headroomBytes: number,
  type: number,
  ids: Ids,
  term: number,
  bodyBytes: number,
): Target {
  const headerBytes = headerFixedBytes + ids.from.length + ids.to.length;
  const target = Buffer.allocUnsafe(headroomBytes + headerBytes + bodyBytes);
  target[headroomBytes] = binaryMessageTag;
  target[headroomBytes + 1] = type;
  let offset = headroomBytes + 2;
  target.writeUInt16BE(ids.from.length, offset);
  target.set(ids.from, offset + 2);
  offset += 2 + ids.from.length;
  target.writeUInt16BE(ids.to.length, offset);
  target.set(ids.to, offset + 2);
  offset += 2 + ids.to.length;
  writeIndex(target, offset, term);
  return { target, bodyAt: offset + 8 };
}

function encodeAppend(message: AppendMessage, headroomBytes: number): Buffer | null {
  const ids = idsOf(message);
  const { prevIndex, prevTerm, commit, entries } = message;
  if (ids === null || !isIndex(prevIndex) || !isIndex(prevTerm) || !isIndex(commit)) return null;
  if (!Array.isArray(entries)) return null;
  const block = entriesBlock(entries);
  if (block === null) return null;
  const chain = chainFields(message);
  if (chain === null) return null;
  const bodyBytes = appendFixedBytes + block.length + chain.length;
  const type = chain.length === 0 ? typeCodes.append : typeCodes.chainAppend;
  const at = begin(headroomBytes, type, ids, message.term, bodyBytes);
  const { target, bodyAt } = at;
  let offset = bodyAt;
  writeIndex(target, offset, prevIndex);
  writeIndex(target, offset + 8, prevTerm);
  writeIndex(target, offset + 16, commit);
  offset += 24;
  target.set(chain, offset);
  offset += chain.length;
  target.writeUInt32BE(entries.length, offset);
  target.set(block, offset + 4);
  return target;
}

/**
 * The chain fields of an append (flags, leader, routes), empty for an append without
 * them, or null when they have no exact binary form.
 */
function chainFields(message: AppendMessage): Buffer | null {
  const { leader, routes } = message;
  if (leader === undefined && routes === undefined) return Buffer.alloc(0);
  const parts: Buffer[] = [
    Buffer.of((leader === undefined ? 0 : leaderFlag) | (routes === undefined ? 0 : routesFlag)),
  ];
  if (leader !== undefined) {
    const bytes = idBytes(leader);
    if (bytes === null) return null;
    parts.push(idField(bytes));
  }
  if (routes !== undefined) {
    const count = { nodes: 0 };
    if (!routesBytes(routes, 1, count, parts)) return null;
  }
  return Buffer.concat(parts);
}

/** A length-prefixed id. */
function idField(bytes: Buffer): Buffer {
  const field = Buffer.allocUnsafe(2 + bytes.length);
  field.writeUInt16BE(bytes.length, 0);
  field.set(bytes, 2);
  return field;
}

/** Appends the wire form of `routes` to `parts`; false when it has none (too deep, too many, a bad id). */
function routesBytes(
  routes: readonly RelayRoute[],
  depth: number,
  count: { nodes: number },
  parts: Buffer[],
): boolean {
  if (!Array.isArray(routes) || routes.length > 0xff || depth > routeDepthMax) return false;
  parts.push(Buffer.of(routes.length));
  for (const route of routes) {
    if (typeof route !== 'object' || route === null || ++count.nodes > routeNodesMax) return false;
    const bytes = idBytes(route.id);
    if (bytes === null) return false;
    parts.push(idField(bytes));
    if (!routesBytes(route.routes, depth + 1, count, parts)) return false;
  }
  return true;
}

/**
 * The entries block of the last append encoded. The leader sends an append to each
 * follower, and followers equally far along get the same entries (the same Entry objects
 * of its log, in arrays of their own), so every follower after the first reuses the block
 * instead of encoding it again. One block only: bounded by the size of one message.
 */
let lastBlock: { readonly entries: readonly Entry[]; readonly bytes: Buffer } | null = null;

/** The entries block of `entries`, or null when one has no exact binary form. */
function entriesBlock(entries: readonly Entry[]): Buffer | null {
  if (lastBlock !== null && sameEntries(lastBlock.entries, entries)) return lastBlock.bytes;
  const dataBytes = entriesDataBytes(entries);
  if (dataBytes < 0) return null;
  const bytes = encodeEntries(entries, dataBytes);
  lastBlock = { entries: entries.slice(), bytes };
  return bytes;
}

/** Whether `a` and `b` hold the very same entry objects (entries are never changed). */
function sameEntries(a: readonly Entry[], b: readonly Entry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Every entry's header, then all their data (`dataBytes` in all), checked encodable. */
function encodeEntries(entries: readonly Entry[], dataBytes: number): Buffer {
  const target = Buffer.allocUnsafe(entries.length * entryHeaderBytes + dataBytes);
  // A DataView writes the many integers of a block faster than Buffer's methods do, more
  // than paying for making it; a message's few header fields are cheaper without one.
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  // Entry i's header is at `i * entryHeaderBytes`; the data follows all headers.
  let offset = 0;
  let dataOffset = entries.length * entryHeaderBytes;
  for (const entry of entries) {
    writeIndexTo(view, offset, entry.index);
    writeIndexTo(view, offset + 8, entry.term);
    target[offset + 16] = kindCode(entry.kind);
    target[offset + 17] = durabilityCode(entry.durability);
    const data = entry.data;
    target[offset + 18] = data === undefined ? 0 : hasDataFlag;
    view.setUint32(offset + 19, data === undefined ? 0 : data.byteLength);
    if (data !== undefined) {
      target.set(data, dataOffset);
      dataOffset += data.byteLength;
    }
    offset += entryHeaderBytes;
  }
  return target;
}

/**
 * The data bytes of all `entries` together, or -1 when one of them has no exact binary
 * form: not an entry object, a membership, an index or term that is not a safe integer.
 */
function entriesDataBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const entry of entries) {
    if (typeof entry !== 'object' || entry === null) return -1;
    if (!isIndex(entry.index) || !isIndex(entry.term) || entry.membership !== undefined) return -1;
    if (kindCode(entry.kind) < 0 || durabilityCode(entry.durability) < 0) return -1;
    const data: unknown = entry.data;
    if (data === undefined) continue;
    if (!(data instanceof Uint8Array)) return -1;
    total += data.byteLength;
  }
  return total;
}

/** The wire code of an entry kind, or -1 for one without a binary form. */
function kindCode(kind: EntryKind): number {
  // A switch rather than an indexOf: this runs twice for every entry sent.
  switch (kind) {
    case 'command':
      return 0;
    case 'noop':
      return 1;
    default:
      return -1;
  }
}

/** The wire code of a durability mode (its place in `durabilityOrder`), or -1. */
function durabilityCode(durability: Durability): number {
  switch (durability) {
    case 'async':
      return 0;
    case 'semi-sync':
      return 1;
    case 'quorum':
      return 2;
    case 'sync':
      return 3;
    default:
      return -1;
  }
}

function encodeAppendResponse(
  message: AppendResponseMessage,
  headroomBytes: number,
): Buffer | null {
  const ids = idsOf(message);
  const { reject, index, hintIndex, hintTerm, applied } = message;
  if (ids === null || typeof reject !== 'boolean') return null;
  if (!isIndex(index) || !isIndex(hintIndex) || !isIndex(hintTerm) || !isIndex(applied)) {
    return null;
  }
  const covers = message.covers;
  const claims = covers === undefined ? null : claimsBytes(covers);
  if (covers !== undefined && claims === null) return null;
  const type = claims === null ? typeCodes['append-response'] : typeCodes.chainAppendResponse;
  const bodyBytes = appendResponseBytes + (claims?.length ?? 0);
  const at = begin(headroomBytes, type, ids, message.term, bodyBytes);
  const { target, bodyAt: offset } = at;
  target[offset] = reject ? 1 : 0;
  writeIndex(target, offset + 1, index);
  writeIndex(target, offset + 9, hintIndex);
  writeIndex(target, offset + 17, hintTerm);
  writeIndex(target, offset + 25, applied);
  if (claims !== null) target.set(claims, offset + appendResponseBytes);
  return target;
}

/** The wire form of a relay's claims, or null when they have none. */
function claimsBytes(claims: readonly ChainClaim[]): Buffer | null {
  if (!Array.isArray(claims) || claims.length > 0xffff) return null;
  const parts: Buffer[] = [];
  const count = Buffer.allocUnsafe(2);
  count.writeUInt16BE(claims.length, 0);
  parts.push(count);
  for (const claim of claims) {
    if (typeof claim !== 'object' || claim === null) return null;
    const bytes = idBytes(claim.id);
    if (bytes === null || !isIndex(claim.index) || !isIndex(claim.applied)) return null;
    const field = Buffer.allocUnsafe(2 + bytes.length + 16);
    field.writeUInt16BE(bytes.length, 0);
    field.set(bytes, 2);
    writeIndex(field, 2 + bytes.length, claim.index);
    writeIndex(field, 2 + bytes.length + 8, claim.applied);
    parts.push(field);
  }
  return Buffer.concat(parts);
}

function encodeHeartbeat(message: HeartbeatMessage, headroomBytes: number): Buffer | null {
  const ids = idsOf(message);
  if (ids === null || !isIndex(message.commit) || !isIndex(message.round)) return null;
  const at = begin(headroomBytes, typeCodes.heartbeat, ids, message.term, heartbeatBytes);
  const { target, bodyAt: offset } = at;
  writeIndex(target, offset, message.commit);
  writeIndex(target, offset + 8, message.round);
  return target;
}

function encodeHeartbeatResponse(
  message: HeartbeatResponseMessage,
  headroomBytes: number,
): Buffer | null {
  const ids = idsOf(message);
  if (ids === null || !isIndex(message.round) || !isIndex(message.applied)) return null;
  const type = typeCodes['heartbeat-response'];
  const at = begin(headroomBytes, type, ids, message.term, heartbeatResponseBytes);
  const { target, bodyAt: offset } = at;
  writeIndex(target, offset, message.round);
  writeIndex(target, offset + 8, message.applied);
  return target;
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Writes `value`, a non-negative safe integer, as an 8-byte unsigned integer. */
function writeIndex(target: Buffer, offset: number, value: number): void {
  const low = value >>> 0; // ToUint32 is the value modulo 2^32.
  target.writeUInt32BE((value - low) / uint32Range, offset);
  target.writeUInt32BE(low, offset + 4);
}

/** `writeIndex` through a DataView. */
function writeIndexTo(view: DataView, offset: number, value: number): void {
  const low = value >>> 0;
  view.setUint32(offset, (value - low) / uint32Range);
  view.setUint32(offset + 4, low);
}

/**
 * Decodes a payload that starts with `binaryMessageTag`. Strict: a short or overlong
 * payload, an unknown type or code, a boolean other than 0 or 1, an 8-byte field beyond a
 * safe integer or an id that is not UTF-8 gives a reason, never a throw. Entry data is
 * copied out, all of one message's into one buffer of exactly their size, so entries kept
 * in the log do not pin the frame or socket chunk they arrived in.
 */
export function decodeBinaryMessage(bytes: Uint8Array): BinaryDecodeResult {
  const reader = new Reader(bytes);
  if (reader.byte() !== binaryMessageTag) return { ok: false, reason: 'not a binary message' };
  const type = reader.byte();
  const from = reader.id();
  const to = reader.id();
  const term = reader.index();
  const header = { from, to, term };
  let message: Message | null;
  switch (type) {
    case typeCodes.append:
      message = readAppend(reader, header, false);
      break;
    case typeCodes.chainAppend:
      message = readAppend(reader, header, true);
      break;
    case typeCodes['append-response']:
      message = readAppendResponse(reader, header, false);
      break;
    case typeCodes.chainAppendResponse:
      message = readAppendResponse(reader, header, true);
      break;
    case typeCodes.heartbeat:
      message = { type: 'heartbeat', ...header, commit: reader.index(), round: reader.index() };
      break;
    case typeCodes['heartbeat-response']:
      message = {
        type: 'heartbeat-response',
        ...header,
        round: reader.index(),
        applied: reader.index(),
      };
      break;
    default:
      reader.fail(`unknown message type ${type}`);
      message = null;
  }
  reader.end();
  if (reader.failure !== null || message === null) {
    return { ok: false, reason: `binary message: ${reader.failure ?? 'no message'}` };
  }
  return { ok: true, message };
}

/** The fields every message has, as read. */
interface Header {
  readonly from: string;
  readonly to: string;
  readonly term: number;
}

function readAppendResponse(reader: Reader, header: Header, chain: boolean): AppendResponseMessage {
  const message: AppendResponseMessage = {
    type: 'append-response',
    ...header,
    reject: reader.boolean(),
    index: reader.index(),
    hintIndex: reader.index(),
    hintTerm: reader.index(),
    applied: reader.index(),
  };
  if (!chain) return message;
  const count = reader.uint16();
  const covers: ChainClaim[] = [];
  for (let i = 0; i < count && reader.failure === null; i++) {
    covers.push({ id: reader.id(), index: reader.index(), applied: reader.index() });
  }
  return { ...message, covers };
}

/** Reads a route tree (see the table above): bounded in depth and members. */
function readRoutes(reader: Reader, depth: number, count: { nodes: number }): RelayRoute[] {
  if (depth > routeDepthMax) {
    reader.fail('routes nested too deep');
    return [];
  }
  const length = reader.byte();
  const routes: RelayRoute[] = [];
  for (let i = 0; i < length && reader.failure === null; i++) {
    if (++count.nodes > routeNodesMax) {
      reader.fail('too many routes');
      return routes;
    }
    const id = reader.id();
    routes.push({ id, routes: readRoutes(reader, depth + 1, count) });
  }
  return routes;
}

function readAppend(reader: Reader, header: Header, chain: boolean): AppendMessage | null {
  const prevIndex = reader.index();
  const prevTerm = reader.index();
  const commit = reader.index();
  let extra: { leader?: string; routes?: RelayRoute[] } = {};
  if (chain) {
    const flags = reader.byte();
    if ((flags & ~(leaderFlag | routesFlag)) !== 0 || flags === 0)
      reader.fail(`bad chain flags ${flags}`);
    if ((flags & leaderFlag) !== 0) extra = { leader: reader.id() };
    if ((flags & routesFlag) !== 0)
      extra = { ...extra, routes: readRoutes(reader, 1, { nodes: 0 }) };
  }
  const count = reader.uint32();
  // Each entry needs its header, so a count beyond what the bytes can hold is refused
  // before anything is allocated for it.
  if (count > reader.remaining / entryHeaderBytes) {
    reader.fail(`${count} entries in ${reader.remaining} bytes`);
    return null;
  }
  // Whatever follows the headers is the entries' data: copied out at once, then cut.
  const data = reader.takeTail(reader.remaining - count * entryHeaderBytes);
  // The headers are in bounds now: entry i's is at `i * entryHeaderBytes` of `headers`.
  const headers = reader.claim(count * entryHeaderBytes);
  const entries: Entry[] = [];
  let dataOffset = 0; // The next entry with data has its bytes at `data[dataOffset]`.
  for (let i = 0; i < count && reader.failure === null; i++) {
    const entry = readEntry(reader, headers, i * entryHeaderBytes, data, dataOffset);
    entries.push(entry);
    dataOffset += entry.data?.byteLength ?? 0;
  }
  if (dataOffset !== data.byteLength) {
    reader.fail(`entries hold ${dataOffset} data bytes, the payload ${data.byteLength}`);
  }
  return { type: 'append', ...header, prevIndex, prevTerm, entries, commit, ...extra };
}

/**
 * Reads the entry whose header is at `at` (claimed, so in bounds); its data, if any, is a
 * view of `data` from `dataOffset`. (A view of the ArrayBuffer itself: going through a
 * Uint8Array's `.buffer` for every entry costs more than the rest of the entry.)
 */
function readEntry(
  reader: Reader,
  view: DataView,
  at: number,
  data: ArrayBuffer,
  dataOffset: number,
): Entry {
  const index = indexIn(view, at) ?? reader.fail('an entry index beyond the safe integers') ?? 0;
  const term = indexIn(view, at + 8) ?? reader.fail('an entry term beyond the safe integers') ?? 0;
  const kind = kindCodes[view.getUint8(at + 16)] ?? reader.fail('bad entry kind') ?? 'noop';
  const durability =
    durabilityOrder[view.getUint8(at + 17)] ?? reader.fail('bad entry durability') ?? 'async';
  const flags = view.getUint8(at + 18);
  const dataBytes = view.getUint32(at + 19);
  if ((flags & ~hasDataFlag) !== 0) reader.fail(`bad entry flags ${flags}`);
  if ((flags & hasDataFlag) === 0) {
    if (dataBytes !== 0) reader.fail('data bytes for an entry without data');
    return { index, term, kind, durability };
  }
  if (dataBytes > data.byteLength - dataOffset) {
    reader.fail('entry data beyond the payload');
    return { index, term, kind, durability };
  }
  return { index, term, kind, durability, data: new Uint8Array(data, dataOffset, dataBytes) };
}

/** The 8-byte unsigned integer at `at` (in bounds), or undefined when it is not a safe one. */
function indexAt(bytes: Buffer, at: number): number | undefined {
  const high = bytes.readUInt32BE(at);
  return high > safeHighMax ? undefined : high * uint32Range + bytes.readUInt32BE(at + 4);
}

/** `indexAt` through a DataView. */
function indexIn(view: DataView, at: number): number | undefined {
  const high = view.getUint32(at);
  return high > safeHighMax ? undefined : high * uint32Range + view.getUint32(at + 4);
}

/**
 * A cursor over a payload that never reads past its end: a read beyond it records why
 * and yields zero (or an empty string), and every read after a failure does the same, so
 * a decoder reads its fields straight and checks `failure` once at the end.
 */
class Reader {
  readonly #bytes: Buffer;
  #offset = 0;
  /** Reads stop here: the end of the payload, or where a tail taken off it starts. */
  #end: number;
  /** Why decoding failed, or null while all is well. */
  failure: string | null = null;

  constructor(bytes: Uint8Array) {
    // Frames come as Buffers; only another Uint8Array needs a Buffer view of it.
    this.#bytes = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#end = bytes.byteLength;
  }

  /** Bytes not read yet. */
  get remaining(): number {
    return this.#end - this.#offset;
  }

  /** Records the first reason decoding failed; undefined, so that `??` can go on. */
  fail(reason: string): undefined {
    this.failure ??= reason;
    return undefined;
  }

  /** Fails unless every byte was read. */
  end(): void {
    if (this.#offset !== this.#end) this.fail(`${this.remaining} bytes after the message`);
  }

  byte(): number {
    if (!this.#has(1)) return 0;
    return this.#bytes[this.#offset++] as number;
  }

  boolean(): boolean {
    const value = this.byte();
    if (value > 1) this.fail(`bad boolean ${value}`);
    return value === 1;
  }

  uint16(): number {
    if (!this.#has(2)) return 0;
    const value = this.#bytes.readUInt16BE(this.#offset);
    this.#offset += 2;
    return value;
  }

  uint32(): number {
    if (!this.#has(4)) return 0;
    const value = this.#bytes.readUInt32BE(this.#offset);
    this.#offset += 4;
    return value;
  }

  /** An 8-byte unsigned integer, which must be a safe integer. */
  index(): number {
    if (!this.#has(8)) return 0;
    const value = indexAt(this.#bytes, this.#offset);
    this.#offset += 8;
    return value ?? this.fail('an index or term beyond the safe integers') ?? 0;
  }

  /**
   * A view of the next `bytes` bytes, checked to be there, which it consumes (an empty
   * view after a failure). A DataView reads many integers faster than Buffer's methods.
   */
  claim(bytes: number): DataView {
    if (bytes === 0 || !this.#has(bytes)) return emptyView;
    const start = this.#bytes.byteOffset + this.#offset;
    this.#offset += bytes;
    return new DataView(this.#bytes.buffer, start, bytes);
  }

  /** A node id: a 2-byte length, then that many bytes of valid UTF-8. */
  id(): string {
    const length = this.#has(2) ? this.#bytes.readUInt16BE(this.#offset) : 0;
    if (!this.#has(2 + length)) return '';
    const start = this.#offset + 2;
    this.#offset = start + length;
    return this.#utf8(start, start + length);
  }

  /**
   * A copy of the last `bytes` bytes not read yet (empty after a failure), in memory of
   * its own; reads stop before them.
   */
  takeTail(bytes: number): ArrayBuffer {
    if (this.failure !== null || bytes < 0 || bytes > this.remaining) return new ArrayBuffer(0);
    const tail = new ArrayBuffer(bytes);
    new Uint8Array(tail).set(this.#bytes.subarray(this.#end - bytes, this.#end));
    this.#end -= bytes;
    return tail;
  }

  #has(bytes: number): boolean {
    if (this.failure !== null) return false;
    if (this.remaining >= bytes) return true;
    this.fail('payload too short');
    return false;
  }

  #utf8(start: number, end: number): string {
    let ascii = true;
    for (let i = start; i < end && ascii; i++) ascii = (this.#bytes[i] as number) < 0x80;
    if (ascii) return this.#bytes.toString('latin1', start, end);
    try {
      return strictUtf8.decode(this.#bytes.subarray(start, end));
    } catch {
      this.fail('a node id that is not UTF-8');
      return '';
    }
  }
}

const emptyView = new DataView(new ArrayBuffer(0));

/** Refuses bad UTF-8 instead of replacing it, and keeps a leading byte order mark. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
