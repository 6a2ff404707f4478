// The storage contract (src/log/contract.ts) holds for both implementations: the simulated
// disk the simulator crashes, and the real segment-file storage. One suite, run on both.
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Prng } from '../../src/core/prng.js';
import type { Entry, SnapshotMeta } from '../../src/core/types.js';
import type { ReplicationStorage } from '../../src/log/contract.js';
import { DiskStorage } from '../../src/log/disk-storage.js';
import { SimDisk } from '../../src/sim/disk.js';
import { entriesOf, plain, temporaryDirectory } from './helpers.js';

/** One implementation under test: how to make one, restart it cleanly, and crash it. */
interface Subject {
  readonly name: string;
  readonly propertyRuns: number;
  create(): Promise<Instance>;
}

interface Instance {
  storage: ReplicationStorage;
  /** A clean restart: queued writes are flushed, then the storage is reopened. */
  restart(): Promise<void>;
  /** A crash: queued writes may be lost (a prefix of them survives), synced ones stay. */
  crash(): Promise<void>;
  dispose(): Promise<void>;
}

const simSubject: Subject = {
  name: 'SimDisk',
  propertyRuns: 200,
  async create() {
    const disk = new SimDisk();
    const random = new Prng(7);
    return {
      storage: disk,
      async restart() {
        disk.sync();
      },
      async crash() {
        disk.crash(random);
      },
      async dispose() {},
    };
  },
};

const diskSubject: Subject = {
  name: 'DiskStorage',
  propertyRuns: 25,
  async create() {
    const directory = temporaryDirectory('contract');
    // Small segments, so that truncation and compaction cross segment boundaries.
    const options = { limits: { segmentBytesMax: 600 } };
    let storage = await DiskStorage.open(directory.path, options);
    await storage.load();
    const instance: Instance = {
      storage,
      async restart() {
        await storage.close();
        storage = await DiskStorage.open(directory.path, options);
        instance.storage = storage;
      },
      async crash() {
        // Queued writes that never reached a flush are lost with the process.
        await storage.log.close();
        await storage.hardState.close();
        storage = await DiskStorage.open(directory.path, options);
        instance.storage = storage;
      },
      async dispose() {
        await storage.close();
        directory.remove();
      },
    };
    return instance;
  },
};

const membership = { voters: ['a', 'b', 'c'], learners: [] };

function meta(index: number, term: number): SnapshotMeta {
  return { index, term, membership };
}

for (const subject of [simSubject, diskSubject]) {
  describe(`storage contract: ${subject.name}`, () => {
    async function withInstance(body: (instance: Instance) => Promise<void>): Promise<void> {
      const instance = await subject.create();
      try {
        await body(instance);
      } finally {
        await instance.dispose();
      }
    }

    test('a new storage is empty', async () => {
      // Goal: a node that never ran reads back term 0, no vote, no snapshot, no entries.
      await withInstance(async ({ storage }) => {
        const state = await storage.load();
        assert.deepEqual(state, {
          hardState: { term: 0, vote: null, commit: 0 },
          snapshot: null,
          entries: [],
        });
        assert.equal(await storage.readSnapshot(), null);
      });
    });

    test('synced entries and hard state survive a restart', async () => {
      // Goal: what sync() made durable is read back exactly.
      await withInstance(async (instance) => {
        instance.storage.writeEntries(entriesOf(1, 30, 1));
        instance.storage.writeHardState({ term: 2, vote: 'b', commit: 12 });
        await instance.storage.sync();
        await instance.crash();
        const state = await instance.storage.load();
        assert.deepEqual(state.hardState, { term: 2, vote: 'b', commit: 12 });
        assert.deepEqual(state.entries.map(plain), entriesOf(1, 30, 1).map(plain));
      });
    });

    test('a write at or below the last index truncates the divergent tail', async () => {
      // Goal: a follower's conflicting tail is replaced, durably, by the leader's entries.
      await withInstance(async (instance) => {
        instance.storage.writeEntries(entriesOf(1, 20, 1));
        await instance.storage.sync();
        instance.storage.writeEntries(entriesOf(9, 12, 2));
        await instance.storage.sync();
        await instance.crash();
        const state = await instance.storage.load();
        const expected = [...entriesOf(1, 8, 1), ...entriesOf(9, 12, 2)];
        assert.deepEqual(state.entries.map(plain), expected.map(plain));
      });
    });

    test('a crash keeps the synced entries and at most a prefix of the queued ones', async () => {
      // Goal: unsynced writes may be lost, never reordered, and never take synced ones along.
      await withInstance(async (instance) => {
        instance.storage.writeEntries(entriesOf(1, 10, 1));
        await instance.storage.sync();
        instance.storage.writeEntries(entriesOf(11, 20, 1));
        instance.storage.writeEntries(entriesOf(21, 25, 1));
        await instance.crash();
        const { entries } = await instance.storage.load();
        assert.ok(entries.length >= 10 && entries.length <= 25, `kept ${entries.length}`);
        assert.deepEqual(entries.map(plain), entriesOf(1, entries.length, 1).map(plain));
      });
    });

    test("a snapshot of the node's own log drops only the prefix it covers", async () => {
      // Goal: compaction keeps the entries after the snapshot and the snapshot's bytes.
      await withInstance(async (instance) => {
        instance.storage.writeEntries(entriesOf(1, 40, 1));
        await instance.storage.sync();
        const data = Buffer.from('state at 25');
        await instance.storage.saveSnapshot(meta(25, 1), data);
        await instance.restart();
        const state = await instance.storage.load();
        assert.deepEqual(state.snapshot, meta(25, 1));
        assert.deepEqual(state.entries.map(plain), entriesOf(26, 40, 1).map(plain));
        const snapshot = await instance.storage.readSnapshot();
        assert.deepEqual(Buffer.from(snapshot?.data ?? []), data);
      });
    });

    test('a snapshot the log does not continue replaces the whole log', async () => {
      // Goal: a snapshot received from the leader drops a log that disagrees with it, and the
      // log goes on from the snapshot's index.
      await withInstance(async (instance) => {
        instance.storage.writeEntries(entriesOf(1, 15, 1));
        await instance.storage.sync();
        await instance.storage.saveSnapshot(meta(50, 3), Buffer.from('leader state'));
        instance.storage.writeEntries(entriesOf(51, 55, 3));
        await instance.storage.sync();
        await instance.crash();
        const state = await instance.storage.load();
        assert.deepEqual(state.snapshot, meta(50, 3));
        assert.deepEqual(state.entries.map(plain), entriesOf(51, 55, 3).map(plain));
      });
    });

    test('truncation, compaction, crashes and restarts agree with a model', async () => {
      // Goal: any sequence of appends (with overwrites), snapshots, syncs, crashes and restarts
      // leaves exactly the model's durable log, give or take a prefix of unsynced writes.
      await fc.assert(
        fc.asyncProperty(
          fc.array(operationArbitrary, { minLength: 1, maxLength: 25 }),
          async (operations) => {
            await withInstance(async (instance) => runAgainstModel(instance, operations));
          },
        ),
        { numRuns: subject.propertyRuns },
      );
    });
  });
}

