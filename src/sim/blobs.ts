/**
 * A deterministic simulator of the blob metadata protocol. It models what the Raft log
 * commits for blobs (uploads begun, blobs completed, overwritten and deleted, new holders
 * after a member leaves) as one committed state with a log index, and each node's chunk
 * files as a disk split into synced and not-yet-synced files. One seed draws every event:
 * uploads, chunk pushes that the network may lose, syncs, acknowledgements, completions,
 * aborts and expiries, reads, inventory reports answered by repair plans decided on a view
 * that may lag the commit index, crashes, restarts, partitions, corrupted chunk files, and
 * members replaced for good. Then everything heals and repair runs until nothing changes.
 *
 * The decisions come from blobs/plan.ts, exactly as the runtime takes them, through a
 * `BlobRules` object; the mutants replace one rule each with a broken one, and the tests
 * prove that some seed catches every mutant. The invariants:
 *
 * 1. A committed blob never loses every synced, intact copy of a chunk, and a holder that
 *    acknowledged a chunk durable keeps it while its upload or blob is current
 *    (unless a read or scrub found its copy corrupt). The model's faults respect the
 *    durability promise: a crash loses only unsynced files; a file is corrupted only while
 *    another member keeps a synced intact copy and no other copy is corrupt; a member
 *    leaves for good only while every current chunk it holds has a synced intact copy on
 *    another member (one disk lost at a time, as with corruption).
 * 2. A read serves a chunk of the name's current committed version, never a stale or a
 *    corrupt one.
 * 3. Once healed and quiet, every chunk of every committed blob is synced and intact on
 *    min(R, members) holders, all members, and no node holds a chunk that no blob or live
 *    upload refers to.
 * 4. A name maps only to a version whose upload completed, never to a failed one.
 */
import { createHash, type Hash } from 'node:crypto';
import type { BlobMeta, ChunkId, ChunkMeta, UploadRecord } from '../blobs/contract.js';
import {
  acksNeeded,
  chunkFileName,
  chunkIds,
  parseChunkFileName,
  placement,
  repairPlan,
  rereplicate,
} from '../blobs/plan.js';
import { assert } from '../core/assert.js';
import { Prng } from '../core/prng.js';
import { durabilityOrder, type Durability, type NodeId } from '../core/types.js';
import { findCatchingSeed, replayCommand, runSeedRange, type SeedRangeSummary } from './seeds.js';

/** The rules by which simulated nodes and the leader act; a mutant breaks one of them. */
export interface BlobRules {
  /** Decides what a node deletes and fetches after it reports its inventory. */
  readonly repairPlan: typeof repairPlan;
  /** The leader's new metadata for a blob once the members changed. */
  readonly rereplicate: typeof rereplicate;
  /** A holder acknowledges a chunk only once it is synced to disk. */
  readonly acknowledgesOnlySynced: boolean;
  /** A node checks a chunk's hash before it serves it, to a reader or to a fetching node. */
  readonly verifiesBeforeServing: boolean;
}

/** The rules the runtime follows. */
export const blobRules: BlobRules = {
  repairPlan,
  rereplicate,
  acknowledgesOnlySynced: true,
  verifiesBeforeServing: true,
};

/** A deliberately broken rule: some seed must catch it. */
export interface BlobMutant {
  readonly name: string;
  readonly description: string;
  readonly rules: Partial<BlobRules>;
}

/** Re-replication that drops departed holders and adds none in their place. */
function rereplicateWithoutReplacement(
  blob: BlobMeta,
  members: readonly NodeId[],
): BlobMeta | null {
  let changed = false;
  const chunks = blob.chunks.map((chunk): ChunkMeta => {
    const holders = chunk.holders.filter((holder) => members.includes(holder));
    if (holders.length === chunk.holders.length) return chunk;
    changed = true;
    return { ...chunk, holders };
  });
  return changed ? { ...blob, chunks } : null;
}

/** Every mutant the blob simulator must catch. */
export const blobMutants: readonly BlobMutant[] = [
  {
    name: 'repair-ignores-uploads',
    description: 'a repair plan that deletes the chunks of uploads in progress',
    rules: {
      repairPlan: (node, held, blobs, _uploads, appliedIndex) =>
        repairPlan(node, held, blobs, [], appliedIndex),
    },
  },
  {
    name: 'repair-ignores-applied-index',
    description: "a repair plan that judges chunks newer than the decider's applied index",
    rules: {
      repairPlan: (node, held, blobs, uploads) =>
        repairPlan(node, held, blobs, uploads, Number.MAX_SAFE_INTEGER),
    },
  },
  {
    name: 'acks-before-sync',
    description: 'a holder that acknowledges a chunk before it is synced',
    rules: { acknowledgesOnlySynced: false },
  },
  {
    name: 'rereplicate-without-replacement',
    description: 'a departed holder dropped from metadata with no replacement added',
    rules: { rereplicate: rereplicateWithoutReplacement },
  },
  {
    name: 'serves-without-hash-check',
    description: 'a node that serves a chunk without checking its hash',
    rules: { verifiesBeforeServing: false },
  },
];

