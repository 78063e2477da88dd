//! The node service: one openraft instance over the durable log and core's state machine, and
//! the operations every front end calls (RESP now; HTTP and the simulator's clients go through
//! the very same calls).
//!
//! Writes follow DESIGN.md §2: stamped with the leader's clock (never below the newest stamp seen,
//! §3), proposed, made durable, committed, applied, and only then answered. Reads follow §4: the
//! node confirms it is still the leader (openraft's `ensure_linearizable`, ReadIndex-style) and
//! waits until its state machine has applied the read index, then reads locally.
//!
//! Errors are sorted by what the caller does next ([`NodeError`]): a write refused before it was
//! proposed certainly did not happen; a write whose reply was lost (the node stopped, a timeout)
//! may have happened, and says so.
//!
//! Background duties (the `duties` task): keep metrics current; on the leader, propose active
//! expiry batches from the TTL heaps and time-advance entries while TTL keys exist and writes are
//! idle (§3); on every node, ask for a snapshot when the log passes a size threshold (openraft's
//! own policy covers the entry-count threshold).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ClientWriteError, InitializeError, RaftError};
use openraft::{Config, Raft, ServerState, SnapshotPolicy};
use redraft_core::limits::EXPIRE_BATCH_KEYS_MAX;
use redraft_core::{Command, LogEntry, Payload, Reply, StateMachine, StateMachineConfig};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::disk::Disk;
use crate::log::RecoveryReport;
use crate::metrics::Metrics;
use crate::network::NoPeers;
use crate::store::{FsyncPolicy, LogStore, NodeAddr, OpenError, StateMachineStore, TypeConfig};

/// How to run a node. [`NodeOptions::default`] is a single node with Raft timings for loopback.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub node_id: u64,
    pub addr: NodeAddr,
    pub fsync: FsyncPolicy,
    pub segment_bytes_max: u64,
    pub heartbeat_ms: u64,
    pub election_timeout_ms_min: u64,
    pub election_timeout_ms_max: u64,
    /// Build a snapshot after this many entries since the last one.
    pub snapshot_entry_count: u64,
    /// Build a snapshot when the log holds more than this many bytes.
    pub snapshot_log_bytes: u64,
    /// Entries kept in the log behind a snapshot, for followers that lag a little.
    pub snapshot_log_keep_count: u64,
    /// While keys with a TTL exist and nothing was proposed for this long, the leader proposes a
    /// time-advance entry, so that TTLs keep expiring at state-machine time (DESIGN.md §3).
    pub time_advance_idle_ms: u64,
    /// How often the leader looks for expired keys to remove (active expiry), and the period of
    /// the node's other background duties.
    pub duty_interval_ms: u64,
    /// How long a write may wait for its outcome before the client is told it is unknown.
    pub write_timeout_ms: u64,
    /// How long a request waits for a leader to be elected before it is refused.
    pub leader_wait_ms: u64,
    pub shard_bits: u32,
    /// Keys the map's hash; random per process in production, fixed in simulation.
    pub hash_seed: u64,
}

impl Default for NodeOptions {
    fn default() -> NodeOptions {
        NodeOptions {
            node_id: 1,
            addr: NodeAddr::default(),
            fsync: FsyncPolicy::Always,
            segment_bytes_max: crate::log::SEGMENT_BYTES_MAX_DEFAULT,
            heartbeat_ms: 100,
            election_timeout_ms_min: 300,
            election_timeout_ms_max: 600,
            snapshot_entry_count: 100_000,
            snapshot_log_bytes: 256 * 1024 * 1024,
            snapshot_log_keep_count: 1_000,
            time_advance_idle_ms: 100,
            duty_interval_ms: 50,
            write_timeout_ms: 10_000,
            leader_wait_ms: 3_000,
            shard_bits: redraft_core::limits::SHARD_BITS_DEFAULT,
            hash_seed: 0,
        }
    }
}

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Log(#[from] OpenError),
    #[error("the snapshot cannot be loaded: {0}")]
    Snapshot(String),
    #[error("invalid Raft configuration: {0}")]
    Config(String),
    #[error("Raft did not start: {0}")]
    Raft(String),
}