type Operation =
  | {
      readonly kind: 'append';
      readonly back: number;
      readonly count: number;
      readonly bump: boolean;
    }
  | { readonly kind: 'sync' }
  | { readonly kind: 'snapshot'; readonly back: number }
  | { readonly kind: 'restart' }
  | { readonly kind: 'crash' };

const operationArbitrary: fc.Arbitrary<Operation> = fc.oneof(
  fc.record({
    kind: fc.constant('append' as const),
    back: fc.nat({ max: 6 }),
    count: fc.integer({ min: 1, max: 12 }),
    bump: fc.boolean(),
  }),
  fc.constant({ kind: 'sync' as const }),
  fc.record({ kind: fc.constant('snapshot' as const), back: fc.nat({ max: 10 }) }),
  fc.constant({ kind: 'restart' as const }),
  fc.constant({ kind: 'crash' as const }),
);

/**
 * The model: the durable log and the writes queued since the last sync. A crash keeps a
 * prefix of the queued writes, the last of them possibly torn (a prefix of its entries,
 * with or without the truncation it began with); the loaded log must be one of those.
 */
async function runAgainstModel(
  instance: Instance,
  operations: readonly Operation[],
): Promise<void> {
  let snapshot: SnapshotMeta | null = null;
  /** Durable log after the snapshot. */
  let durable: Entry[] = [];
  /** Writes queued since the log was last durable. */
  let queued: Entry[][] = [];
  let term = 1;
  const written = (): Entry[] => queued.reduce(applyWrite, durable);
  const lastIndex = (): number => written().at(-1)?.index ?? snapshot?.index ?? 0;
  for (const operation of operations) {
    const storage = instance.storage;
    if (operation.kind === 'append') {
      const from = Math.max((snapshot?.index ?? 0) + 1, lastIndex() + 1 - operation.back);
      if (operation.bump && from <= lastIndex()) term++;
      const entries = entriesOf(from, from + operation.count - 1, term);
      storage.writeEntries(entries);
      queued.push(entries);
    } else if (operation.kind === 'sync' || operation.kind === 'snapshot') {
      await storage.sync();
      durable = written();
      queued = [];
      if (operation.kind === 'sync') continue;
      const index = lastIndex() - operation.back;
      if (index <= (snapshot?.index ?? 0)) continue;
      const entry = durable.find((candidate) => candidate.index === index) as Entry;
      snapshot = meta(index, entry.term);
      await storage.saveSnapshot(snapshot, Buffer.from(`state ${index}`));
      durable = durable.filter((candidate) => candidate.index > index);
    } else {
      if (operation.kind === 'restart') await instance.restart();
      else await instance.crash();
      const state = await instance.storage.load();
      assert.deepEqual(state.snapshot, snapshot);
      const loaded = state.entries.map((entry) => JSON.stringify(plain(entry)));
      const candidates =
        operation.kind === 'restart' ? [written()] : crashOutcomes(durable, queued);
      const match = candidates.find(
        (candidate) =>
          JSON.stringify(candidate.map((entry) => JSON.stringify(plain(entry)))) ===
          JSON.stringify(loaded),
      );
      assert.ok(
        match !== undefined,
        `after a ${operation.kind} the log is none of the allowed outcomes`,
      );
      durable = match;
      queued = [];
    }
  }
}

/** Applies one queued write to a log: truncate from its first index, then append. */
function applyWrite(log: readonly Entry[], write: readonly Entry[]): Entry[] {
  const first = write[0];
  if (first === undefined) return [...log];
  return [...log.filter((entry) => entry.index < first.index), ...write];
}

/** Every log a crash may leave: the durable one with a prefix of the queued writes applied. */
function crashOutcomes(durable: readonly Entry[], queued: readonly Entry[][]): Entry[][] {
  const outcomes: Entry[][] = [];
  let log = [...durable];
  for (const write of queued) {
    outcomes.push(log);
    const first = (write[0] as Entry).index;
    for (let kept = 0; kept < write.length; kept++) {
      outcomes.push([...log.filter((entry) => entry.index < first), ...write.slice(0, kept)]);
    }
    log = applyWrite(log, write);
  }
  outcomes.push(log);
  return outcomes;
}