/** How to run one seed. */
export interface BlobSimulationOptions {
  readonly seed: number;
  /** Overrides of the real rules; the mutation tests pass broken ones. */
  readonly rules?: Partial<BlobRules>;
  /** Keep a readable trace of the run (for replays and the determinism test). */
  readonly trace?: boolean;
}

/** Counts of what one seed did, to show a run did real work. */
export interface BlobSimulationStats {
  uploadsBegun: number;
  uploadsCompleted: number;
  uploadsFailed: number;
  readsServed: number;
  corruptionsDetected: number;
  chunksDeletedStale: number;
  chunksFetched: number;
  faults: number;
  membersReplaced: number;
  repairRoundsToQuiet: number;
}

/** Stats of a run that has done nothing yet. */
function noStats(): BlobSimulationStats {
  return {
    uploadsBegun: 0,
    uploadsCompleted: 0,
    uploadsFailed: 0,
    readsServed: 0,
    corruptionsDetected: 0,
    chunksDeletedStale: 0,
    chunksFetched: 0,
    faults: 0,
    membersReplaced: 0,
    repairRoundsToQuiet: 0,
  };
}

/** What one seed did and found. */
export interface BlobSimulationResult {
  readonly seed: number;
  readonly description: string;
  readonly violations: readonly string[];
  readonly stats: BlobSimulationStats;
  /** The log index the committed state reached. */
  readonly commitIndex: number;
  /** SHA-256 of the trace (only with `trace`): equal seeds give equal digests. */
  readonly traceDigest: string | null;
  readonly trace: readonly string[];
}

/** Virtual milliseconds per step. */
const stepMs = 10;
/** Steps of the fault phase, before everything heals. */
const faultStepsPerSeed = 200;
/** Names uploads draw from: few, so that names are overwritten often. */
const blobNames: readonly string[] = ['a', 'b', 'c', 'd'];
/** Chunk contents draw from a small pool, so that equal chunks occur in a blob and across versions. */
const chunkContents: readonly string[] = ['zeros', 'alpha', 'beta', 'gamma', 'delta', 'omega'];
const chunkHashes: readonly string[] = chunkContents.map((content) =>
  createHash('sha256').update(content).digest('hex'),
);
const chunkBytes = 8 * 1024 * 1024;
const chunksPerBlobMax = 4;
const liveUploadsMax = 3;
/** An upload expires this long after it began (drawn in [min, max)). */
const uploadTtlMsMin = 800;
const uploadTtlMsMax = 3_000;
/** At most this many nodes are down or partitioned at once. */
const impairedNodesMax = 2;
/** A repair decider's applied index lags the commit index by at most this many entries. */
const appliedLagMax = 12;
/** A push, an acknowledgement or a fetch is lost with probability 1/lossDenominator. */
const lossDenominator = 6;
/** Repair rounds the healed cluster gets to become quiet. */
const repairRoundsMax = 10;
/** Members one seed replaces at most: each stalls the uploads placed on the one that left. */
const membersReplacedMax = 2;
/** Violations one seed records before it stops collecting. */
const violationsMax = 20;

/** The events of the fault phase with their weights (probabilities as integer ratios). */
const eventWeights = [
  ['begin', 8],
  ['push', 22],
  ['sync', 10],
  ['ack', 10],
  ['complete', 8],
  ['abort', 1],
  ['delete', 3],
  ['read', 8],
  ['repair', 10],
  ['scrub', 2],
  ['crash', 3],
  ['restart', 6],
  ['partition', 2],
  ['heal', 4],
  ['corrupt', 4],
  ['replace-member', 1],
] as const;
type BlobEvent = (typeof eventWeights)[number][0];
const eventWeightTotal = eventWeights.reduce((sum, [, weight]) => sum + weight, 0);

/** One chunk file on a node's disk. */
interface ChunkFile {
  /** Synced: a crash keeps it. */
  durable: boolean;
  /** Its bytes no longer match its hash; only reading them tells. */
  corrupt: boolean;
}

/** A node of the model: its state and its disk (chunk files by name, `hash.version`). */
interface BlobNode {
  readonly id: NodeId;
  up: boolean;
  partitioned: boolean;
  readonly files: Map<string, ChunkFile>;
}

/** The committed metadata after applying every entry up to `index`. */
interface MetaState {
  readonly index: number;
  readonly blobs: ReadonlyMap<string, BlobMeta>;
  readonly uploads: ReadonlyMap<string, UploadRecord>;
}

