// The blob layer's pure decisions: chunk file names, placement, acknowledgements, repair
// plans and re-replication, by concrete cases and by properties over generated metadata.
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { BlobMeta, ChunkId, UploadRecord } from '../../src/blobs/contract.js';
import {
  acksNeeded,
  chunkFileName,
  chunkIds,
  compareChunkIds,
  parseChunkFileName,
  placement,
  repairPlan,
  rereplicate,
  rendezvousOrder,
} from '../../src/blobs/plan.js';
import type { NodeId } from '../../src/core/types.js';

const hashOf = (text: string): string => createHash('sha256').update(text).digest('hex');
const hashA = hashOf('a');
const hashB = hashOf('b');
const hashC = hashOf('c');

function blob(name: string, version: number, chunks: [string, NodeId[]][]): BlobMeta {
  return {
    name,
    version,
    bytes: chunks.length * 4,
    contentType: 'application/octet-stream',
    chunkBytes: 4,
    sha256: hashOf(`${name}.${version}`),
    createdAtMs: 0,
    chunks: chunks.map(([hash, holders], index) => ({ index, hash, bytes: 4, holders })),
  };
}

function upload(name: string, version: number): UploadRecord {
  return {
    id: `u${version}`,
    name,
    version,
    chunkBytes: 4,
    contentType: 'application/octet-stream',
    startedAtMs: 0,
    expiresAtMs: 60_000,
  };
}

const key = (id: ChunkId): string => chunkFileName(id);

test('a chunk file is named hash.version and only such names parse back', () => {
  // Goal: a node listing its directory recognises its chunks and nothing else.
  const id = { hash: hashA, version: 42 };
  assert.equal(chunkFileName(id), `${hashA}.42`);
  assert.deepEqual(parseChunkFileName(chunkFileName(id)), id);
  assert.deepEqual(parseChunkFileName(`${hashA}.0`), { hash: hashA, version: 0 });
  for (const name of [
    `${hashA}.042`,
    `${hashA}.42.tmp`,
    `${hashA.toUpperCase()}.42`,
    `${hashA.slice(1)}.42`,
    `${hashA}`,
    `${hashA}.`,
    `${hashA}.-1`,
    `${hashA}.99999999999999999`,
    '',
  ]) {
    assert.equal(parseChunkFileName(name), null, name);
  }
  assert.throws(() => chunkFileName({ hash: 'xyz', version: 1 }), /64 lowercase hex/);
  assert.throws(() => chunkFileName({ hash: hashA, version: 1.5 }), /safe integer/);
});

test('placement takes the top of the rendezvous order, whatever order members come in', () => {
  // Goal: every node computes the same holders, and a member leaving moves only its chunks.
  const members = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const holders = placement('photos/cat.jpg', 7, 0, members, 3);
  assert.equal(holders.length, 3);
  assert.deepEqual(placement('photos/cat.jpg', 7, 0, [...members].reverse(), 3), holders);
  assert.deepEqual(holders, rendezvousOrder('photos/cat.jpg', 7, 0, members).slice(0, 3));
  const outsider = members.find((node) => !holders.includes(node)) as NodeId;
  const fewer = members.filter((node) => node !== outsider);
  assert.deepEqual(placement('photos/cat.jpg', 7, 0, fewer, 3), holders);
  assert.deepEqual(placement('photos/cat.jpg', 7, 0, ['n1', 'n2'], 3).sort(), ['n1', 'n2']);
  assert.deepEqual(placement('photos/cat.jpg', 7, 0, [], 3), []);
  // Another chunk, version or name ranks the members afresh.
  const spread = new Set<string>();
  for (let index = 0; index < 32; index++) {
    spread.add(placement('photos/cat.jpg', 7, index, members, 1)[0] as string);
  }
  assert.equal(spread.size, members.length, 'first holders spread over every member');
  assert.throws(() => placement('x', 1, 0, ['n1', 'n1'], 1), /distinct/);
  assert.throws(() => placement('x', 1, 0, ['n1'], 0), /replicas must be >= 1/);
});

test('acknowledgements needed follow the durability mode', () => {
  // Goal: the four modes count copies as the log counts replicas.
  const table: [Parameters<typeof acksNeeded>[0], number, number][] = [
    ['async', 1, 1],
    ['async', 3, 1],
    ['semi-sync', 1, 1],
    ['semi-sync', 3, 2],
    ['quorum', 1, 1],
    ['quorum', 2, 2],
    ['quorum', 3, 2],
    ['quorum', 4, 3],
    ['sync', 3, 3],
  ];
  for (const [durability, holders, needed] of table) {
    assert.equal(acksNeeded(durability, holders), needed, `${durability} of ${holders}`);
  }
  assert.throws(() => acksNeeded('quorum', 0), /holders must be >= 1/);
});

