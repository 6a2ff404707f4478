// The node-to-node transport over real sockets on 127.0.0.1: delivery, order, reconnects,
// the authenticated handshake, TLS, limits, and bad frames that close one link only.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { encodePayload } from '../../src/transport/codec.js';
import { encodeFrame, FrameParser, frameHeaderBytes } from '../../src/transport/frame.js';
import {
  AcceptorHandshake,
  DialerHandshake,
  parseHandshakeMessage,
  type HandshakeIdentity,
  type HandshakeMessage,
  type HandshakeStep,
} from '../../src/transport/handshake.js';
import { PeerTransport } from '../../src/transport/transport.js';
import {
  RawAcceptor,
  RawPeer,
  connectAll,
  freePort,
  goodSecret,
  makeCertificates,
  opensslAvailable,
  sleep,
  startNode,
  waitFor,
  type TestNode,
} from './helpers.js';

/** Every node a test starts, closed after the suite even when a test fails midway. */
const started: TestNode[] = [];
async function node(...args: Parameters<typeof startNode>): Promise<TestNode> {
  const result = await startNode(...args);
  started.push(result);
  return result;
}
after(async () => {
  await Promise.all(started.map((each) => each.transport.close()));
});

/** A replication-like message whose bytes say which sender and sequence number it is. */
function message(from: string, to: string, seq: number) {
  const data = Buffer.alloc(16 + (seq % 7), `${from}>${to}#${seq};`);
  return { type: 'append', from, to, seq, entries: [{ index: seq, data: new Uint8Array(data) }] };
}

describe('frame parser', () => {
  const payloads = [Buffer.from('a'), Buffer.alloc(0), randomBytes(300), Buffer.from('last one')];
  const stream = Buffer.concat(payloads.map((payload) => encodeFrame(payload)));

  function parse(pieces: Buffer[]): Buffer[] {
    const parser = new FrameParser();
    const frames: Buffer[] = [];
    for (const piece of pieces) {
      parser.push(piece);
      for (let result = parser.next(1024); result !== null; result = parser.next(1024)) {
        assert.equal(result.status, 'frame', 'a well-formed stream never reads as corrupt');
        if (result.status === 'frame') frames.push(Buffer.from(result.payload));
      }
    }
    assert.equal(parser.bufferedBytes, 0, 'every byte is consumed');
    return frames;
  }

  test('whole, one byte at a time, and split at every position', () => {
    // Goal: the parser resumes across chunk boundaries wherever they fall.
    assert.deepEqual(parse([stream]), payloads);
    const bytes = [...stream].map((byte) => Buffer.from([byte]));
    assert.deepEqual(parse(bytes), payloads);
    for (let cut = 0; cut <= stream.length; cut++) {
      const frames = parse([stream.subarray(0, cut), stream.subarray(cut)]);
      assert.deepEqual(frames, payloads, `split at ${cut}`);
    }
  });

  test('refuses a bad CRC, and an oversized length from the header alone', () => {
    // Goal: corruption is reported, and a huge length is refused before its body arrives.
    const bad = encodeFrame(Buffer.from('hello'));
    bad[frameHeaderBytes] ^= 1;
    const parser = new FrameParser();
    parser.push(bad);
    assert.deepEqual(parser.next(1024), { status: 'corrupt', reason: 'frame CRC32C mismatch' });
    const huge = new FrameParser();
    const header = Buffer.alloc(frameHeaderBytes);
    header.writeUInt32BE(1025, 0);
    huge.push(header);
    assert.equal(huge.next(1024)?.status, 'corrupt');
    assert.equal(huge.next(1 << 20)?.status, 'corrupt', 'a corrupt stream stays corrupt');
  });
});

/** The message a handshake step sends; fails unless the step is a plain send. */
function sent(step: HandshakeStep): HandshakeMessage {
  assert.equal(step.kind, 'send');
  return (step as HandshakeStep & { kind: 'send' }).message;
}

