//! The node service: one openraft instance over the durable log and core's state machine, and
//! the operations every front end calls (RESP and HTTP, and the simulator's clients through RESP).
//!
//! Writes follow DESIGN.md §2 (`write.rs`, batched by `proposer.rs`, and `forward.rs` on a
//! follower); reads follow §4
//! (`read.rs`, with leadership confirmations shared in `read_rounds.rs`). Membership changes are
//! in `membership.rs`, the cluster view in `status.rs`, elections with a pre-vote in
//! `election.rs`, background duties (expiry, time advance, snapshots at a size threshold,
//! metrics) in `duties.rs`, what the node answers its peers in `peer_service.rs`, and the users
//! it enforces in `users.rs`.
//!
//! Errors are sorted by what the caller does next ([`NodeError`](crate::error::NodeError)): a write refused before it was
//! proposed certainly did not happen; a write whose reply was lost (the node stopped, a timeout)
//! may have happened, and says so.

pub mod backup;
mod catch_up;
mod duties;
mod election;
mod forward;
mod forward_batch;
mod leader_contact;
pub mod membership;
pub mod options;
mod peer_service;
mod proposer;
mod read;
mod read_lease;
mod read_rounds;
pub mod status;
pub mod users;
mod write;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InitializeError, RaftError};
use openraft::{Config, Raft, ServerState, SnapshotPolicy};
use redraft_core::keyspace_event::NotifyFlags;
use redraft_core::{StateMachine, StateMachineConfig};
use tokio::sync::watch;
use tokio::time::Instant;

use self::forward_batch::ForwardBatches;
pub use self::options::{NodeOptions, StartError, CLUSTER_ID_DEFAULT};
use self::proposer::ProposalQueue;
use self::read_lease::ReadLease;
pub use self::read_lease::{safe_read_lease_ms, READ_LEASE_DRIFT_PPM};
use self::read_rounds::ReadRounds;
use crate::addr::NodeAddr;
use crate::change_feed::{ChangeFeed, ReplayHistory};
use crate::clock::{monotonic_now, Clock};
use crate::metrics::Metrics;
use crate::peer::pool::PeerPool;
use crate::peer::raft_network::PeerNetwork;
use crate::raft_types::TypeConfig;
use crate::storage::disk::Disk;
use crate::storage::log_store::{LogStore, NodeLog};
use crate::storage::segment_log::{OnDamage, RecoveryReport};
use crate::storage::state_machine_store::{SnapshotOpenError, StateMachineStore};

/// A running node.
pub struct Node {
    options: NodeOptions,
    raft: Raft<TypeConfig>,
    state: Arc<StateMachine>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// Invariant: never decreases; every stamp this node proposes is at least this.
    last_stamp_ms: AtomicU64,
    /// Clock reading of the newest proposal, for the time-advance idle check.
    last_proposal_ms: AtomicU64,
    stop: watch::Sender<bool>,
    recovery: RecoveryReport,
    /// The snapshot a peer is sending this node, so far.
    snapshot_chunks: crate::peer::snapshot_chunks::SnapshotChunks,
    /// The users this node enforces.
    users: self::users::UsersCache,
    /// The bytes allocated as of the node's last duty pass (`duties.rs`), for `maxmemory`; kept
    /// only while `maxmemory` is set.
    used_memory: AtomicU64,
    /// Connections to the other nodes, for Raft and for forwarding.
    peers: Arc<PeerPool>,
    /// Client ids for the sessions of forwarded writes: a random base per start, then a counter.
    session_base: u64,
    session_next: AtomicU64,
    /// Leadership confirmations shared by the linearizable reads waiting for them.
    read_rounds: Arc<ReadRounds>,
    /// On a follower: read-index requests to the leader shared by the reads waiting for one.
    follower_read_rounds: Arc<ReadRounds>,
    /// Where this node's log ends, for its pre-vote (`election.rs`), and its purges' removals, which
    /// a stopping node waits for.
    log: Arc<dyn NodeLog>,
    /// The leader's read lease, when `--read-lease` is on.
    read_lease: Arc<ReadLease>,
    /// When the node started: it holds votes for a while after ([`Node::hold_votes_after_start`]).
    started: Instant,
    /// Appends from the leader being handled, or handled lately, for the pre-vote.
    leader_contact: self::leader_contact::LeaderContact,
    /// Whether a node that joined with an empty log has caught up enough to vote.
    catch_up: self::catch_up::CatchUp,
    /// When the last snapshot was built or installed (Unix seconds), and the index of the one
    /// seen last, for LASTSAVE (`backup.rs`).
    last_save_unix: AtomicU64,
    last_snapshot_seen: AtomicU64,
    /// Whether a BGSAVE is running.
    background_save: std::sync::atomic::AtomicBool,
    /// Reads the snapshot file from the data directory, for a backup (`backup.rs`).
    read_snapshot: Box<dyn Fn() -> std::io::Result<crate::snapshot_data::SnapshotData> + Send + Sync>,
    /// Client writes waiting for the proposer to pack them into a batch entry.
    proposals: ProposalQueue,
    /// On a follower: client writes waiting to be forwarded to the leader together.
    forwards: Arc<ForwardBatches>,
    /// Held by a membership change on the leader, so changes never interleave.
    membership_lock: tokio::sync::Mutex<()>,
    /// The changes this node applied, for watchers.
    feed: Arc<ChangeFeed>,
}