/// Why a request was not answered with a reply; sorted by what the client does next.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// This node is not the leader, and the request certainly did not take effect: retry at the
    /// leader, if one is known.
    #[error("not the leader")]
    NotLeader { leader: Option<(u64, NodeAddr)> },
    /// The write may or may not have taken effect: the client must find out before retrying a
    /// non-idempotent write.
    #[error("outcome unknown: {0}")]
    Unknown(String),
    /// The request did not take effect and may be retried (no quorum answered, the node stops).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl NodeError {
    /// The error reply a Redis client sees.
    pub fn reply_text(&self) -> String {
        match self {
            NodeError::NotLeader { leader: Some((id, addr)) } => {
                format!("NOTLEADER this node is not the leader; node {id} is, at {}", addr.resp_addr)
            }
            NodeError::NotLeader { leader: None } => {
                "CLUSTERDOWN no leader is elected yet; retry shortly".to_owned()
            }
            NodeError::Unknown(why) => {
                format!("UNKNOWN the write's outcome is unknown ({why}); it may or may not have been applied")
            }
            NodeError::Unavailable(why) => format!("TRYAGAIN {why}"),
        }
    }
}

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
            ..Config::default()
        };
        let config = Arc::new(config.validate().map_err(|e| StartError::Config(e.to_string()))?);
        let (log, recovery) =
            LogStore::open(disk.clone(), options.fsync, options.segment_bytes_max, metrics.clone()).await?;
        if let Some((file, offset, dropped)) = &recovery.torn_tail {
            tracing::warn!(file, offset, dropped_bytes = dropped, "truncated a torn write at the log's tail");
        }
        let state = Arc::new(StateMachine::new(StateMachineConfig {
            shard_bits: options.shard_bits,
            hash_seed: options.hash_seed,
            ..StateMachineConfig::default()
        }));
        let machine = StateMachineStore::open(state.clone(), disk).map_err(StartError::Snapshot)?;
        let raft = Raft::new(options.node_id, config, NoPeers, log, machine)
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        let members = BTreeMap::from([(options.node_id, options.addr.clone())]);
        match raft.initialize(members).await {
            Ok(()) => tracing::info!(node_id = options.node_id, "initialised a new cluster of one"),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                tracing::info!(node_id = options.node_id, "cluster already initialised; recovering")
            }
            Err(error) => return Err(StartError::Raft(error.to_string())),
        }
        let (stop, stopped) = watch::channel(false);
        let now_ms = clock.now_ms();
        let node = Arc::new(Node {
            last_stamp_ms: AtomicU64::new(state.time_ms()),
            last_proposal_ms: AtomicU64::new(now_ms),
            options,
            raft,
            state,
            clock,
            metrics,
            stop,
            recovery,
        });
        tokio::spawn(duties(Arc::downgrade(&node), stopped));
        Ok(node)
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

    /// The node's wall clock in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Whether the node is the leader and has applied everything it committed at its election,
    /// so it can serve (`/readyz`).
    pub fn is_ready(&self) -> bool {
        let metrics = self.raft.metrics().borrow().clone();
        metrics.state == ServerState::Leader && metrics.running_state.is_ok()
    }

    /// Proposes one write and waits for its reply.
    ///
    /// # Errors
    /// [`NodeError`]: not the leader (did not happen), unknown outcome, or unavailable.
    pub async fn write(&self, payload: Payload) -> Result<Reply, NodeError> {
        self.write_batch(vec![payload]).await.pop().expect("one reply per payload")
    }

    /// Proposes writes in order, all before waiting for any, so that they share log appends and
    /// syncs (a pipeline of writes costs one group commit, not one per write); the replies come
    /// back in the same order. The log order is the proposal order.
    pub async fn write_batch(&self, payloads: Vec<Payload>) -> Vec<Result<Reply, NodeError>> {
        let mut replies: Vec<Result<Reply, NodeError>> = Vec::with_capacity(payloads.len());
        let mut pending = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let entry = LogEntry { stamp_ms: self.next_stamp_ms(), payload };
            match self.raft.client_write_ff(entry).await {
                Ok(receiver) => pending.push(Some(receiver)),
                Err(fatal) => {
                    // The request never reached Raft.
                    pending.push(None);
                    replies.push(Err(NodeError::Unavailable(format!("the node is stopping: {fatal}"))));
                }
            }
        }
        let mut early = replies.into_iter();
        let mut out = Vec::with_capacity(pending.len());
        let timeout = Duration::from_millis(self.options.write_timeout_ms);
        for receiver in pending {
            let Some(receiver) = receiver else {
                out.push(early.next().expect("an error for each unsent write"));
                continue;
            };
            out.push(match tokio::time::timeout(timeout, receiver).await {
                Ok(Ok(Ok(response))) => Ok(response.data),
                // openraft answers ForwardToLeader for a write it refused before appending, or
                // whose entry was truncated by a new leader: neither can be applied.
                Ok(Ok(Err(ClientWriteError::ForwardToLeader(forward)))) => {
                    Err(NodeError::NotLeader { leader: self.leader_addr(forward.leader_id) })
                }
                Ok(Ok(Err(ClientWriteError::ChangeMembershipError(error)))) => {
                    Err(NodeError::Unavailable(error.to_string()))
                }
                Ok(Err(_closed)) => {
                    Err(NodeError::Unknown("the node stopped before the write was applied".into()))
                }
                Err(_elapsed) => {
                    Err(NodeError::Unknown(format!("no outcome within {} ms", self.options.write_timeout_ms)))
                }
            });
        }
        out
    }

    /// Proposes writes, waiting for a leader first when none is known yet (a node starting up).
    pub async fn write_batch_waiting(&self, payloads: Vec<Payload>) -> Vec<Result<Reply, NodeError>> {
        if self.raft.metrics().borrow().current_leader.is_none() {
            self.wait_for_leader().await;
        }
        self.write_batch(payloads).await
    }

    /// Confirms this node is the leader and that its state machine has applied everything
    /// committed before this call: a local read after it is linearizable.
    ///
    /// # Errors
    /// [`NodeError::NotLeader`] or [`NodeError::Unavailable`]; a read that fails had no effect.
    pub async fn linearize(&self) -> Result<(), NodeError> {
        if self.raft.metrics().borrow().current_leader.is_none() {
            self.wait_for_leader().await;
        }
        let timeout = Duration::from_millis(self.options.write_timeout_ms);
        match tokio::time::timeout(timeout, self.raft.ensure_linearizable()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward)))) => {
                Err(NodeError::NotLeader { leader: self.leader_addr(forward.leader_id) })
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(error)))) => {
                Err(NodeError::Unavailable(format!("no quorum confirmed the leader: {error}")))
            }
            Ok(Err(RaftError::Fatal(fatal))) => {
                Err(NodeError::Unavailable(format!("the node is stopping: {fatal}")))
            }
            Err(_elapsed) => Err(NodeError::Unavailable(format!(
                "leadership not confirmed within {} ms",
                self.options.write_timeout_ms
            ))),
        }
    }

    /// Answers a read-only command linearizably.
    ///
    /// # Errors
    /// As [`Node::linearize`].
    pub async fn read(&self, command: &Command) -> Result<Reply, NodeError> {
        self.linearize().await?;
        Ok(self.state.read(command))
    }

    /// Stops the background duties and Raft.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.raft.shutdown().await {
            tracing::warn!(%error, "Raft did not shut down cleanly");
        }
    }

    fn next_stamp_ms(&self) -> u64 {
        let now_ms = self.clock.now_ms();
        self.last_proposal_ms.store(now_ms, Ordering::Relaxed);
        // Never below a stamp already applied or proposed: a leader with a slow clock must not
        // move the state-machine time backwards (DESIGN.md §3).
        let floor = self.state.time_ms();
        let candidate = now_ms.max(floor);
        let previous = self.last_stamp_ms.fetch_max(candidate, Ordering::AcqRel);
        candidate.max(previous)
    }

    fn leader_addr(&self, leader: Option<u64>) -> Option<(u64, NodeAddr)> {
        let id = leader?;
        let metrics = self.raft.metrics().borrow().clone();
        let addr = metrics.membership_config.membership().get_node(&id).cloned().unwrap_or_default();
        Some((id, addr))
    }

    async fn wait_for_leader(&self) {
        let wait = Duration::from_millis(self.options.leader_wait_ms);
        let _ = self.raft.wait(Some(wait)).metrics(|m| m.current_leader.is_some(), "a leader is known").await;
    }
}