describe('handshake machines', () => {
  const identity = (nodeId: string, secret = goodSecret): HandshakeIdentity => ({
    clusterId: 'cluster-1',
    nodeId,
    secret,
    advertisement: {
      peer: { host: '127.0.0.1', port: 7000 },
      httpUrl: `http://${nodeId}`,
      resp: null,
    },
  });

  test('two nodes with the secret authenticate each other and swap advertisements', () => {
    // Goal: the four messages lead both sides to "done" with the other's id and advertisement.
    const dialer = new DialerHandshake(identity('a'), 'b');
    const acceptor = new AcceptorHandshake(identity('b'));
    const challenge = acceptor.receive(dialer.hello());
    const proof = dialer.receive(sent(challenge));
    const welcome = acceptor.receive(sent(proof));
    assert.ok(welcome.kind === 'done' && welcome.peerId === 'a');
    assert.equal(welcome.advertisement.httpUrl, 'http://a');
    assert.ok(welcome.message !== null);
    const done = dialer.receive(welcome.message);
    assert.ok(done.kind === 'done' && done.peerId === 'b');
    assert.equal(done.advertisement.httpUrl, 'http://b');
  });

  test('an impostor of the receiver, another node than expected, a forged proof are refused', () => {
    // Goal: each check of the handshake refuses what it exists to refuse.
    const acceptor = new AcceptorHandshake(identity('b'));
    const ownId = acceptor.receive(new DialerHandshake(identity('b'), 'b').hello());
    assert.ok(ownId.kind === 'refuse' && /own id/.test(ownId.reason));

    const dialer = new DialerHandshake(identity('a'), 'c');
    const challenge = new AcceptorHandshake(identity('b')).receive(dialer.hello());
    const wrongNode = dialer.receive(sent(challenge));
    assert.ok(wrongNode.kind === 'refuse' && /expected node c/.test(wrongNode.reason));

    const honest = new AcceptorHandshake(identity('b'));
    const hello = new DialerHandshake(identity('a'), 'b').hello();
    assert.equal(honest.receive(hello).kind, 'send');
    const forged = honest.receive({
      type: 'proof',
      proof: randomBytes(32),
      advertisement: identity('a').advertisement,
    });
    assert.ok(forged.kind === 'refuse' && /wrong dialer proof/.test(forged.reason));
  });
});

