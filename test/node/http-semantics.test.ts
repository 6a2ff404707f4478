// The HTTP API's promises over a real three-node cluster of `tandem start` processes:
// conditional requests decided at apply on the leader and through a follower.
import { after, before, describe, test } from 'node:test';
import { TestCluster } from './cluster.js';
import { checkConditionalRequests } from './conditions.js';

describe('the HTTP API of a three-node cluster', { timeout: 240_000 }, () => {
  let cluster: TestCluster;
  let leader: string;
  let follower: string;

  before(async () => {
    cluster = await TestCluster.create({ nodes: 3 });
    cluster.startAll();
    leader = await cluster.leader();
    follower = cluster.nodes.map((node) => node.id).find((id) => id !== leader) as string;
  });

  after(async () => {
    await cluster.destroy();
  });

  test('conditional requests are decided at apply, on the leader and through a follower', async () => {
    // Goal: DELETE If-Match and PUT If-None-Match answer 412 and change nothing when their
    // condition fails, GET If-None-Match answers 304, and every conditional header a route
    // does not honour is refused with 400: the same through the leader and a follower.
    await checkConditionalRequests(cluster.url(leader), 'on-leader');
    await checkConditionalRequests(cluster.url(follower), 'via-follower');
  });
});