impl Node {
    /// Opens the log and snapshot on `disk`, starts Raft, initialises a pristine single-node
    /// cluster, and starts the background duties.
    ///
    /// # Errors
    /// [`StartError`] when the log is corrupt (naming the file and offset), the snapshot cannot be
    /// read, or Raft refuses the configuration.
    pub async fn start<D: Disk + Clone>(
        options: NodeOptions,
        disk: D,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Node>, StartError> {
        let config = Config {
            cluster_name: "redraft".into(),
            heartbeat_interval: options.heartbeat_ms,
            election_timeout_min: options.election_timeout_ms_min,
            election_timeout_max: options.election_timeout_ms_max,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(options.snapshot_entry_count),
            max_in_snapshot_log_to_keep: options.snapshot_log_keep_count,
            install_snapshot_timeout: options.snapshot_install_timeout_ms,
            // Elections start from the node's duties, after a pre-vote ([`Node::stand_for_election`]).
            enable_elect: false,
            ..Config::default()
        };
        let config = Arc::new(config.validate().map_err(|e| StartError::Config(e.to_string()))?);
        let state = Arc::new(StateMachine::new(StateMachineConfig {
            shard_bits: options.shard_bits,
            hash_seed: options.hash_seed,
            ..StateMachineConfig::default()
        }));
        let marker_disk = disk.clone();
        let snapshot_disk = disk.clone();
        let read_snapshot =
            Box::new(move || snapshot_disk.open_snapshot(crate::storage::state_machine_store::SNAPSHOT_FILE));
        let feed = Arc::new(ChangeFeed::with_bounds(
            0,
            options.watch_history_changes,
            crate::change_feed::WATCH_HISTORY_BYTES_MAX,
        ));
        // A node with peers fetches what damage cost it from the leader; one alone has no one
        // to ask, and refuses to start as before, changing nothing, for an operator.
        let on_damage =
            if options.peers.is_empty() && !options.join { OnDamage::Refuse } else { OnDamage::KeepPrefix };
        let open_machine =
            || StateMachineStore::open(state.clone(), disk.clone(), metrics.clone(), feed.clone());
        let mut machine = match open_machine() {
            Ok(machine) => machine,
            Err(SnapshotOpenError::Damaged(problem)) if on_damage == OnDamage::KeepPrefix => {
                tracing::error!(
                    problem,
                    "the snapshot is damaged: removed it (and the log resting on it); this node does not \
                     vote until it has the state again from the leader"
                );
                metrics.snapshot_damage_recoveries.inc();
                // The marker first: a crash after the removal must not let the node vote.
                self::catch_up::write_marker(&marker_disk).await?;
                let snapshot = crate::storage::state_machine_store::SNAPSHOT_FILE;
                disk.remove(snapshot)
                    .map_err(|e| StartError::Snapshot(format!("removing {snapshot}: {e}")))?;
                open_machine().map_err(|e| StartError::Snapshot(e.to_string()))?
            }
            Err(error) => return Err(StartError::Snapshot(error.to_string())),
        };
        let (mut log, recovery) = LogStore::open(
            disk,
            options.fsync,
            options.segment_bytes_max,
            metrics.clone(),
            machine.snapshot_log_id(),
            state.clone(),
            on_damage,
        )
        .await?;
        if let Some(damage) = &recovery.meta_damage {
            tracing::error!(
                damage,
                "a copy of the log's metadata (the vote) is damaged; the other copy was used, and the next \
                 save rewrites both"
            );
            metrics.meta_damage_recoveries.inc();
        }
        let recovery = recovery.segments;
        if let Some((file, offset, dropped)) = &recovery.torn_tail {
            tracing::warn!(file, offset, dropped_bytes = dropped, "truncated a torn write at the log's tail");
        }
        if let Some(damage) = &recovery.damage {
            tracing::error!(
                file = damage.file,
                offset = damage.offset,
                problem = damage.problem,
                kept_through = damage.kept_through,
                segments_removed = damage.segments_removed,
                "the log is damaged: kept the entries before the damage and dropped the rest; this node \
                 does not vote until it has them again from the leader"
            );
            metrics.log_damage_recoveries.inc();
        }
        redraft_net::peer::check_cluster_id(&options.cluster_id).map_err(StartError::Config)?;
        let peers = Arc::new(PeerPool::new(options.peer_auth(), options.node_id));
        let network = PeerNetwork::new(peers.clone(), options.large_append_bytes);
        // openraft 0.9 restarts a node whose stored vote is its own committed leadership as the
        // leader of that same term, without an election. Such a leader answers ReadIndex with
        // the larger of its commit index (only what its state machine had applied before the
        // restart) and its term's first entry, so a read could miss writes acknowledged before
        // the restart; the cluster test also saw its replication stall at that commit index.
        // Storing the same vote uncommitted keeps the term and whom this node voted for (all
        // Raft's safety needs), and makes the node start as a follower: the next leader is
        // elected in a new term, whose first entry commits the whole log before any read.
        let stored_vote = openraft::storage::RaftLogStorage::read_vote(&mut log)
            .await
            .map_err(|e| StartError::Raft(format!("cannot read the stored vote: {e}")))?;
        if let Some(vote) =
            stored_vote.filter(|v| v.is_committed() && v.leader_id().voted_for() == Some(options.node_id))
        {
            let term = vote.leader_id().get_term();
            tracing::info!(term, "restarting as a follower rather than as the last leader");
            openraft::storage::RaftLogStorage::save_vote(
                &mut log,
                &openraft::Vote::new(term, options.node_id),
            )
            .await
            .map_err(|e| StartError::Raft(format!("cannot store the vote: {e}")))?;
        }
        // openraft replays the committed log into the state machine as it starts; of that, the
        // watch history keeps only the newest changes, so only those are recorded.
        let mut replay = ReplayHistory::new(options.watch_history_changes);
        log.count_replayed_writes(machine.snapshot_log_id(), |index, writes| replay.push(index, writes))
            .await
            .map_err(crate::storage::log_store::OpenError::Log)?;
        let history_from = replay.start();
        if let Some(first) = history_from {
            machine.record_history_from(first);
        }
        if replay.entries > 0 {
            let (entries, writes) = (replay.entries, replay.writes);
            tracing::info!(entries, writes, history_from, "replaying the committed log");
            state.map().expect_replay(Some(writes));
        }
        let node_log: Arc<dyn NodeLog> = Arc::new(log.clone());
        let raft = Raft::new(options.node_id, config, network, log, machine)
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        // openraft replayed the log in `Raft::new`.
        state.map().expect_replay(None);
        let pristine_join =
            options.join && !raft.is_initialized().await.map_err(|e| StartError::Raft(e.to_string()))?;
        // A damaged log, or a restart before an earlier catch-up finished, waits as a pristine
        // joiner does; the marker keeps that across restarts until it has caught up.
        let catching_up = pristine_join
            || recovery.damage.is_some()
            || crate::storage::catch_up_marker::catching_up(&marker_disk);
        if catching_up {
            self::catch_up::write_marker(&marker_disk).await?;
        }
        let clear_marker: Box<dyn Fn() + Send + Sync> = Box::new(move || {
            if let Err(error) = marker_disk.remove(crate::storage::catch_up_marker::CATCH_UP_MARKER) {
                tracing::warn!(%error, "could not remove the catch-up marker; the node will catch up again after a restart");
            }
        });
        if options.join {
            tracing::info!(node_id = options.node_id, "waiting to be added to a cluster by its leader");
        } else if raft.is_initialized().await.map_err(|e| StartError::Raft(e.to_string()))? {
            tracing::info!(node_id = options.node_id, "cluster already initialised; recovering");
        } else {
            let members = if options.peers.is_empty() {
                BTreeMap::from([(options.node_id, options.addr.clone())])
            } else {
                options.peers.clone()
            };
            let count = members.len();
            // Every node of a new cluster proposes the same membership; openraft accepts it once,
            // on a pristine log, and refuses it afterwards (a restart, or a cluster already formed).
            match raft.initialize(members).await {
                Ok(()) => {
                    tracing::info!(node_id = options.node_id, nodes = count, "initialised a new cluster")
                }
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                    tracing::info!(node_id = options.node_id, "cluster already initialised; recovering")
                }
                Err(error) => return Err(StartError::Raft(error.to_string())),
            }
        }
        let (stop, stopped) = watch::channel(false);
        let now_ms = clock.now_ms();
        let session_base = rand::Rng::gen(&mut crate::fault::rng());
        let (proposals, queue) = tokio::sync::mpsc::unbounded_channel();
        let write_timeout = Duration::from_millis(options.write_timeout_ms);
        let users = self::users::UsersCache::new(options.requirepass.clone());
        metrics.maxmemory_bytes.set(i64::try_from(options.maxmemory).unwrap_or(i64::MAX));
        let node = Arc::new(Node {
            proposals,
            forwards: Arc::default(),
            membership_lock: tokio::sync::Mutex::new(()),
            peers,
            session_base,
            session_next: AtomicU64::new(0),
            read_rounds: Arc::default(),
            follower_read_rounds: Arc::default(),
            log: node_log,
            read_lease: Arc::new(ReadLease::new(options.read_lease_ms)),
            started: monotonic_now(),
            leader_contact: Default::default(),
            catch_up: self::catch_up::CatchUp::new(catching_up, clear_marker),
            read_snapshot,
            last_save_unix: AtomicU64::new(now_ms / 1000),
            last_snapshot_seen: AtomicU64::new(0),
            background_save: Default::default(),
            last_stamp_ms: AtomicU64::new(state.time_ms()),
            last_proposal_ms: AtomicU64::new(now_ms),
            options,
            raft,
            state,
            clock,
            metrics,
            stop,
            recovery,
            snapshot_chunks: Default::default(),
            users,
            used_memory: AtomicU64::new(0),
            feed,
        });
        tokio::spawn(duties::duties(Arc::downgrade(&node), stopped));
        tokio::spawn(proposer::propose(Arc::downgrade(&node), queue, write_timeout));
        Ok(node)
    }

