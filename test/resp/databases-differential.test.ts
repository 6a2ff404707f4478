// Differential: Redis's sixteen databases (SELECT, MOVE, COPY ... DB, SWAPDB, FLUSHDB,
// FLUSHALL, DBSIZE, KEYS, SCAN, RANDOMKEY, INFO keyspace, CLIENT INFO's db) driven with the
// same random commands, inside and outside MULTI, on redis-server 7 and on a Tandem node
// (SQLite, then PostgreSQL), every reply compared byte for byte, KEYS and SCAN as sets,
// RANDOMKEY by membership.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { comparable, RawClient, sameReply } from './raw-client.js';
import { CommandCount, differentialRuns, seedOption } from './differential-scale.js';
import { redisBesideTandem, redisSkip } from './redis-server.js';

const keys = ['a', 'b'];
const key = fc.constantFrom(...keys);
/** The databases the streams use, so that keys meet often. */
const dbs = ['0', '1', '2', '3'];
const db = fc.constantFrom(...dbs);
/** Indexes Redis refuses, each with its own error. */
const badDb = fc.constantFrom('16', '-1', 'x', '99999999999', '1.5', '');
const value = fc.constantFrom('v', 'w', '1', '');

/** Commands that may also be queued in MULTI. */
const queueable: fc.Arbitrary<string[]> = fc.oneof(
  { weight: 4, arbitrary: db.map((n) => ['SELECT', n]) },
  badDb.map((n) => ['SELECT', n]),
  { weight: 4, arbitrary: fc.tuple(key, value).map(([k, v]) => ['SET', k, v]) },
  { weight: 2, arbitrary: fc.tuple(key, value).map(([k, v]) => ['HSET', k, 'f', v]) },
  { weight: 2, arbitrary: fc.tuple(key, value).map(([k, v]) => ['RPUSH', k, v]) },
  fc.tuple(fc.constantFrom('GET', 'TYPE', 'EXISTS', 'DEL'), key).map(([c, k]) => [c, k]),
  key.map((k) => ['HGETALL', k]),
  fc.tuple(key, value).map(([k, v]) => ['SET', k, v, 'EX', '1000']),
  key.map((k) => ['ZADD', k, '1', 'm']),
  // Replies that name the key they came from: the client's key, not its stored form.
  fc.constantFrom(
    ['LMPOP', '2', 'a', 'b', 'LEFT'],
    ['ZMPOP', '2', 'b', 'a', 'MIN'],
    ['BLPOP', 'a', 'b', '0.01'],
    ['BRPOP', 'b', 'a', '0.01'],
    ['BZPOPMIN', 'a', 'b', '0.01'],
    ['BLMPOP', '0.01', '2', 'a', 'b', 'RIGHT'],
  ),
  key.map((k) => ['LRANGE', k, '0', '-1']),
  { weight: 4, arbitrary: fc.tuple(key, db).map(([k, n]) => ['MOVE', k, n]) },
  fc.tuple(key, badDb).map(([k, n]) => ['MOVE', k, n]),
  {
    weight: 4,
    arbitrary: fc
      .tuple(key, key, fc.oneof(db, badDb), fc.boolean())
      .map(([from, to, n, replace]) => [
        'COPY',
        from,
        to,
        'DB',
        n,
        ...(replace ? ['REPLACE'] : []),
      ]),
  },
  fc.constantFrom(['FLUSHDB'], ['FLUSHDB', 'ASYNC'], ['FLUSHDB', 'sync'], ['FLUSHDB', 'bogus']),
  fc.constantFrom(['MOVE', 'a'], ['SELECT'], ['FLUSHDB', 'SYNC', 'x']),
);

/** SWAPDB, which Tandem refuses inside MULTI (see README). */
const swapdb: fc.Arbitrary<string[]> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(db, db).map(([x, y]) => ['SWAPDB', x, y]) },
  fc.tuple(fc.oneof(db, badDb), fc.oneof(db, badDb)).map(([x, y]) => ['SWAPDB', x, y]),
  fc.constantFrom(['SWAPDB', '1'], ['SWAPDB', '1', '2', '3']),
);