/** What the uploader knows of one upload in progress. */
interface UploadProgress {
  readonly record: UploadRecord;
  readonly durability: Durability;
  /** `hashes[i]` is chunk i's hash; `holders[i]` its placement when the upload began. */
  readonly hashes: readonly string[];
  readonly holders: readonly (readonly NodeId[])[];
  /** `acks[i]`: the holders that reported chunk i durable. */
  readonly acks: Set<NodeId>[];
}

const shortFile = (name: string): string => `${name.slice(0, 8)}.${name.split('.')[1]}`;

/** One seed's world: the committed state, the nodes and their disks, and the checks. */
class BlobWorld {
  readonly #prng: Prng;
  readonly #rules: BlobRules;
  readonly replicas: number;
  #members: NodeId[] = [];
  readonly #nodes = new Map<NodeId, BlobNode>();
  #nextNodeNumber = 1;
  /** `#history[i]` is the committed state at log index i. */
  readonly #history: MetaState[] = [];
  #state: MetaState;
  readonly #uploads = new Map<string, UploadProgress>();
  readonly #completed = new Set<number>();
  readonly #failed = new Set<number>();
  /** The nodes that acknowledged each chunk file durable: what invariant 1 holds them to. */
  readonly #promised = new Map<string, Set<NodeId>>();
  #step = 0;
  readonly #violations = new Set<string>();
  readonly violations: string[] = [];
  readonly trace: string[] | null;
  readonly #traceHash: Hash | null;
  readonly stats: BlobSimulationStats = noStats();

  constructor(seed: number, rules: BlobRules, trace: boolean) {
    this.#prng = new Prng(seed);
    this.#rules = rules;
    this.trace = trace ? [] : null;
    this.#traceHash = trace ? createHash('sha256') : null;
    const nodeCount = this.#prng.intBetween(3, 6);
    this.replicas = this.#prng.pick([1, 2, 3, 3, 3, 3]);
    for (let i = 0; i < nodeCount; i++) this.#addNode();
    this.#state = { index: 0, blobs: new Map(), uploads: new Map() };
    this.#history.push(this.#state);
  }

  /** The cluster's shape, for summaries: members and replicas per chunk. */
  get description(): string {
    return `${this.#members.length} nodes, ${this.replicas} replicas`;
  }

  /** The log index of the last committed entry. */
  get commitIndex(): number {
    return this.#state.index;
  }

