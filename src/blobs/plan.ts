/**
 * The blob layer's decisions, as pure functions of committed metadata: where a chunk goes
 * (placement), how many durable copies an upload waits for (acknowledgements), what a node
 * must delete or fetch to hold exactly what it should (repair), and what new metadata
 * restores a chunk's copies after a holder leaves (re-replication).
 *
 * Nothing here does I/O, reads a clock or draws a random number: the runtime and the
 * simulator call the same functions with the same inputs and get the same answers, so what
 * the simulator proves of these decisions holds of the runtime's.
 */
import { createHash } from 'node:crypto';
import { assert, assertIndex } from '../core/assert.js';
import type { Durability, NodeId } from '../core/types.js';
import type { BlobMeta, ChunkId, ChunkMeta, RepairPlan, UploadRecord } from './contract.js';

/** A chunk's hash: SHA-256 as 64 lowercase hex digits. */
const chunkHashPattern = /^[0-9a-f]{64}$/;
/** A chunk file's name: its hash, a dot, and its version in decimal with no leading zero. */
const chunkFileNamePattern = /^([0-9a-f]{64})\.(0|[1-9][0-9]{0,15})$/;

/** Asserts that `id` is a well-formed chunk id: a programmer error otherwise. */
function assertChunkId(id: ChunkId): void {
  assert(chunkHashPattern.test(id.hash), `chunk hash must be 64 lowercase hex, got ${id.hash}`);
  assertIndex(id.version, 'chunk version');
}

/**
 * The name of the file that holds a chunk: `hash.version`. The version is in the name so
 * that a node can tell a chunk of an old upload from one of the current upload without
 * reading metadata, and so that two uploads of the same bytes never share a file (each
 * version's chunks are collected on their own).
 */
export function chunkFileName(id: ChunkId): string {
  assertChunkId(id);
  return `${id.hash}.${id.version}`;
}

/**
 * The chunk id a file name stands for, or null if the name is not a chunk file's (a
 * temporary file, a file some other program left): a node lists its directory and must
 * never treat a stray file as a chunk, nor crash on one.
 */
export function parseChunkFileName(name: string): ChunkId | null {
  const match = chunkFileNamePattern.exec(name);
  if (match === null) return null;
  const version = Number(match[2]);
  if (!Number.isSafeInteger(version)) return null;
  return { hash: match[1] as string, version };
}

/** Orders chunk ids by version, then hash: the order every plan lists them in. */
export function compareChunkIds(a: ChunkId, b: ChunkId): number {
  if (a.version !== b.version) return a.version - b.version;
  return a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0;
}

/**
 * Every candidate, best first, in the rendezvous (highest-random-weight) order of one
 * chunk: each candidate scores SHA-256 of `name \0 version \0 index \0 node` and the
 * highest score comes first. A candidate's score depends on nothing but itself and the
 * chunk, so the order never depends on the order candidates are given in, and when a
 * member leaves or joins only the chunks it ranked high for move.
 */
export function rendezvousOrder(
  name: string,
  version: number,
  index: number,
  candidates: readonly NodeId[],
): NodeId[] {
  assertIndex(version, 'blob version');
  assertIndex(index, 'chunk index');
  assert(new Set(candidates).size === candidates.length, 'placement candidates must be distinct');
  const scored = candidates.map((node) => ({
    node,
    score: createHash('sha256').update(`${name}\0${version}\0${index}\0${node}`).digest('hex'),
  }));
  // Equal digests would need a SHA-256 collision; the node id breaks the tie regardless.
  scored.sort((a, b) =>
    a.score !== b.score ? (a.score > b.score ? -1 : 1) : a.node < b.node ? -1 : 1,
  );
  return scored.map((entry) => entry.node);
}

/**
 * The holders of chunk `index` of version `version` of `name`: the first
 * min(replicas, candidates) of its rendezvous order. Every node computes the same holders
 * from the same members without asking anyone, and the holders of a blob's chunks spread
 * over the members instead of piling on a few.
 */
export function placement(
  name: string,
  version: number,
  index: number,
  candidates: readonly NodeId[],
  replicas: number,
): NodeId[] {
  assert(Number.isSafeInteger(replicas) && replicas >= 1, `replicas must be >= 1, got ${replicas}`);
  return rendezvousOrder(name, version, index, candidates).slice(0, replicas);
}

/**
 * How many of a chunk's `holders` must report it durable before an upload may complete,
 * by the upload's durability mode, as the log's modes count replicas: `async` trusts one
 * copy, `semi-sync` wants a second, `quorum` a majority of the holders, `sync` all of them.
 */
export function acksNeeded(durability: Durability, holders: number): number {
  assert(Number.isSafeInteger(holders) && holders >= 1, `holders must be >= 1, got ${holders}`);
  switch (durability) {
    case 'async':
      return 1;
    case 'semi-sync':
      return Math.min(2, holders);
    case 'quorum':
      return Math.floor(holders / 2) + 1;
    case 'sync':
      return holders;
  }
}