/// The node's background duties, every `duty_interval_ms` until the node stops or is dropped.
async fn duties(node: std::sync::Weak<Node>, mut stopped: watch::Receiver<bool>) {
    let interval = match node.upgrade() {
        Some(node) => Duration::from_millis(node.options.duty_interval_ms.max(1)),
        None => return,
    };
    let mut last_snapshot_request: Option<u64> = None;
    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let Some(node) = node.upgrade() else { return };
        let metrics = node.raft.metrics().borrow().clone();
        node.update_metrics(&metrics);
        if metrics.state == ServerState::Leader {
            node.expire_or_advance_time().await;
        }
        // Size threshold: ask again only once the previous request has produced its snapshot,
        // and only when a snapshot would cover more than the entries kept behind it anyway.
        let applied = metrics.last_applied.map_or(0, |id| id.index);
        let snapshot = metrics.snapshot.map_or(0, |id| id.index);
        let log_bytes = node.metrics.log_bytes.get() as u64;
        if log_bytes > node.options.snapshot_log_bytes
            && applied > snapshot + node.options.snapshot_log_keep_count
            && last_snapshot_request.is_none_or(|requested_at| snapshot >= requested_at)
        {
            tracing::info!(log_bytes, applied, "the log passed its size threshold; building a snapshot");
            last_snapshot_request = Some(applied);
            let _ = node.raft.trigger().snapshot().await;
        }
    }
}

