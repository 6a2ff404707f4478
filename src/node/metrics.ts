import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CoreStatus } from '../core/core.js';
import type { NodeId } from '../core/types.js';
import type { PeerState, TransportStats } from '../transport/contract.js';

const roles = ['follower', 'pre-candidate', 'candidate', 'leader'] as const;

/** A node's Prometheus metrics, in a registry of its own (several nodes may share a process). */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly role: Gauge;
  readonly term: Gauge;
  readonly commitIndex: Gauge;
  readonly appliedIndex: Gauge;
  readonly lastIndex: Gauge;
  readonly followerLagEntries: Gauge;
  readonly followerLagMs: Gauge;
  readonly elections: Counter;
  readonly writes: Counter;
  readonly appliedEntries: Counter;
  readonly droppedPeerMessages: Counter;
  readonly readies: Counter;
  readonly loggedEntries: Counter;
  readonly peerFramesSent: Counter;
  readonly peerBytesSent: Counter;
  readonly peerEntriesSent: Counter;
  readonly chainPosition: Gauge;
  readonly chainDownstreamLag: Gauge;
  readonly peerSocketWrites: Counter;
  readonly fsyncSeconds: Histogram;
  readonly applySeconds: Histogram;
  readonly snapshotIndex: Gauge;
  readonly snapshotsTaken: Counter;
  readonly snapshotSeconds: Histogram;
  readonly snapshotBytes: Gauge;
  readonly snapshotsInstalled: Counter;
  readonly snapshotStreams: Counter;
  readonly snapshotBytesSent: Counter;
  readonly snapshotStreamsActive: Gauge;

  constructor(nodeId: NodeId) {
    this.registry.setDefaultLabels({ node: nodeId });
    const registers = [this.registry];
    this.role = new Gauge({
      name: 'tandem_role',
      help: '1 for the role this node has',
      labelNames: ['role'],
      registers,
    });
    this.term = new Gauge({ name: 'tandem_term', help: 'Current term', registers });
    this.commitIndex = new Gauge({ name: 'tandem_commit_index', help: 'Commit index', registers });
    this.appliedIndex = new Gauge({
      name: 'tandem_applied_index',
      help: 'Applied index',
      registers,
    });
    this.lastIndex = new Gauge({ name: 'tandem_last_index', help: 'Last log index', registers });
    this.followerLagEntries = new Gauge({
      name: 'tandem_follower_lag_entries',
      help: "Entries a follower's log trails the leader's by (on the leader)",
      labelNames: ['follower'],
      registers,
    });
    this.followerLagMs = new Gauge({
      name: 'tandem_follower_last_contact_ms',
      help: 'Milliseconds since the leader last heard from a follower',
      labelNames: ['follower'],
      registers,
    });
    this.elections = new Counter({
      name: 'tandem_elections_total',
      help: 'Campaigns started',
      registers,
    });
    this.writes = new Counter({
      name: 'tandem_writes_total',
      help: 'Writes proposed here, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.droppedPeerMessages = new Counter({
      name: 'tandem_dropped_peer_messages_total',
      help: 'Peer messages dropped as impossible: malformed, forged sender, or stating what the sender cannot know',
      registers,
    });
    this.appliedEntries = new Counter({
      name: 'tandem_applied_entries_total',
      help: 'Entries applied to the state machine',
      registers,
    });
    this.readies = new Counter({
      name: 'tandem_readies_total',
      help: 'Readies taken from the core (each a batch of log writes, messages and applies)',
      registers,
    });
    this.loggedEntries = new Counter({
      name: 'tandem_log_entries_written_total',
      help: "Entries written to this node's log",
      registers,
    });
    this.peerFramesSent = new Counter({
      name: 'tandem_peer_frames_sent_total',
      help: 'Frames sent to peers',
      registers,
    });
    this.peerBytesSent = new Counter({
      name: 'tandem_peer_bytes_sent_total',
      help: 'Bytes of the frames sent to each peer',
      labelNames: ['peer'],
      registers,
    });
    this.peerEntriesSent = new Counter({
      name: 'tandem_peer_entries_sent_total',
      help: 'Log entries sent to each peer in appends (its own, or relayed in a chain)',
      labelNames: ['peer'],
      registers,
    });
    this.chainPosition = new Gauge({
      name: 'tandem_chain_position',
      help: "Leader: each member's place in the chain (1 is the head; 0 when fed directly or in a star)",
      labelNames: ['member'],
      registers,
    });
    this.chainDownstreamLag = new Gauge({
      name: 'tandem_chain_relay_lag_entries',
      help: 'Relay in a chain: entries each member it feeds trails what this node may pass on',
      labelNames: ['member'],
      registers,
    });
    this.peerSocketWrites = new Counter({
      name: 'tandem_peer_socket_writes_total',
      help: 'Socket writes to peers (each carries a batch of frames to one peer)',
      registers,
    });
    const buckets = [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1];
    this.fsyncSeconds = new Histogram({
      name: 'tandem_fsync_seconds',
      help: 'Time to make one Ready durable (group-committed fdatasync)',
      buckets,
      registers,
    });
    this.applySeconds = new Histogram({
      name: 'tandem_apply_seconds',
      help: 'Time to apply one batch of committed entries',
      buckets,
      registers,
    });
    this.snapshotIndex = new Gauge({
      name: 'tandem_snapshot_index',
      help: 'Index of the latest snapshot: the log before it is compacted',
      registers,
    });
    this.snapshotsTaken = new Counter({
      name: 'tandem_snapshots_taken_total',
      help: 'Snapshots this node took of its state machine (each compacts its log)',
      registers,
    });
    this.snapshotSeconds = new Histogram({
      name: 'tandem_snapshot_seconds',
      help: 'Time to take one snapshot: the image and its files, fsynced',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.snapshotBytes = new Gauge({
      name: 'tandem_snapshot_bytes',
      help: 'Size of the latest snapshot this node took or installed',
      registers,
    });
    this.snapshotsInstalled = new Counter({
      name: 'tandem_snapshots_installed_total',
      help: 'Snapshots installed from the leader (a follower behind the compacted log catching up)',
      registers,
    });
    this.snapshotStreams = new Counter({
      name: 'tandem_snapshot_streams_total',
      help: 'Snapshot streams to followers behind the compacted log, by outcome (sent, failed)',
      labelNames: ['outcome'],
      registers,
    });
    this.snapshotBytesSent = new Counter({
      name: 'tandem_snapshot_bytes_sent_total',
      help: 'Bytes of snapshots streamed to followers',
      registers,
    });
    this.snapshotStreamsActive = new Gauge({
      name: 'tandem_snapshot_streams_active',
      help: 'Snapshot streams to followers in progress now',
      registers,
    });
  }

  /** Sets the gauges from the core's status (called when metrics are scraped). */
  observeStatus(status: CoreStatus, tickMs: number): void {
    for (const role of roles) this.role.set({ role }, role === status.role ? 1 : 0);
    this.term.set(status.term);
    this.commitIndex.set(status.commit);
    this.appliedIndex.set(status.applied);
    this.lastIndex.set(status.lastIndex);
    this.snapshotIndex.set(status.firstIndex - 1);
    this.followerLagEntries.reset();
    this.followerLagMs.reset();
    this.chainPosition.reset();
    this.chainDownstreamLag.reset();
    for (const follower of status.followers) {
      this.followerLagEntries.set({ follower: follower.id }, status.lastIndex - follower.match);
      this.followerLagMs.set({ follower: follower.id }, follower.ticksSinceHeard * tickMs);
      this.chainPosition.set({ member: follower.id }, status.chain.indexOf(follower.id) + 1);
    }
    for (const member of status.downstream) {
      this.chainDownstreamLag.set(
        { member: member.id },
        Math.max(0, status.leaderMatch - member.match),
      );
    }
  }

  /** Sets the peer counters from the transport's own (called when metrics are scraped). */
  observeTransport(stats: TransportStats, peers: readonly PeerState[]): void {
    this.peerFramesSent.reset();
    this.peerFramesSent.inc(stats.framesSent);
    this.peerBytesSent.reset();
    for (const peer of peers) this.peerBytesSent.inc({ peer: peer.id }, peer.bytesSent);
    this.peerSocketWrites.reset();
    this.peerSocketWrites.inc(stats.socketWrites);
  }

  /** Sets the per-peer entry counters from the node's own counts. */
  observeEntriesSent(sent: ReadonlyMap<NodeId, number>): void {
    this.peerEntriesSent.reset();
    for (const [peer, entries] of sent) this.peerEntriesSent.inc({ peer }, entries);
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