test('a repair plan deletes only chunks nothing refers to and fetches what is listed but absent', () => {
  // Goal: each rule of staleness holds alone: blob reference, live upload, applied index.
  const blobs = [
    blob('a', 5, [
      [hashA, ['n1', 'n2', 'n3']],
      [hashB, ['n2', 'n3', 'n4']],
      [hashA, ['n3', 'n1', 'n4']],
    ]),
    blob('b', 8, [[hashC, ['n4', 'n1']]]),
  ];
  const uploads = [upload('a', 9)];
  const held: ChunkId[] = [
    { hash: hashA, version: 5 }, // a chunk of blob a: kept
    { hash: hashB, version: 5 }, // of blob a though n1 is not its holder: kept
    { hash: hashC, version: 5 }, // a hash blob a does not have at version 5: stale
    { hash: hashA, version: 3 }, // an old version: stale
    { hash: hashB, version: 9 }, // the live upload's: kept
    { hash: hashB, version: 12 }, // beyond the applied index: kept
    { hash: hashA, version: 10 }, // at the applied index and unknown: stale
    { hash: hashA, version: 3 }, // listed twice: one entry
  ];
  const plan = repairPlan('n1', held, blobs, uploads, 10);
  assert.deepEqual(plan.stale, [
    { hash: hashA, version: 3 },
    { hash: hashC, version: 5 },
    { hash: hashA, version: 10 },
  ]);
  assert.deepEqual(plan.missing, [{ chunk: { hash: hashC, version: 8 }, bytes: 4, from: ['n4'] }]);
  // n4 lacks everything it holds for. It holds chunk 2 of blob a only, but chunk 0 has the
  // same bytes and so the same file: every holder of either is a source, first seen first.
  const other = repairPlan('n4', [], blobs, uploads, 10);
  assert.deepEqual(other.stale, []);
  const expected = [
    { chunk: { hash: hashA, version: 5 }, bytes: 4, from: ['n1', 'n2', 'n3'] },
    { chunk: { hash: hashB, version: 5 }, bytes: 4, from: ['n2', 'n3'] },
    { chunk: { hash: hashC, version: 8 }, bytes: 4, from: ['n1'] },
  ].sort((x, y) => compareChunkIds(x.chunk, y.chunk));
  assert.deepEqual(other.missing, expected);
});

test('re-replication replaces a departed holder and keeps the holders that stayed', () => {
  // Goal: a chunk returns to R copies on members, and nothing changes when nothing must.
  const members = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const holders = placement('a', 5, 0, members, 3);
  const before = blob('a', 5, [[hashA, holders]]);
  assert.equal(rereplicate(before, members, 3), null);
  const gone = holders[1] as NodeId;
  const remaining = members.filter((node) => node !== gone);
  const after = rereplicate(before, remaining, 3);
  assert.ok(after !== null);
  const newHolders = after.chunks[0]?.holders ?? [];
  assert.equal(newHolders.length, 3);
  assert.ok(!newHolders.includes(gone));
  for (const kept of holders.filter((node) => node !== gone)) assert.ok(newHolders.includes(kept));
  assert.deepEqual(newHolders, placement('a', 5, 0, remaining, 3), 'the next in rendezvous order');
  assert.equal(rereplicate(after, remaining, 3), null);
  // A chunk short of copies (the cluster was smaller) gains them when members join.
  const short = blob('a', 5, [[hashA, ['n1']]]);
  assert.equal(rereplicate(short, members, 3)?.chunks[0]?.holders.length, 3);
  // The other fields and chunks are untouched.
  assert.deepEqual({ ...after, chunks: [] }, { ...before, chunks: [] });
  assert.deepEqual(
    chunkIds(
      blob('x', 4, [
        [hashA, []],
        [hashB, []],
        [hashA, []],
      ]),
    ),
    [
      { hash: hashA, version: 4 },
      { hash: hashB, version: 4 },
    ],
  );
});

const nodeIdArbitrary = fc.integer({ min: 1, max: 9 }).map((n) => `n${n}`);
const membersArbitrary = fc.uniqueArray(nodeIdArbitrary, { minLength: 1, maxLength: 7 });
const hashArbitrary = fc.constantFrom(hashA, hashB, hashC, hashOf('d'));