/** A step of a stream: one command, a whole-keyspace read, or a transaction. */
type Step =
  | { readonly kind: 'command'; readonly args: string[] }
  | { readonly kind: 'read'; readonly args: string[] }
  | {
      readonly kind: 'multi';
      /** A key to WATCH first, and the database another client then writes it in. */
      readonly watch: { readonly key: string; readonly otherDb: string } | null;
      readonly queued: string[][];
      readonly end: 'EXEC' | 'DISCARD';
    };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: queueable.map((args): Step => ({ kind: 'command', args })) },
  { weight: 2, arbitrary: swapdb.map((args): Step => ({ kind: 'command', args })) },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(
        ['DBSIZE'],
        ['KEYS', '*'],
        ['KEYS', 'a*'],
        ['SCAN', '0'],
        ['SCAN', '0', 'COUNT', '1'],
        ['SCAN', '0', 'MATCH', 'b'],
        ['SCAN', '0', 'TYPE', 'hash'],
        ['SCAN', '0', 'TYPE', 'string'],
        ['RANDOMKEY'],
        ['CLIENT', 'INFO'],
      )
      .map((args): Step => ({ kind: 'read', args })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(
        fc.option(fc.record({ key, otherDb: db })),
        fc.array(queueable, { minLength: 1, maxLength: 5 }),
        fc.constantFrom('EXEC', 'EXEC', 'DISCARD'),
      )
      .map(([watch, queued, end]): Step => ({
        kind: 'multi',
        watch,
        queued,
        end: end as 'EXEC' | 'DISCARD',
      })),
  },
);

/** The keys a reply lists, sorted by their bytes (KEYS, and a SCAN's pages gathered). */
function sortedKeys(reply: unknown): string[] {
  assert.ok(Array.isArray(reply), `a list of keys, not ${String(comparable(reply))}`);
  return (reply as Buffer[]).map((k) => k.toString('latin1')).sort();
}

/** Every key a whole SCAN with `options` visits, from cursor 0 until it answers 0 again. */
async function scanAll(client: RawClient, options: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  for (let pages = 0; pages < 1000; pages++) {
    const reply = (await client.call('SCAN', cursor, ...options)) as [Buffer, Buffer[]];
    assert.ok(Array.isArray(reply), `SCAN answered ${String(comparable(reply))}`);
    found.push(...sortedKeys(reply[1]));
    cursor = reply[0].toString('latin1');
    if (cursor === '0') return [...new Set(found)].sort();
  }
  throw new Error('SCAN did not end');
}

/** The `db=` field of CLIENT INFO. */
function dbField(reply: unknown): string {
  const line = Buffer.isBuffer(reply) ? reply.toString('latin1') : String(comparable(reply));
  return /\bdb=(\d+)/.exec(line)?.[1] ?? `no db= in ${line}`;
}

/** A whole-keyspace read on both servers: the same answer, as a set where Redis's is random. */
async function sameRead(ours: RawClient, theirs: RawClient, args: string[]): Promise<void> {
  const label = args.join(' ');
  if (args[0] === 'KEYS') {
    const [mine, redis7] = [await ours.call(...args), await theirs.call(...args)];
    assert.deepEqual(sortedKeys(mine), sortedKeys(redis7), label);
  } else if (args[0] === 'SCAN') {
    const options = args.slice(2);
    assert.deepEqual(await scanAll(ours, options), await scanAll(theirs, options), label);
  } else if (args[0] === 'RANDOMKEY') {
    const [mine, redis7] = [await ours.call('RANDOMKEY'), await theirs.call('RANDOMKEY')];
    if (mine === null || redis7 === null) {
      assert.equal(mine, redis7, 'RANDOMKEY: nil on both or on neither');
      return;
    }
    assert.equal(await theirs.call('EXISTS', (mine as Buffer).toString('latin1')), 1, label);
    assert.equal(await ours.call('EXISTS', (redis7 as Buffer).toString('latin1')), 1, label);
  } else if (args[0] === 'CLIENT') {
    assert.equal(dbField(await ours.call(...args)), dbField(await theirs.call(...args)), label);
  } else {
    await sameReply(ours, theirs, args);
  }
}