describe('peer transport', () => {
  test('three nodes exchange messages both ways, bytes intact and in order', async () => {
    // Goal: every frame from every node reaches every other one, in send order, with its
    // Uint8Array fields byte for byte.
    const nodes = [await node('a'), await node('b'), await node('c')];
    connectAll(nodes);
    const perPair = 200;
    for (let seq = 0; seq < perPair; seq++) {
      for (const from of nodes) {
        for (const to of nodes) {
          if (to !== from)
            assert.equal(from.transport.send(to.id, message(from.id, to.id, seq)), true);
        }
      }
      if (seq % 50 === 0) await sleep(1); // Some batches while links are up, some before.
    }
    await waitFor('all messages', () => nodes.every((n) => n.received.length === 2 * perPair));
    for (const to of nodes) {
      for (const from of nodes.filter((other) => other !== to)) {
        const got = to.received.filter((each) => each.from === from.id).map((each) => each.payload);
        assert.equal(got.length, perPair);
        got.forEach((payload, seq) => {
          const expected = message(from.id, to.id, seq);
          const entry = (payload as typeof expected).entries[0];
          assert.ok(entry.data instanceof Uint8Array, 'binary fields arrive as bytes');
          assert.deepEqual(Buffer.from(entry.data), Buffer.from(expected.entries[0].data));
          assert.equal((payload as typeof expected).seq, seq, `${from.id}->${to.id} in order`);
        });
      }
    }
    const state = nodes[0].transport.peers().find((peer) => peer.id === 'b');
    assert.equal(state?.connected, true);
    assert.equal(state?.framesSent, perPair);
    assert.equal(state?.framesReceived, perPair);
  });

  test('frames queued for a peer that is not up yet arrive once it starts', async () => {
    // Goal: the sender keeps redialing with backoff and delivers its queue, in order.
    const port = await freePort();
    const a = await node('a', { peers: new Map([['late', { host: '127.0.0.1', port }]]) });
    for (let seq = 0; seq < 5; seq++) assert.equal(a.transport.send('late', { seq }), true);
    await sleep(150); // Several failed dials.
    assert.equal(a.transport.peers()[0].queuedFrames, 5);
    assert.equal(a.transport.peers()[0].connected, false);
    const late = await node('late', { listen: { host: '127.0.0.1', port } });
    await waitFor('queued frames', () => late.received.length === 5);
    assert.deepEqual(
      late.received.map((each) => each.payload),
      [0, 1, 2, 3, 4].map((seq) => ({ seq })),
    );
    assert.equal(a.transport.peers()[0].queuedFrames, 0);
    // The peer restarts on the same port: the link is redialed and frames flow again.
    await late.transport.close();
    await waitFor('the link to drop', () => !a.transport.peers()[0].connected);
    assert.equal(a.transport.send('late', { seq: 5 }), true);
    const again = await node('late', { listen: { host: '127.0.0.1', port } });
    await waitFor('the frame after the restart', () => again.received.length === 1);
    assert.deepEqual(again.received[0].payload, { seq: 5 });
  });

  test('a peer that dials in while its redials back off is dialed back at once', async () => {
    // Goal: a restarted node hears its peers as soon as it is up, not when their backoff,
    // grown while it was away, runs out (up to reconnectDelayMsMax).
    const port = await freePort();
    const slow = { reconnectDelayMsMin: 4000, reconnectDelayMsMax: 8000 };
    const a = await node('a', {
      peers: new Map([['late', { host: '127.0.0.1', port }]]),
      limits: slow,
    });
    await sleep(100); // The first dial fails; the next waits 2 to 4 s.
    assert.equal(a.transport.peers()[0].connected, false);
    const late = await node('late', {
      listen: { host: '127.0.0.1', port },
      peers: new Map([['a', a.transport.address]]),
    });
    const started = Date.now();
    await waitFor('the link back', () => a.transport.peers()[0].connected, 1500);
    assert.ok(Date.now() - started < 1500);
    assert.equal(a.transport.send('late', { seq: 1 }), true);
    await waitFor('the frame', () => late.received.length === 1);
  });

  for (const [what, overrides, pattern] of [
    ['a wrong secret', { clusterSecret: 'not the secret' }, /wrong acceptor proof/],
    ['a wrong cluster id', { clusterId: 'cluster-2' }, /wrong cluster id/],
  ] as const) {
    test(`a node with ${what} is refused both ways while good peers keep working`, async () => {
      // Goal: no frame crosses between the intruder and the cluster in either direction,
      // both sides say why, no log holds a secret, and the good link is unaffected.
      const a = await node('a');
      const b = await node('b');
      const intruder = await node('x', overrides);
      connectAll([a, b]);
      a.transport.setPeer('x', intruder.transport.address);
      intruder.transport.setPeer('a', a.transport.address);
      await waitFor('refusals on both sides', () => {
        return a.logger.warnings(pattern).length > 0 && intruder.logger.warnings(/./).length > 0;
      });
      for (let seq = 0; seq < 10; seq++) {
        a.transport.send('x', { seq });
        intruder.transport.send('a', { seq });
        a.transport.send('b', { seq });
      }
      await waitFor('the good peer', () => b.received.length === 10);
      await sleep(200); // Leave time for any wrongly accepted frame to arrive.
      assert.deepEqual(intruder.received, []);
      assert.deepEqual(a.received, []);
      assert.equal(a.transport.peers().find((peer) => peer.id === 'x')?.connected, false);
      assert.ok(a.transport.stats().linksFailed > 0);
      // a's warnings about its own dials name the address it dialed.
      const remotes = a.logger.warnings(/./).map((line) => line.object.remote);
      assert.ok(remotes.includes(`127.0.0.1:${intruder.transport.address.port}`));
      for (const logs of [a.logger.text(), intruder.logger.text()]) {
        assert.ok(!logs.includes(goodSecret) && !logs.includes('not the secret'));
      }
    });
  }

  test('a bad CRC, an oversized length, or an undecodable payload closes that link only', async () => {
    // Goal: each bad frame from an authenticated peer closes its link with a warning naming
    // the peer, and the transport goes on serving a good peer.
    const a = await node('a', { limits: { frameBytesMax: 64 * 1024 } });
    const b = await node('b');
    connectAll([a, b]);
    const badCrc = encodeFrame(encodePayload({ hello: 1 }));
    badCrc[badCrc.length - 1] ^= 0xff;
    const oversized = Buffer.alloc(frameHeaderBytes);
    oversized.writeUInt32BE(64 * 1024 + 1, 0);
    const undecodable = encodeFrame(Buffer.from([0xc1, 0xc1, 0xc1]));
    const cases = [
      ['bad CRC', badCrc, /CRC32C mismatch/],
      ['oversized', oversized, /exceeds the limit/],
      ['undecodable', undecodable, /undecodable payload/],
      ['garbage', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), /exceeds the limit/],
    ] as const;
    for (const [index, [what, bytes, pattern]] of cases.entries()) {
      const raw = await RawPeer.connect(a.transport.address);
      await raw.handshake('raw', 'a');
      raw.sendValue({ before: what });
      raw.socket.write(bytes);
      await raw.closed; // The oversized header is refused without waiting for a body.
      const warning = a.logger.warnings(pattern).at(-1);
      assert.ok(warning !== undefined, `${what}: warned`);
      assert.equal(warning.object.peer, 'raw', `${what}: the warning names the peer`);
      assert.equal(a.received.filter((each) => each.from === 'raw').length, index + 1);
      assert.equal(b.transport.send('a', { after: what }), true);
      await waitFor(`${what}: the good peer`, () =>
        a.received.some((each) => {
          return (each.payload as { after?: string }).after === what;
        }),
      );
    }
  });

  test('garbage before the handshake, and silence, close the connection', async () => {
    // Goal: an unauthenticated connection cannot send anything but a handshake, nor linger.
    const a = await node('a', { limits: { handshakeTimeoutMs: 200 } });
    const garbage = await RawPeer.connect(a.transport.address);
    garbage.sendValue({ type: 'data', not: 'a handshake' });
    await garbage.closed;
    assert.equal(a.logger.warnings(/bad handshake/).length, 1);
    const silent = await RawPeer.connect(a.transport.address);
    const startedAt = Date.now();
    await silent.closed;
    assert.ok(Date.now() - startedAt >= 150, 'closed by the handshake timeout');
    assert.equal(a.logger.warnings(/handshake not finished within 200 ms/).length, 1);
    assert.deepEqual(a.received, []);
  });

  test('frames sent in one turn of the event loop leave in one socket write', async () => {
    // Goal: writes coalesce: a burst of frames to a peer costs one write system call.
    const a = await node('a');
    const b = await node('b');
    connectAll([a, b]);
    await waitFor('the link', () => a.transport.peers()[0].connected);
    const prototype = net.Socket.prototype as unknown as Record<string, unknown>;
    const writes: number[] = []; // Chunks per call of the socket's low-level write.
    const original = { _write: prototype._write, _writev: prototype._writev } as const;
    // Only a's link to b counts: other tests' nodes may still be redialing meanwhile.
    const toB = (socket: unknown) => (socket as net.Socket).remotePort === b.transport.address.port;
    prototype._write = function (this: unknown, ...args: unknown[]) {
      if (toB(this)) writes.push(1);
      return (original._write as (...a: unknown[]) => unknown).apply(this, args);
    };
    prototype._writev = function (this: unknown, chunks: unknown[], ...rest: unknown[]) {
      if (toB(this)) writes.push(chunks.length);
      return (original._writev as (...a: unknown[]) => unknown).call(this, chunks, ...rest);
    };
    try {
      for (let seq = 0; seq < 100; seq++) a.transport.send('b', message('a', 'b', seq));
      await waitFor('the burst', () => b.received.length === 100);
    } finally {
      Object.assign(prototype, original);
    }
    assert.deepEqual(writes, [100]);
  });

  test('flush() writes the queued frames at once, in one write per peer', async () => {
    // Goal: a leader's appends need not wait for the next turn of the event loop: after
    // flush() they have left, together, before send()'s caller returns to the loop.
    const a = await node('a');
    const b = await node('b');
    connectAll([a, b]);
    await waitFor('the link', () => a.transport.peers()[0].connected);
    const sentBefore = a.transport.stats().framesSent;
    for (let seq = 0; seq < 10; seq++) a.transport.send('b', message('a', 'b', seq));
    assert.equal(a.transport.stats().framesSent, sentBefore, 'queued until the next turn');
    a.transport.flush();
    assert.equal(a.transport.stats().framesSent, sentBefore + 10, 'written by flush()');
    a.transport.flush();
    await waitFor('the frames', () => b.received.length === 10);
    assert.deepEqual(
      b.received.map((frame) => (frame.payload as { seq: number }).seq),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
  });

  test('a peer that stops reading makes frames wait in the queue, not in the socket', async () => {
    // Goal: backpressure: once the socket's buffer is full the transport stops writing and
    // holds frames in its bounded queue until 'drain', then delivers them all in order.
    const slow = await RawAcceptor.listen('slow');
    const a = await node('a', { peers: new Map([['slow', slow.address]]) });
    await waitFor('the link', () => a.transport.peers()[0].connected);
    slow.pause();
    const frames = 40;
    for (let seq = 0; seq < frames; seq++) {
      assert.equal(a.transport.send('slow', { seq, data: new Uint8Array(512 * 1024) }), true);
      await new Promise((resolve) => setImmediate(resolve)); // One batch per frame.
    }
    await sleep(100);
    const held = a.transport.peers()[0];
    assert.ok(held.queuedFrames > 0, 'frames wait in the queue');
    assert.equal(held.framesSent + held.queuedFrames, frames);
    slow.resume();
    await waitFor('every frame', () => slow.received.length === frames, 10_000);
    assert.deepEqual(
      slow.received.map((each) => (each as { seq: number }).seq),
      [...Array(frames).keys()],
    );
    await slow.close();
  });

  test('a full send queue makes send() return false and counts the drop', async () => {
    // Goal: the frame and byte limits hold, refused frames are counted, queued ones kept.
    const port = await freePort();
    const a = await node('a', {
      peers: new Map([['down', { host: '127.0.0.1', port }]]),
      limits: { sendQueueFramesMax: 3, sendQueueBytesMax: 1000, frameBytesMax: 800 },
    });
    assert.equal(a.transport.send('down', 1), true);
    assert.equal(a.transport.send('down', 2), true);
    assert.equal(a.transport.send('down', 3), true);
    assert.equal(a.transport.send('down', 4), false, 'frame limit');
    const b = await node('b', {
      peers: new Map([['down', { host: '127.0.0.1', port }]]),
      limits: { sendQueueBytesMax: 1000, frameBytesMax: 800 },
    });
    assert.equal(b.transport.send('down', new Uint8Array(700)), true);
    assert.equal(b.transport.send('down', new Uint8Array(700)), false, 'byte limit');
    assert.equal(b.transport.send('down', new Uint8Array(900)), false, 'frame size limit');
    assert.equal(b.transport.send('nobody', 1), false, 'unknown peer');
    assert.deepEqual(
      [a.transport.peers()[0].queuedFrames, a.transport.peers()[0].framesDropped],
      [3, 1],
    );
    assert.deepEqual(
      [b.transport.stats().framesDropped, b.transport.stats().framesDroppedNoAddress],
      [3, 1],
    );
    assert.equal(a.logger.warnings(/send queue full/).length, 1);
  });

  test('onPeer reports what a peer advertised, and the address is learnt from it', async () => {
    // Goal: a node that only dials in is learnt: its advertisement is reported and frames
    // can be sent back to it without anyone calling setPeer.
    const a = await node('a');
    const joiner = await node('joiner', {
      peers: new Map([['a', { host: '127.0.0.1', port: 1 }]]),
    });
    const seen: [string, unknown][] = [];
    a.transport.onPeer((id, advertisement) => seen.push([id, advertisement]));
    joiner.transport.setPeer('a', a.transport.address);
    await waitFor('the handshake', () => seen.length > 0);
    assert.deepEqual(seen[0], [
      'joiner',
      {
        peer: joiner.transport.address,
        httpUrl: 'http://127.0.0.1/joiner',
        resp: '127.0.0.1:636',
        respTls: null,
      },
    ]);
    assert.equal(a.transport.send('joiner', { welcome: true }), true);
    await waitFor('the frame back', () => joiner.received.length === 1);
    assert.deepEqual(joiner.received[0], { from: 'a', payload: { welcome: true } });
  });

  test('a 1 MiB payload split over many TCP chunks arrives whole', async () => {
    // Goal: a frame far larger than a chunk is reassembled byte for byte.
    const a = await node('a');
    const raw = await RawPeer.connect(a.transport.address);
    await raw.handshake('raw', 'a');
    const data = randomBytes(1024 * 1024);
    await raw.sendInPieces(encodeFrame(encodePayload({ data })), 4096);
    const b = await node('b');
    connectAll([a, b]);
    b.transport.send('a', { data });
    await waitFor('both copies', () => a.received.length === 2);
    for (const each of a.received) {
      const got = (each.payload as { data: Uint8Array }).data;
      const digest = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
      assert.equal(digest(got), digest(data), `from ${each.from}`);
    }
  });

  test('close() leaves no timer, socket or server behind', async () => {
    // Goal: a closed transport lets the process exit: nothing of it stays scheduled.
    // The other tests' nodes are closed first: their redials would come and go meanwhile.
    await Promise.all(started.splice(0).map((each) => each.transport.close()));
    await sleep(20);
    const resources = () => process.getActiveResourcesInfo().filter((name) => name !== 'TTYWrap');
    const before = resources();
    const port = await freePort();
    const a = await PeerTransport.start({
      nodeId: 'a',
      clusterId: 'cluster-1',
      clusterSecret: goodSecret,
      listen: { host: '127.0.0.1', port: 0 },
      advertisement: { httpUrl: 'http://a', resp: null },
      peers: new Map([['down', { host: '127.0.0.1', port }]]),
      logger: { info() {}, warn() {}, error() {}, debug() {} },
    });
    a.send('down', { queued: true });
    const raw = await RawPeer.connect(a.address); // Mid-handshake at close.
    await a.close();
    await raw.closed;
    await sleep(20);
    assert.deepEqual(resources().sort(), before.sort());
    assert.equal(a.send('down', 1), false);
  });
});

