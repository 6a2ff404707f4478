// A follower's forwarded write, over real loopback sockets: a leader that refuses the
// connection was never sent the write (retry), a leader that drops an open connection may
// have applied it (unknown outcome), and the client is told which.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { Forwarder } from '../../src/api/resp/forward.js';
import type { ErrorReply } from '../../src/api/resp/reply.js';
import { errorReply } from '../../src/api/resp/session.js';
import type { Logger } from '../../src/transport/contract.js';
import { freePort } from '../node/cluster.js';

const quiet: Logger = { info() {}, warn() {}, error() {}, debug() {} };

/** The RESP error text a client gets for what the forward rejected with. */
async function replyText(sent: Promise<unknown>): Promise<string> {
  try {
    await sent;
  } catch (thrown) {
    return (errorReply(thrown, quiet) as ErrorReply).text;
  }
  assert.fail('the forward did not fail');
}

test('a write whose connection to the leader was refused answers TRYAGAIN', async () => {
  // Goal: nothing was sent, so the client is told to retry, not that the outcome is unknown.
  const port = await freePort(); // nothing listens there
  const forwarder = new Forwarder(quiet);
  try {
    const text = await replyText(
      forwarder.send({ address: `127.0.0.1:${port}`, tls: false }, 0, [
        'TANDEM.FORWARD',
        'SET',
        'k',
        'v',
      ]),
    );
    assert.match(text, /^TRYAGAIN /);
    assert.match(text, /not sent/);
  } finally {
    forwarder.close();
  }
});

test('a write on a connection the leader drops unanswered may or may not be applied', async (t) => {
  // Goal: once the write may have reached the leader, the answer says the outcome is unknown.
  const leader = createServer((socket) => socket.once('data', () => socket.destroy()));
  await new Promise<void>((resolve) => leader.listen(0, '127.0.0.1', resolve));
  t.after(() => leader.close());
  const address = leader.address();
  assert.ok(typeof address === 'object' && address !== null);
  const forwarder = new Forwarder(quiet);
  try {
    const text = await replyText(
      forwarder.send({ address: `127.0.0.1:${address.port}`, tls: false }, 0, [
        'TANDEM.FORWARD',
        'SET',
        'k',
        'v',
      ]),
    );
    assert.match(text, /^TANDEM_LEADERSHIP_LOST .*may or may not have been applied/);
  } finally {
    forwarder.close();
  }
});