/** INFO keyspace's lines of databases (`dbN:keys=..`), as both servers write them. */
async function keyspaceLines(client: RawClient): Promise<string[]> {
  const reply = await client.call('INFO', 'keyspace');
  return (
    String((reply as Buffer).toString('latin1'))
      .split('\r\n')
      .filter((line) => line.startsWith('db'))
      // Redis's avg_ttl is an estimate its expiry cycle refines; Tandem's is exact.
      .map((line) => line.replace(/,avg_ttl=\d+$/, ''))
  );
}

/** The content of databases 0 to 3 and INFO keyspace agree on both servers. */
async function sameDatabases(ours: RawClient, theirs: RawClient): Promise<void> {
  for (const n of dbs) {
    await sameReply(ours, theirs, ['SELECT', n]);
    await sameRead(ours, theirs, ['KEYS', '*']);
    await sameReply(ours, theirs, ['DBSIZE']);
    for (const k of keys) {
      await sameReply(ours, theirs, ['TYPE', k]);
      const type = (await theirs.call('TYPE', k)) as { text: string };
      if (type.text === 'string') await sameReply(ours, theirs, ['GET', k]);
      if (type.text === 'hash') await sameReply(ours, theirs, ['HGETALL', k]);
      if (type.text === 'list') await sameReply(ours, theirs, ['LRANGE', k, '0', '-1']);
      if (type.text === 'zset') await sameReply(ours, theirs, ['ZRANGE', k, '0', '-1']);
      const ttl = [await ours.call('TTL', k), await theirs.call('TTL', k)];
      assert.equal(Number(ttl[0]) > 0, Number(ttl[1]) > 0, `TTL ${k} in ${n}`);
    }
  }
  assert.deepEqual(await keyspaceLines(ours), await keyspaceLines(theirs), 'INFO keyspace');
}