  get #nowMs(): number {
    return this.#step * stepMs;
  }

  /** Runs the fault phase, then heals and repairs until quiet, checking all along. */
  run(): void {
    this.#log(`start: ${this.description}, members ${this.#members.join(' ')}`);
    for (this.#step = 1; this.#step <= faultStepsPerSeed; this.#step++) {
      this.#expireUploads();
      this.#runEvent(this.#drawEvent());
      this.#checkAlways();
      if (this.violations.length >= violationsMax) return;
    }
    this.#healAll();
    this.#finishUploads();
    this.#rereplicateAll();
    this.#checkAlways();
    this.#repairToQuiet();
    this.#checkAlways();
    this.#checkConverged();
  }

  #log(line: string): void {
    if (this.trace === null || this.#traceHash === null) return;
    const text = `${this.#step} ${line}`;
    this.trace.push(text);
    this.#traceHash.update(`${text}\n`);
  }

  /** The trace's SHA-256, once the run is over (it closes the hash: call it once). */
  digest(): string | null {
    return this.#traceHash === null ? null : this.#traceHash.digest('hex');
  }

  #violation(description: string): void {
    if (this.#violations.has(description) || this.violations.length >= violationsMax) return;
    this.#violations.add(description);
    this.violations.push(`step ${this.#step}: ${description}`);
    this.#log(`VIOLATION ${description}`);
  }

  #drawEvent(): BlobEvent {
    let draw = this.#prng.intBetween(0, eventWeightTotal);
    for (const [event, weight] of eventWeights) {
      if (draw < weight) return event;
      draw -= weight;
    }
    assert(false, 'the weights add up to the total');
  }

  #runEvent(event: BlobEvent): void {
    switch (event) {
      case 'begin':
        return this.#begin();
      case 'push':
        return this.#push();
      case 'sync':
        return this.#syncOne();
      case 'ack':
        return this.#ackOne();
      case 'complete':
        return this.#completeReady();
      case 'abort':
        return this.#abortOne();
      case 'delete':
        return this.#deleteOne();
      case 'read':
        return this.#read();
      case 'repair':
        return this.#repairOne();
      case 'scrub':
        return this.#scrubOne();
      default:
        return this.#fault(event);
    }
  }

  #fault(event: 'crash' | 'restart' | 'partition' | 'heal' | 'corrupt' | 'replace-member'): void {
    switch (event) {
      case 'crash':
        return this.#crash();
      case 'restart':
        return this.#restart();
      case 'partition':
        return this.#partition();
      case 'heal':
        return this.#heal();
      case 'corrupt':
        return this.#corrupt();
      case 'replace-member':
        return this.#replaceMember();
    }
  }

  // --- committed state --------------------------------------------------------------

  /** Commits one entry: the index moves on by one and `change` edits a copy of the state. */
  #commit(
    what: string,
    change: (blobs: Map<string, BlobMeta>, uploads: Map<string, UploadRecord>) => void,
  ): number {
    const index = this.#state.index + 1;
    const blobs = new Map(this.#state.blobs);
    const uploads = new Map(this.#state.uploads);
    change(blobs, uploads);
    this.#state = { index, blobs, uploads };
    this.#history.push(this.#state);
    assert(this.#history[index] === this.#state, 'history[i] is the state at index i');
    this.#log(`commit ${index}: ${what}`);
    return index;
  }

  #addNode(): NodeId {
    const id = `n${this.#nextNodeNumber++}`;
    this.#nodes.set(id, { id, up: true, partitioned: false, files: new Map() });
    this.#members.push(id);
    return id;
  }

  /** A node the leader and its peers can talk to. */
  #reachable(id: NodeId): BlobNode | null {
    const node = this.#nodes.get(id);
    return node !== undefined && node.up && !node.partitioned ? node : null;
  }

  #reachableNodes(): BlobNode[] {
    return this.#members.map((id) => this.#reachable(id)).filter((node) => node !== null);
  }

  #lost(): boolean {
    return this.#prng.chance(1, lossDenominator);
  }

  // --- uploads ------------------------------------------------------------------------

  #begin(): void {
    if (this.#uploads.size >= liveUploadsMax) return;
    const name = this.#prng.pick(blobNames);
    const chunkCount = this.#prng.intBetween(1, chunksPerBlobMax + 1);
    const hashes = Array.from({ length: chunkCount }, () => this.#prng.pick(chunkHashes));
    const durability = this.#prng.pick(durabilityOrder);
    const ttlMs = this.#prng.intBetween(uploadTtlMsMin, uploadTtlMsMax);
    // The begin entry's index is the version: the leader knows it before any byte moves.
    const version = this.#state.index + 1;
    const record: UploadRecord = {
      id: `u${version}`,
      name,
      version,
      chunkBytes,
      contentType: 'application/octet-stream',
      startedAtMs: this.#nowMs,
      expiresAtMs: this.#nowMs + ttlMs,
    };
    const index = this.#commit(`begin ${record.id} ${name} ${durability} x${chunkCount}`, (_, u) =>
      u.set(record.id, record),
    );
    assert(index === version, 'an upload is versioned by the index of its begin entry');
    const holders = hashes.map((_, i) => placement(name, version, i, this.#members, this.replicas));
    const acks = hashes.map(() => new Set<NodeId>());
    this.#uploads.set(record.id, { record, durability, hashes, holders, acks });
    this.stats.uploadsBegun++;
  }

  #pickUpload(): UploadProgress | null {
    return this.#uploads.size === 0 ? null : this.#prng.pick([...this.#uploads.values()]);
  }

  /** The uploader sends one chunk to each of its holders; each holder writes it unsynced. */
  #push(): void {
    const upload = this.#pickUpload();
    if (upload === null) return;
    const i = this.#prng.intBetween(0, upload.hashes.length);
    const name = chunkFileName({
      hash: upload.hashes[i] as string,
      version: upload.record.version,
    });
    for (const holder of upload.holders[i] as readonly NodeId[]) {
      const node = this.#reachable(holder);
      if (node === null || this.#lost()) {
        this.#log(`push ${shortFile(name)} -> ${holder} lost`);
        continue;
      }
      if (!node.files.has(name)) node.files.set(name, { durable: false, corrupt: false });
      this.#log(`push ${shortFile(name)} -> ${holder}`);
    }
  }

  #syncOne(): void {
    const up = this.#members.filter((id) => this.#nodes.get(id)?.up === true);
    if (up.length > 0) this.#sync(this.#nodes.get(this.#prng.pick(up)) as BlobNode);
  }

  #sync(node: BlobNode): void {
    for (const file of node.files.values()) file.durable = true;
    this.#log(`sync ${node.id}`);
  }

  #ackOne(): void {
    const nodes = this.#reachableNodes();
    if (nodes.length > 0) this.#ack(this.#prng.pick(nodes), true);
  }

  /** A holder reports the chunks of uploads in progress it holds (synced, by the real rule). */
  #ack(node: BlobNode, lossy: boolean): void {
    for (const upload of this.#uploads.values()) {
      upload.hashes.forEach((hash, i) => {
        if (!(upload.holders[i] as readonly NodeId[]).includes(node.id)) return;
        const name = chunkFileName({ hash, version: upload.record.version });
        const file = node.files.get(name);
        if (file === undefined || (upload.acks[i] as Set<NodeId>).has(node.id)) return;
        if (this.#rules.acknowledgesOnlySynced && !file.durable) return;
        if (lossy && this.#lost()) return;
        (upload.acks[i] as Set<NodeId>).add(node.id);
        const promised = this.#promised.get(name) ?? new Set<NodeId>();
        this.#promised.set(name, promised.add(node.id));
        this.#log(`ack ${shortFile(name)} chunk ${i} from ${node.id}`);
      });
    }
  }

  /** Whether every chunk has the acknowledgements its durability mode needs, from members. */
  #canComplete(upload: UploadProgress): boolean {
    return upload.hashes.every((_, i) => {
      const holders = upload.holders[i] as readonly NodeId[];
      const acked = [...(upload.acks[i] as Set<NodeId>)].filter((id) => this.#members.includes(id));
      return acked.length >= acksNeeded(upload.durability, holders.length);
    });
  }

  /** The uploaders complete every upload whose chunks have their acknowledgements. */
  #completeReady(): void {
    for (const upload of [...this.#uploads.values()]) {
      if (this.#canComplete(upload)) this.#complete(upload);
    }
  }

  /** Commits the blob (replacing the name's version) and drops the upload in one entry. */
  #complete(upload: UploadProgress): void {
    const { record } = upload;
    const chunks = upload.hashes.map((hash, index): ChunkMeta => ({
      index,
      hash,
      bytes: chunkBytes,
      holders: upload.holders[index] as readonly NodeId[],
    }));
    const blob: BlobMeta = {
      name: record.name,
      version: record.version,
      bytes: chunkBytes * chunks.length,
      contentType: record.contentType,
      chunkBytes,
      sha256: createHash('sha256').update(upload.hashes.join('')).digest('hex'),
      createdAtMs: this.#nowMs,
      chunks,
    };
    this.#commit(`complete ${record.id}: ${record.name} is version ${record.version}`, (b, u) => {
      b.set(record.name, blob);
      u.delete(record.id);
    });
    this.#uploads.delete(record.id);
    this.#completed.add(record.version);
    this.stats.uploadsCompleted++;
    // Holders placed when the upload began may have left since.
    this.#rereplicate(blob);
  }

  #abort(upload: UploadProgress, why: string): void {
    const { record } = upload;
    this.#commit(`${why} ${record.id}`, (_, u) => u.delete(record.id));
    this.#uploads.delete(record.id);
    this.#failed.add(record.version);
    this.stats.uploadsFailed++;
  }

  #abortOne(): void {
    const upload = this.#pickUpload();
    if (upload !== null) this.#abort(upload, 'abort');
  }

  #expireUploads(): void {
    for (const upload of [...this.#uploads.values()]) {
      if (upload.record.expiresAtMs <= this.#nowMs) this.#abort(upload, 'expire');
    }
  }

  #deleteOne(): void {
    const names = [...this.#state.blobs.keys()];
    if (names.length === 0) return;
    const name = this.#prng.pick(names);
    this.#commit(`delete ${name}`, (b) => b.delete(name));
  }

  /** Commits new metadata for `blob` if the members no longer match its holders. */
  #rereplicate(blob: BlobMeta): void {
    const next = this.#rules.rereplicate(blob, this.#members, this.replicas);
    if (next === null) return;
    this.#commit(`rereplicate ${blob.name} version ${blob.version}`, (b) => b.set(blob.name, next));
  }

  #rereplicateAll(): void {
    for (const blob of [...this.#state.blobs.values()]) this.#rereplicate(blob);
  }

  // --- reads, scrubs and repair --------------------------------------------------------

  /**
   * Reads `name` on `node` for a reader or a fetching node: by the real rule the node checks
   * the hash and deletes a corrupt copy (serving nothing); the mutant serves whatever it has.
   */
  #serve(node: BlobNode, name: string): ChunkFile | null {
    const file = node.files.get(name);
    if (file === undefined) return null;
    if (file.corrupt && this.#rules.verifiesBeforeServing) {
      this.#detectCorrupt(node, name);
      return null;
    }
    return file;
  }

  #detectCorrupt(node: BlobNode, name: string): void {
    node.files.delete(name);
    this.#promised.get(name)?.delete(node.id);
    this.stats.corruptionsDetected++;
    this.#log(`${node.id} found ${shortFile(name)} corrupt and deleted it`);
  }

  /** A reader fetches one chunk of a name's current version from its holders in order. */
  #read(): void {
    const blobs = [...this.#state.blobs.values()];
    if (blobs.length === 0) return;
    const blob = this.#prng.pick(blobs);
    const chunk = this.#prng.pick(blob.chunks);
    const name = chunkFileName({ hash: chunk.hash, version: blob.version });
    for (const holder of chunk.holders) {
      const node = this.#reachable(holder);
      const file = node === null ? null : this.#serve(node, name);
      if (file === null) continue;
      this.stats.readsServed++;
      this.#log(`read ${blob.name} chunk ${chunk.index} from ${holder}`);
      this.#checkServed(blob.name, chunk.index, name, file, holder);
      return;
    }
    this.#log(`read ${blob.name} chunk ${chunk.index}: no holder could serve it`);
  }

  /** Invariant 2: what a read returned is the current version's chunk, intact. */
  #checkServed(blobName: string, index: number, served: string, file: ChunkFile, from: NodeId) {
    const current = this.#state.blobs.get(blobName);
    const chunk = current?.chunks[index];
    const expected =
      current === undefined || chunk === undefined
        ? null
        : chunkFileName({ hash: chunk.hash, version: current.version });
    if (served !== expected) {
      this.#violation(`a read of ${blobName} chunk ${index} got ${served}, not ${expected}`);
    }
    if (file.corrupt) {
      this.#violation(`a read of ${blobName} chunk ${index} got corrupt bytes from ${from}`);
    }
  }

  #scrubOne(): void {
    const nodes = this.#reachableNodes();
    if (nodes.length > 0) this.#scrub(this.#prng.pick(nodes));
  }

  /** A node reads every chunk file back and deletes those whose hash no longer matches. */
  #scrub(node: BlobNode): number {
    let found = 0;
    for (const [name, file] of [...node.files]) {
      if (!file.corrupt) continue;
      this.#detectCorrupt(node, name);
      found++;
    }
    return found;
  }

  #repairOne(): void {
    const nodes = this.#reachableNodes();
    if (nodes.length === 0) return;
    const node = this.#prng.pick(nodes);
    const lag = this.#prng.chance(1, 2) ? 0 : this.#prng.intBetween(1, appliedLagMax + 1);
    this.#repair(node, Math.max(0, this.#state.index - lag), true);
  }

  /**
   * A node reports its inventory; a decider that has applied the log up to `appliedIndex`
   * answers a plan from its state then; the node deletes the stale chunks and fetches the
   * missing ones. Returns how many files changed.
   */
  #repair(node: BlobNode, appliedIndex: number, lossy: boolean): number {
    const view = this.#history[appliedIndex] as MetaState;
    const held: ChunkId[] = [];
    for (const name of node.files.keys()) {
      const id = parseChunkFileName(name);
      assert(id !== null, `a node holds only chunk files, not ${name}`);
      held.push(id);
    }
    const plan = this.#rules.repairPlan(
      node.id,
      held,
      view.blobs.values(),
      view.uploads.values(),
      appliedIndex,
    );
    this.#log(
      `repair ${node.id} at applied ${appliedIndex}/${this.#state.index}: ` +
        `${plan.stale.length} stale, ${plan.missing.length} missing`,
    );
    for (const id of plan.stale) {
      const name = chunkFileName(id);
      assert(node.files.delete(name), 'a plan deletes only what the node reported');
      this.stats.chunksDeletedStale++;
      this.#log(`${node.id} deleted stale ${shortFile(name)}`);
    }
    let fetched = 0;
    for (const wanted of plan.missing) {
      if (this.#fetch(node, chunkFileName(wanted.chunk), wanted.from, lossy)) fetched++;
    }
    return plan.stale.length + fetched;
  }

  /** Fetches `name` from the first of `from` that serves a synced copy; writes it unsynced. */
  #fetch(node: BlobNode, name: string, from: readonly NodeId[], lossy: boolean): boolean {
    for (const source of from) {
      const peer = this.#reachable(source);
      if (peer === null || peer.files.get(name)?.durable !== true) continue;
      const file = this.#serve(peer, name);
      if (file === null) continue;
      if (lossy && this.#lost()) return false;
      node.files.set(name, { durable: false, corrupt: file.corrupt });
      this.stats.chunksFetched++;
      this.#log(`${node.id} fetched ${shortFile(name)} from ${source}`);
      return true;
    }
    return false;
  }

  // --- faults -------------------------------------------------------------------------

  #impairedCount(): number {
    return [...this.#nodes.values()].filter((node) => !node.up || node.partitioned).length;
  }

  /** A crash loses every file not yet synced. */
  #crash(): void {
    if (this.#impairedCount() >= impairedNodesMax) return;
    const up = [...this.#nodes.values()].filter((node) => node.up);
    if (up.length === 0) return;
    const node = this.#prng.pick(up);
    node.up = false;
    let lost = 0;
    for (const [name, file] of [...node.files]) {
      if (file.durable) continue;
      node.files.delete(name);
      lost++;
    }
    this.stats.faults++;
    this.#log(`crash ${node.id}: lost ${lost} unsynced files`);
  }

  #restart(): void {
    const down = [...this.#nodes.values()].filter((node) => !node.up);
    if (down.length === 0) return;
    const node = this.#prng.pick(down);
    node.up = true;
    this.#log(`restart ${node.id}`);
  }

  #partition(): void {
    if (this.#impairedCount() >= impairedNodesMax) return;
    const connected = [...this.#nodes.values()].filter((node) => node.up && !node.partitioned);
    if (connected.length === 0) return;
    const node = this.#prng.pick(connected);
    node.partitioned = true;
    this.stats.faults++;
    this.#log(`partition ${node.id}`);
  }

  #heal(): void {
    const cut = [...this.#nodes.values()].filter((node) => node.partitioned);
    if (cut.length === 0) return;
    const node = this.#prng.pick(cut);
    node.partitioned = false;
    this.#log(`heal ${node.id}`);
  }

  /** Nodes that hold a synced, intact copy of `name`. */
  #intactHolders(name: string): NodeId[] {
    return this.#members.filter((id) => {
      const file = this.#nodes.get(id)?.files.get(name);
      return file !== undefined && file.durable && !file.corrupt;
    });
  }

  /** Corrupts one synced file, only while another member keeps a synced intact copy. */
  #corrupt(): void {
    const candidates: [BlobNode, string][] = [];
    for (const id of this.#members) {
      const node = this.#nodes.get(id) as BlobNode;
      for (const [name, file] of node.files) {
        if (!file.durable || file.corrupt) continue;
        if (this.#members.some((other) => this.#nodes.get(other)?.files.get(name)?.corrupt)) {
          continue;
        }
        if (this.#intactHolders(name).length >= 2) candidates.push([node, name]);
      }
    }
    if (candidates.length === 0) return;
    const [node, name] = this.#prng.pick(candidates);
    (node.files.get(name) as ChunkFile).corrupt = true;
    this.stats.faults++;
    this.#log(`corrupt ${shortFile(name)} on ${node.id}`);
  }

  /** The chunk files the committed state still needs: chunks of blobs and of live uploads. */
  #currentFiles(): Set<string> {
    const names = new Set<string>();
    for (const blob of this.#state.blobs.values()) {
      for (const id of chunkIds(blob)) names.add(chunkFileName(id));
    }
    for (const upload of this.#uploads.values()) {
      for (const hash of upload.hashes) {
        names.add(chunkFileName({ hash, version: upload.record.version }));
      }
    }
    return names;
  }

  /** A member may leave for good while another member keeps every current chunk it holds. */
  #mayLeave(id: NodeId, current: Set<string>): boolean {
    const node = this.#nodes.get(id) as BlobNode;
    for (const [name, file] of node.files) {
      if (!current.has(name) || !file.durable || file.corrupt) continue;
      if (!this.#intactHolders(name).some((other) => other !== id)) return false;
    }
    return true;
  }

  /** One member leaves for good (its disk with it), a new one joins, and holders follow. */
  #replaceMember(): void {
    if (this.stats.membersReplaced >= membersReplacedMax) return;
    const current = this.#currentFiles();
    const leaving = this.#members.filter((id) => this.#mayLeave(id, current));
    if (leaving.length === 0) return;
    const gone = this.#prng.pick(leaving);
    this.#members = this.#members.filter((id) => id !== gone);
    this.#nodes.delete(gone);
    const joined = this.#addNode();
    this.stats.faults++;
    this.stats.membersReplaced++;
    this.#commit(`membership: ${gone} left, ${joined} joined`, () => {});
    this.#rereplicateAll();
  }

  // --- healing -------------------------------------------------------------------------

  #healAll(): void {
    this.#step = faultStepsPerSeed + 1;
    for (const node of this.#nodes.values()) {
      node.up = true;
      node.partitioned = false;
    }
    this.#log('heal everything');
  }

  /** Each upload still open gets every chunk to every holder; it completes if it can. */
  #finishUploads(): void {
    for (const upload of [...this.#uploads.values()]) {
      upload.hashes.forEach((hash, i) => {
        const name = chunkFileName({ hash, version: upload.record.version });
        for (const holder of upload.holders[i] as readonly NodeId[]) {
          const node = this.#reachable(holder);
          if (node !== null && !node.files.has(name)) {
            node.files.set(name, { durable: false, corrupt: false });
          }
        }
      });
      for (const node of this.#reachableNodes()) this.#sync(node);
      for (const node of this.#reachableNodes()) this.#ack(node, false);
      if (this.#canComplete(upload)) this.#complete(upload);
      else this.#abort(upload, 'expire');
    }
  }

  /** Repair rounds over every node, with a decider that has applied everything, until quiet. */
  #repairToQuiet(): void {
    for (let round = 1; round <= repairRoundsMax; round++) {
      this.#step = faultStepsPerSeed + 1 + round;
      let changes = 0;
      for (const node of this.#reachableNodes()) changes += this.#scrub(node);
      for (const node of this.#reachableNodes()) {
        changes += this.#repair(node, this.#state.index, false);
      }
      for (const node of this.#reachableNodes()) this.#sync(node);
      if (changes === 0) {
        this.stats.repairRoundsToQuiet = round;
        return;
      }
    }
    this.#violation(`repair did not become quiet within ${repairRoundsMax} rounds`);
  }

  // --- invariants ------------------------------------------------------------------------

  /** Invariants 1 and 4, after every step. */
  #checkAlways(): void {
    for (const blob of this.#state.blobs.values()) {
      if (!this.#completed.has(blob.version) || this.#failed.has(blob.version)) {
        this.#violation(
          `${blob.name} maps to version ${blob.version}, whose upload never completed`,
        );
      }
      for (const id of chunkIds(blob)) {
        const name = chunkFileName(id);
        if (this.#intactHolders(name).length === 0) {
          this.#violation(
            `${blob.name} version ${blob.version} lost every synced intact copy of ${name}`,
          );
        }
      }
    }
    const current = this.#currentFiles();
    for (const [name, nodes] of this.#promised) {
      if (!current.has(name)) continue;
      for (const id of nodes) {
        const node = this.#nodes.get(id);
        if (node === undefined || node.files.has(name)) continue;
        this.#violation(`${id} acknowledged ${name} durable and lost it`);
      }
    }
  }

  /** Invariant 3, once healed and quiet. */
  #checkConverged(): void {
    const copies = Math.min(this.replicas, this.#members.length);
    for (const blob of this.#state.blobs.values()) {
      for (const chunk of blob.chunks) {
        const where = `${blob.name} version ${blob.version} chunk ${chunk.index}`;
        const holders = new Set(chunk.holders);
        if (holders.size !== copies || chunk.holders.length !== copies) {
          this.#violation(`${where} has holders [${chunk.holders}], not ${copies} distinct`);
        }
        const name = chunkFileName({ hash: chunk.hash, version: blob.version });
        for (const holder of chunk.holders) {
          const file = this.#nodes.get(holder)?.files.get(name);
          if (!this.#members.includes(holder)) {
            this.#violation(`${where} lists ${holder}, which is not a member`);
          } else if (file === undefined || !file.durable || file.corrupt) {
            this.#violation(`${where} is not synced and intact on its holder ${holder}`);
          }
        }
      }
    }
    const current = this.#currentFiles();
    for (const node of this.#nodes.values()) {
      for (const name of node.files.keys()) {
        if (!current.has(name)) this.#violation(`${node.id} still holds stale ${name}`);
      }
    }
  }
}