describe(
  'peer transport over TLS',
  { skip: opensslAvailable() ? false : 'openssl not in PATH' },
  () => {
    test('nodes of one CA talk; a node with a certificate from another CA is refused', async () => {
      // Goal: mutual TLS carries frames between nodes of the cluster CA, and a certificate
      // from another CA gets nothing through, whichever side dials.
      const cluster = makeCertificates('cluster-ca', ['a', 'b']);
      const other = makeCertificates('other-ca', ['x']);
      const a = await node('a', { tls: cluster.get('a') });
      const b = await node('b', { tls: cluster.get('b') });
      // The intruder trusts the cluster CA, so only its own certificate gives it away.
      const intruderTls = { ...other.get('x')!, ca: cluster.get('a')!.ca };
      const x = await node('x', { tls: intruderTls });
      connectAll([a, b]);
      a.transport.setPeer('x', x.transport.address);
      x.transport.setPeer('a', a.transport.address);
      a.transport.send('b', { over: 'tls', data: new Uint8Array([1, 2, 3]) });
      b.transport.send('a', { over: 'tls' });
      a.transport.send('x', { leaked: true });
      x.transport.send('a', { leaked: true });
      await waitFor('TLS frames', () => a.received.length === 1 && b.received.length === 1);
      assert.deepEqual(
        Buffer.from((b.received[0].payload as { data: Uint8Array }).data),
        Buffer.from([1, 2, 3]),
      );
      // a refuses x's client certificate as acceptor, and x's server certificate as dialer.
      const intruderAddress = `127.0.0.1:${x.transport.address.port}`;
      await waitFor('refusals', () => {
        const dialed = a.logger.warnings(/unable to verify/).map((line) => line.object.remote);
        return a.logger.warnings(/TLS refused/).length > 0 && dialed.includes(intruderAddress);
      });
      await sleep(200);
      assert.deepEqual(x.received, []);
      assert.equal(a.received.length, 1);
      assert.equal(a.transport.peers().find((peer) => peer.id === 'x')?.connected, false);
    });
  },
);

test('an advertisement without respTls (an older node) parses as none; a bad one is refused', () => {
  // Goal: the RESP TLS endpoint is optional on the wire, and checked like every other field.
  const proof = new Uint8Array(32);
  const advertisement = {
    peer: { host: '127.0.0.1', port: 7001 },
    httpUrl: 'http://a',
    resp: null,
  };
  const parsed = parseHandshakeMessage({ type: 'proof', proof, advertisement });
  assert.ok(typeof parsed === 'object' && parsed.type === 'proof');
  assert.equal(parsed.advertisement.respTls, null);
  const withTls = parseHandshakeMessage({
    type: 'welcome',
    advertisement: { ...advertisement, respTls: '127.0.0.1:6390' },
  });
  assert.ok(typeof withTls === 'object' && withTls.type === 'welcome');
  assert.equal(withTls.advertisement.respTls, '127.0.0.1:6390');
  const bad = parseHandshakeMessage({
    type: 'welcome',
    advertisement: { ...advertisement, respTls: 6390 },
  });
  assert.equal(bad, 'welcome with a bad advertisement');
});