for (const store of ['sqlite', 'postgres'] as const) {
  describe(`the sixteen databases on ${store}, beside redis-server`, { timeout: 300_000 }, () => {
    const ports = redisBesideTandem([], store);

    test(
      'random streams of database commands give the same replies',
      { skip: redisSkip },
      async (t) => {
        // Goal: SELECT, MOVE, COPY ... DB, SWAPDB, FLUSHDB and the whole-keyspace reads answer
        // as Redis 7.0 answers them, error texts included, in and out of MULTI (where a queued
        // SELECT changes the database of the commands queued after it), and every database
        // holds what Redis's holds afterwards. A failing stream shrinks to a short one.
        const counted = new CommandCount();
        const ours = await RawClient.open(ports().tandem);
        const theirs = await RawClient.open(ports().redis);
        // Another connection, which writes a watched key in a database of its own.
        const others = [await RawClient.open(ports().tandem), await RawClient.open(ports().redis)];
        try {
          await fc.assert(
            fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 20 }), async (steps) => {
              counted.add(steps.length);
              for (const client of [ours, theirs]) {
                await client.call('FLUSHALL');
                await client.call('SELECT', '0');
              }
              for (const s of steps) {
                if (s.kind === 'command') await sameReply(ours, theirs, s.args);
                else if (s.kind === 'read') await sameRead(ours, theirs, s.args);
                else {
                  if (s.watch !== null) {
                    // The other client's write aborts EXEC only in the watched key's database.
                    await sameReply(ours, theirs, ['WATCH', s.watch.key]);
                    for (const other of others) {
                      await other.call('SELECT', s.watch.otherDb);
                      await other.call('SET', s.watch.key, 'other');
                    }
                  }
                  await sameReply(ours, theirs, ['MULTI']);
                  for (const args of s.queued) await sameReply(ours, theirs, args);
                  await sameReply(ours, theirs, [s.end]);
                }
                await sameRead(ours, theirs, ['CLIENT', 'INFO']);
              }
              await sameDatabases(ours, theirs);
            }),
            { numRuns: differentialRuns(60, 10), ...seedOption },
          );
        } finally {
          counted.report(t);
          ours.close();
          theirs.close();
          for (const other of others) other.close();
        }
      },
    );

    test(
      'commands pipelined behind an EXEC name the keys of the database it selected',
      { skip: redisSkip },
      async () => {
        // Goal: a SELECT inside MULTI holds for the commands sent right after EXEC in the
        // same write, and not when a watched key aborted the transaction.
        const ours = await RawClient.open(ports().tandem);
        const theirs = await RawClient.open(ports().redis);
        const others = [await RawClient.open(ports().tandem), await RawClient.open(ports().redis)];
        try {
          for (const abort of [false, true]) {
            const script = [['FLUSHALL'], ['SELECT', '0'], ['WATCH', 'w']];
            for (const client of [ours, theirs]) await client.pipeline(script);
            if (abort) for (const other of others) await other.call('SET', 'w', 'changed');
            const pipelined = [
              ['MULTI'],
              ['SELECT', '2'],
              ['SET', 'a', 'in2'],
              ['EXEC'],
              ['SET', 'b', 'after'],
              ['GET', 'a'],
              ['CLIENT', 'INFO'],
              ['SELECT', '0'],
              ['GET', 'b'],
            ];
            const [mine, redis7] = [
              await ours.pipeline(pipelined),
              await theirs.pipeline(pipelined),
            ];
            const shown = (replies: unknown[]): unknown[] =>
              replies.map((reply, i) =>
                pipelined[i]?.[0] === 'CLIENT' ? dbField(reply) : comparable(reply),
              );
            assert.deepEqual(shown(mine), shown(redis7), `aborted: ${abort}`);
          }
        } finally {
          ours.close();
          theirs.close();
          for (const other of others) other.close();
        }
      },
    );

    test(
      'RESET goes back to database 0 and HELLO keeps the database',
      { skip: redisSkip },
      async () => {
        // Goal: a connection's database as Redis 7.0 keeps it across HELLO, AUTH and RESET.
        const ours = await RawClient.open(ports().tandem);
        const theirs = await RawClient.open(ports().redis);
        try {
          for (const args of [
            ['SELECT', '5'],
            ['SET', 'kept', 'in5'],
            ['HELLO', '2'],
            ['GET', 'kept'],
            ['RESET'],
            ['GET', 'kept'],
            ['SELECT', '5'],
            ['GET', 'kept'],
            ['DEL', 'kept'],
          ]) {
            if (args[0] === 'HELLO') {
              await ours.call(...args);
              await theirs.call(...args);
            } else {
              await sameReply(ours, theirs, args);
            }
            await sameRead(ours, theirs, ['CLIENT', 'INFO']);
          }
        } finally {
          ours.close();
          theirs.close();
        }
      },
    );

    test('a key with the reserved prefix is refused in every database', async () => {
      // Goal: the one difference from Redis: keys beginning with 0xFF 0x00 "db" are the
      // stored form of databases 1 to 15, so a client may name them in no database, and
      // what it stores in database 1 is not reachable from database 0 by that name.
      const client = new Redis({
        port: ports().tandem,
        lazyConnect: true,
        maxRetriesPerRequest: 0,
      });
      await client.connect();
      try {
        await client.flushall();
        const reserved = Buffer.from([0xff, 0x00, 0x64, 0x62, 0x01, 0x3a, 0x78]);
        for (const n of [0, 1, 15]) {
          await client.select(n);
          await assert.rejects(client.set(reserved, 'v'), /ERR keys beginning with/);
          await assert.rejects(client.get(reserved), /ERR keys beginning with/);
        }
        await client.select(1);
        await client.set('x', 'in1');
        await client.select(0);
        assert.equal(await client.get('x'), null, 'database 1 keys are not database 0 keys');
        assert.deepEqual(await client.keys('*'), [], 'nor listed there');
        await client.select(1);
        assert.deepEqual(await client.keys('*'), ['x']);
        await client.del('x');
      } finally {
        client.disconnect();
      }
    });
  });
}