/** Runs one seed. */
export function runBlobSimulation(options: BlobSimulationOptions): BlobSimulationResult {
  const world = new BlobWorld(
    options.seed,
    { ...blobRules, ...options.rules },
    options.trace === true,
  );
  world.run();
  return {
    seed: options.seed,
    description: world.description,
    violations: world.violations,
    stats: world.stats,
    commitIndex: world.commitIndex,
    traceDigest: world.digest(),
    trace: world.trace ?? [],
  };
}

/** The totals of a batch of seeds. */
export type BlobBatchSummary = SeedRangeSummary<BlobSimulationStats, BlobSimulationResult>;

/** Runs seeds `from .. from + count - 1` under `rules` (the real ones by default). */
export function runBlobSeeds(options: {
  readonly from: number;
  readonly count: number;
  readonly rules?: Partial<BlobRules>;
  readonly onResult?: (result: BlobSimulationResult) => void;
}): BlobBatchSummary {
  return runSeedRange(options, noStats(), (seed) =>
    runBlobSimulation({ seed, rules: options.rules }),
  );
}

/** How a search for a seed that catches a mutant ended. */
export interface BlobMutantSearch {
  /** The first seed that fails against the mutant and passes under the real rules. */
  readonly caught: BlobSimulationResult | null;
  readonly seedsRun: number;
}

/** Runs seeds from `from` against `mutant` until one catches it (and the real rules pass it). */
export function findCatchingBlobSeed(
  mutant: BlobMutant,
  from: number,
  maxSeeds: number,
): BlobMutantSearch {
  return findCatchingSeed(
    from,
    maxSeeds,
    (seed) => runBlobSimulation({ seed, rules: mutant.rules }),
    (seed) => runBlobSimulation({ seed }),
  );
}

/** The command that replays one seed with its trace. */
export function blobReplayCommand(seed: number, mutant?: string): string {
  return replayCommand('sim:blobs', seed, mutant);
}