/**
 * The distinct chunk ids of a blob, in chunk order. Two chunks with the same bytes (a run
 * of zeros, say) share one id and so one file on each node that holds either.
 */
export function chunkIds(blob: BlobMeta): ChunkId[] {
  const seen = new Set<string>();
  const ids: ChunkId[] = [];
  for (const chunk of blob.chunks) {
    const id = { hash: chunk.hash, version: blob.version };
    const name = chunkFileName(id);
    if (seen.has(name)) continue;
    seen.add(name);
    ids.push(id);
  }
  return ids;
}

/**
 * What `node` must do so that it holds exactly what committed metadata says, decided from
 * the deciding node's state as of `appliedIndex` (its blobs and live uploads):
 *
 * - stale (delete): a held chunk that no blob refers to (by hash and the blob's version,
 *   whoever its holders are), whose version is that of no live upload, and whose version is
 *   at most `appliedIndex`. The last rule matters because an upload that began after
 *   `appliedIndex` is unknown to the decider: its chunks may already sit on this node and
 *   its completion may be committed but not yet applied, so only a version the decider has
 *   applied can be judged. A chunk judged stale stays stale: its upload is over, and the
 *   blob it made (if any) is no longer the name's version, so deleting it later is safe.
 * - missing (fetch): a chunk of a blob that lists `node` among its holders and that `node`
 *   does not hold; `from` are the chunk's other holders in placement order. When chunks of
 *   a blob share bytes (and so one id and one file), `from` merges the holders of all of
 *   them, first seen first: any of them holds the file `node` lacks.
 *
 * Both lists are sorted by version, then hash, so equal inputs give equal plans.
 */
export function repairPlan(
  node: NodeId,
  held: readonly ChunkId[],
  blobs: Iterable<BlobMeta>,
  uploads: Iterable<UploadRecord>,
  appliedIndex: number,
): RepairPlan {
  assertIndex(appliedIndex, 'applied index');
  const heldNames = new Map<string, ChunkId>();
  for (const id of held) heldNames.set(chunkFileName(id), { hash: id.hash, version: id.version });
  // Every holder of each referenced chunk id, first seen first: two chunks with the same
  // bytes share one file, so a holder of either can serve it to a holder of the other.
  const holdersById = new Map<
    string,
    { chunk: ChunkId; bytes: number; holders: NodeId[]; wanted: boolean }
  >();
  for (const blob of blobs) {
    for (const chunk of blob.chunks) {
      const id = { hash: chunk.hash, version: blob.version };
      const name = chunkFileName(id);
      const entry = holdersById.get(name) ?? {
        chunk: id,
        bytes: chunk.bytes,
        holders: [],
        wanted: false,
      };
      for (const holder of chunk.holders) {
        if (!entry.holders.includes(holder)) entry.holders.push(holder);
      }
      entry.wanted ||= chunk.holders.includes(node);
      holdersById.set(name, entry);
    }
  }
  const missing = [...holdersById]
    .filter(([name, entry]) => entry.wanted && !heldNames.has(name))
    .map(([, entry]) => ({
      chunk: entry.chunk,
      bytes: entry.bytes,
      from: entry.holders.filter((holder) => holder !== node),
    }));
  const liveVersions = new Set<number>();
  for (const upload of uploads) liveVersions.add(upload.version);
  const stale = [...heldNames]
    .filter(([name, id]) => {
      if (holdersById.has(name) || liveVersions.has(id.version)) return false;
      return id.version <= appliedIndex;
    })
    .map(([, id]) => id)
    .sort(compareChunkIds);
  missing.sort((a, b) => compareChunkIds(a.chunk, b.chunk));
  return { stale, missing };
}

/**
 * New metadata for `blob` once its holders no longer match the members: each chunk drops
 * the holders that left and gains members, in the chunk's rendezvous order among
 * `members`, until it has min(replicas, members) holders. Holders that stayed are kept
 * even if a newer member now ranks above them, so no live copy moves for nothing; the
 * result lists each chunk's holders in rendezvous order. Null when every chunk already
 * has only members and enough of them, so a leader commits nothing when nothing changed
 * and applying the result again gives null.
 */
export function rereplicate(
  blob: BlobMeta,
  members: readonly NodeId[],
  replicas: number,
): BlobMeta | null {
  assert(members.length > 0, 'a cluster has at least one member');
  assert(Number.isSafeInteger(replicas) && replicas >= 1, `replicas must be >= 1, got ${replicas}`);
  const target = Math.min(replicas, members.length);
  let changed = false;
  const chunks = blob.chunks.map((chunk): ChunkMeta => {
    const live = chunk.holders.filter((holder) => members.includes(holder));
    if (live.length === chunk.holders.length && live.length >= target) return chunk;
    changed = true;
    const order = rendezvousOrder(blob.name, blob.version, chunk.index, members);
    const added = order
      .filter((node) => !live.includes(node))
      .slice(0, Math.max(0, target - live.length));
    const holders = order.filter((node) => live.includes(node) || added.includes(node));
    return { ...chunk, holders };
  });
  return changed ? { ...blob, chunks } : null;
}