    /// The changes this node has applied, for watchers.
    pub fn changes(&self) -> &Arc<ChangeFeed> {
        &self.feed
    }

    /// Publishes the keyspace notifications `flags` asks for (`notify-keyspace-events`), from
    /// the next applied entry on.
    pub fn set_keyspace_events(&self, flags: NotifyFlags) {
        self.feed.set_keyspace_events(flags);
        self.state.record_keyspace_events(flags.publishes());
    }

    /// The node's id.
    pub fn id(&self) -> u64 {
        self.options.node_id
    }

    /// The options the node runs with.
    pub fn options(&self) -> &NodeOptions {
        &self.options
    }

    /// The state machine, for local reads after [`Node::linearize`].
    pub fn state(&self) -> &Arc<StateMachine> {
        &self.state
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The Raft handle (for status pages and tests; clients go through the node's methods).
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    /// What log recovery found at start-up.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The bytes the process has allocated, as of the last duty pass while `maxmemory` is set (0
    /// otherwise; the allocator's count, or the map's own in the simulator, which keeps the
    /// system allocator).
    pub fn used_memory(&self) -> u64 {
        self.used_memory.load(Ordering::Relaxed)
    }

    /// Whether commands that grow memory are refused: `maxmemory` is set and exceeded.
    pub fn out_of_memory(&self) -> bool {
        self.options.maxmemory != 0 && self.used_memory() > self.options.maxmemory
    }

    pub(crate) fn refresh_used_memory(&self) {
        let used =
            crate::allocator::allocated_bytes().unwrap_or_else(|| self.state.map().allocated_bytes() as u64);
        self.used_memory.store(used, Ordering::Relaxed);
    }

    /// The node's wall clock in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Whether the node is the leader and has applied everything it committed at its election,
    /// so it can serve (`/readyz`).
    pub fn is_ready(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader && self.raft_failure().is_none()
    }

    /// Why Raft's core is not running, if it is not: the fatal error it reported, or the end of
    /// its metrics without one, which is how a panic in the core or in the apply path (or a
    /// shutdown) shows. The last metrics it published still say it runs: they are not enough.
    pub fn raft_failure(&self) -> Option<String> {
        raft_failure(&self.raft.metrics())
    }

    /// Returns once Raft's core has stopped, with why ([`Node::raft_failure`]).
    ///
    /// Waits on openraft's server metrics, which change only with the role, the vote, the leader
    /// or the membership, and end when the core does. Its full metrics change with every append
    /// and apply: a task waiting on them woke (a thread switch, as it runs on the main thread)
    /// thousands of times a second under load, for nothing.
    pub async fn raft_stopped(&self) -> String {
        let mut server_metrics = self.raft.server_metrics();
        loop {
            if let Some(why) = self.raft_failure() {
                return why;
            }
            if server_metrics.changed().await.is_err() {
                return self.raft_failure().unwrap_or_else(|| "Raft's core has stopped".to_owned());
            }
        }
    }

    /// Whether this node is the leader right now.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    pub(crate) fn current_leader(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
    }

    /// Stops the background duties and Raft.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.raft.shutdown().await {
            tracing::warn!(%error, "Raft did not shut down cleanly");
        }
        self.log.removals_done().await;
    }

    pub(crate) fn next_stamp_ms(&self) -> u64 {
        let now_ms = self.clock.now_ms();
        self.last_proposal_ms.store(now_ms, Ordering::Relaxed);
        // Never below a stamp already applied or proposed: a leader with a slow clock must not
        // move the state-machine time backwards (DESIGN.md §3).
        let floor = self.state.time_ms();
        let candidate = now_ms.max(floor);
        let previous = self.last_stamp_ms.fetch_max(candidate, Ordering::AcqRel);
        candidate.max(previous)
    }

    /// The Raft address the membership gives node `id` (empty when it is not a member).
    pub(crate) fn raft_addr_of(&self, id: u64) -> String {
        self.leader_addr(Some(id)).map(|(_, addr)| addr.raft_addr).unwrap_or_default()
    }

    pub(crate) fn leader_addr(&self, leader: Option<u64>) -> Option<(u64, NodeAddr)> {
        let id = leader?;
        let metrics = self.raft.metrics().borrow().clone();
        let addr = metrics.membership_config.membership().get_node(&id).cloned().unwrap_or_default();
        Some((id, addr))
    }

    /// Waits until a leader is known, for at most `leader_wait_ms` and never past `deadline`.
    pub(crate) async fn wait_for_leader(&self, deadline: Instant) {
        let wait = Duration::from_millis(self.options.leader_wait_ms)
            .min(deadline.saturating_duration_since(monotonic_now()));
        let _ = self.raft.wait(Some(wait)).metrics(|m| m.current_leader.is_some(), "a leader is known").await;
    }
}