test('placement is deterministic, order-independent, distinct and of the right size', () => {
  // Goal: every node that knows the members agrees on a chunk's holders.
  fc.assert(
    fc.property(
      fc.string({ maxLength: 12 }),
      fc.nat({ max: 1_000_000 }),
      fc.nat({ max: 64 }),
      fc.uniqueArray(nodeIdArbitrary, { maxLength: 9 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(fc.nat(), { minLength: 9, maxLength: 9 }),
      (name, version, index, candidates, replicas, sortKeys) => {
        const holders = placement(name, version, index, candidates, replicas);
        const shuffled = candidates
          .map((node, i) => ({ node, sortKey: sortKeys[i] as number }))
          .sort((a, b) => a.sortKey - b.sortKey)
          .map((entry) => entry.node);
        assert.deepEqual(placement(name, version, index, shuffled, replicas), holders);
        assert.deepEqual(placement(name, version, index, candidates, replicas), holders);
        assert.equal(holders.length, Math.min(replicas, candidates.length));
        assert.equal(new Set(holders).size, holders.length);
        for (const holder of holders) assert.ok(candidates.includes(holder));
      },
    ),
    { numRuns: 500 },
  );
});

/** A generated world: committed blobs, live uploads, what one node holds, its applied index. */
const worldArbitrary = fc
  .record({
    blobs: fc.uniqueArray(
      fc.record({
        name: fc.constantFrom('a', 'b', 'c', 'd'),
        version: fc.integer({ min: 1, max: 30 }),
        chunks: fc.array(
          fc.tuple(hashArbitrary, fc.uniqueArray(nodeIdArbitrary, { maxLength: 4 })),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
      }),
      { selector: (entry) => entry.name, maxLength: 4 },
    ),
    uploadVersions: fc.uniqueArray(fc.integer({ min: 1, max: 30 }), { maxLength: 3 }),
    held: fc.array(fc.record({ hash: hashArbitrary, version: fc.integer({ min: 1, max: 30 }) }), {
      maxLength: 12,
    }),
    node: nodeIdArbitrary,
    appliedIndex: fc.integer({ min: 0, max: 30 }),
  })
  .map((world) => ({
    ...world,
    blobs: world.blobs.map((entry) => blob(entry.name, entry.version, entry.chunks)),
    uploads: world.uploadVersions.map((version) => upload('u', version)),
  }));

test('a repair plan never calls referenced, live or unapplied chunks stale, and misses exactly the absent', () => {
  // Goal: repair deletes nothing a reader or an upload may still need, and fetches all it lacks.
  fc.assert(
    fc.property(worldArbitrary, ({ blobs, uploads, held, node, appliedIndex }) => {
      const plan = repairPlan(node, held, blobs, uploads, appliedIndex);
      const referenced = new Set(blobs.flatMap((b) => chunkIds(b).map(key)));
      const liveVersions = new Set(uploads.map((u) => u.version));
      const heldKeys = new Set(held.map(key));
      const stale = new Set(plan.stale.map(key));
      assert.equal(stale.size, plan.stale.length, 'no chunk listed twice');
      for (const id of held) {
        const deletable =
          !referenced.has(key(id)) && !liveVersions.has(id.version) && id.version <= appliedIndex;
        assert.equal(stale.has(key(id)), deletable, key(id));
      }
      for (const id of plan.stale) assert.ok(heldKeys.has(key(id)));
      const expectedMissing = new Set<string>();
      for (const b of blobs) {
        for (const chunk of b.chunks) {
          const name = key({ hash: chunk.hash, version: b.version });
          if (chunk.holders.includes(node) && !heldKeys.has(name)) expectedMissing.add(name);
        }
      }
      assert.deepEqual(new Set(plan.missing.map((wanted) => key(wanted.chunk))), expectedMissing);
      assert.equal(plan.missing.length, expectedMissing.size);
      for (const wanted of plan.missing) {
        // Every other holder of any chunk with these bytes at this version is a source.
        const sources = new Set<NodeId>();
        for (const b of blobs) {
          for (const chunk of b.chunks) {
            if (key({ hash: chunk.hash, version: b.version }) !== key(wanted.chunk)) continue;
            for (const holder of chunk.holders) if (holder !== node) sources.add(holder);
          }
        }
        assert.equal(new Set(wanted.from).size, wanted.from.length);
        assert.deepEqual(new Set(wanted.from), sources);
      }
      const sorted = (ids: readonly ChunkId[]) => [...ids].sort(compareChunkIds);
      assert.deepEqual(plan.stale, sorted(plan.stale));
      const missingIds = plan.missing.map((wanted) => wanted.chunk);
      assert.deepEqual(missingIds, sorted(missingIds));
      assert.deepEqual(repairPlan(node, [...held].reverse(), blobs, uploads, appliedIndex), plan);
    }),
    { numRuns: 1000 },
  );
});

test('re-replication leaves only members as holders, restores the count, and is idempotent', () => {
  // Goal: after a member leaves, one commit of new metadata returns every chunk to R copies.
  fc.assert(
    fc.property(
      fc.array(fc.uniqueArray(nodeIdArbitrary, { maxLength: 4 }), { minLength: 1, maxLength: 4 }),
      membersArbitrary,
      fc.integer({ min: 1, max: 4 }),
      (holdersByChunk, members, replicas) => {
        const before = blob(
          'a',
          3,
          holdersByChunk.map((holders) => [hashA, holders]),
        );
        const result = rereplicate(before, members, replicas);
        const after = result ?? before;
        const target = Math.min(replicas, members.length);
        after.chunks.forEach((chunk, i) => {
          const old = holdersByChunk[i] as NodeId[];
          const stayed = old.filter((holder) => members.includes(holder));
          assert.equal(new Set(chunk.holders).size, chunk.holders.length);
          for (const holder of chunk.holders) assert.ok(members.includes(holder), holder);
          for (const holder of stayed) assert.ok(chunk.holders.includes(holder), 'kept');
          assert.equal(chunk.holders.length, Math.max(target, stayed.length));
        });
        if (result === null) {
          for (const old of holdersByChunk) {
            assert.ok(old.every((holder) => members.includes(holder)) && old.length >= target);
          }
        }
        assert.equal(rereplicate(after, members, replicas), null, 'a second pass changes nothing');
      },
    ),
    { numRuns: 1000 },
  );
});