impl Node {
    fn update_metrics(&self, raft: &openraft::RaftMetrics<u64, NodeAddr>) {
        let m = &self.metrics;
        m.raft_term.set(raft.current_term as i64);
        m.raft_applied_index.set(raft.last_applied.map_or(0, |id| id.index) as i64);
        // openraft 0.9's metrics carry no commit index; on the leader every applied entry is
        // committed, and applied trails committed only briefly.
        m.raft_commit_index.set(raft.last_applied.map_or(0, |id| id.index) as i64);
        m.raft_leader.set(raft.current_leader.unwrap_or(0) as i64);
        m.raft_is_leader.set(i64::from(raft.state == ServerState::Leader));
        m.keys.set(self.state.map().len() as i64);
    }

    /// On the leader: remove expired keys in bounded batches, or move time forward while TTL
    /// keys exist and writes are idle.
    async fn expire_or_advance_time(&self) {
        let now_ms = self.clock.now_ms();
        let expired = self.state.collect_expired(now_ms, EXPIRE_BATCH_KEYS_MAX);
        let payload = if !expired.is_empty() {
            Payload::ExpireBatch { keys: expired }
        } else if self.state.map().ttl_key_count() > 0
            && now_ms.saturating_sub(self.last_proposal_ms.load(Ordering::Relaxed))
                >= self.options.time_advance_idle_ms
        {
            Payload::TimeAdvance
        } else {
            return;
        };
        match self.write(payload).await {
            Ok(Reply::Integer(removed)) => self.metrics.expired_keys.inc_by(removed.max(0) as u64),
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "a background proposal did not apply"),
        }
    }
}