/// [`Node::raft_failure`] from Raft's metrics channel.
fn raft_failure(metrics: &watch::Receiver<openraft::RaftMetrics<u64, NodeAddr>>) -> Option<String> {
    if let Err(fatal) = &metrics.borrow().running_state {
        return Some(fatal.to_string());
    }
    metrics.has_changed().is_err().then(|| "Raft's core has stopped (a panic, or a shutdown)".to_owned())
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;

    /// A core that reported a fatal error has failed; so has one whose metrics ended while the
    /// last of them still said it ran, which is what a panic in the core or the apply path
    /// leaves (the `/healthz` of such a node once said ok).
    #[test]
    fn a_core_that_ended_without_a_word_has_failed() {
        let (sender, receiver) = watch::channel(openraft::RaftMetrics::<u64, NodeAddr>::new_initial(1));
        assert_eq!(raft_failure(&receiver), None);
        sender.send_modify(|m| m.running_state = Err(openraft::error::Fatal::Panicked));
        assert!(raft_failure(&receiver).is_some_and(|why| why.contains("panicked")));
        sender.send_modify(|m| m.running_state = Ok(()));
        assert_eq!(raft_failure(&receiver), None);
        drop(sender);
        assert!(raft_failure(&receiver).is_some_and(|why| why.contains("stopped")));
    }
}
