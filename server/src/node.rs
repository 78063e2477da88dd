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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ClientWriteError, InitializeError, RaftError};
use openraft::{ChangeMembers, Config, Raft, ServerState, SnapshotPolicy};
use redraft_core::limits::EXPIRE_BATCH_KEYS_MAX;
use redraft_core::{Command, LogEntry, Payload, Reply, SessionRef, StateMachine, StateMachineConfig};
use redraft_net::peer::PeerError;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::clock::Clock;
use crate::disk::Disk;
use crate::log::RecoveryReport;
use crate::metrics::Metrics;
use crate::network::{CallError, PeerNetwork, PeerPool, PeerRequest, PeerResponse};
use crate::store::{FsyncPolicy, LogStore, NodeAddr, OpenError, StateMachineStore, TypeConfig};

/// How to run a node. [`NodeOptions::default`] is a single node with Raft timings for loopback.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub node_id: u64,
    pub addr: NodeAddr,
    /// Every peer frame names it; a node of another cluster is refused.
    pub cluster_id: String,
    /// The initial membership, set once when the log is pristine; empty for a cluster of one.
    pub peers: BTreeMap<u64, NodeAddr>,
    /// Start with an empty log and wait to be added by a cluster's leader instead of initialising
    /// a cluster.
    pub join: bool,
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
    /// How long the leader waits for a membership change to commit (both of its steps, and a
    /// new node's catch-up, which can mean building and sending a snapshot) before answering
    /// that the outcome is unknown; never less than the write timeout.
    pub membership_timeout_ms: u64,
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
            cluster_id: CLUSTER_ID_DEFAULT.to_owned(),
            peers: BTreeMap::new(),
            join: false,
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
            membership_timeout_ms: 60_000,
            leader_wait_ms: 3_000,
            shard_bits: redraft_core::limits::SHARD_BITS_DEFAULT,
            hash_seed: 0,
        }
    }
}

/// The monotonic clock for deadlines (virtual time in the simulator, where tokio's `Instant` is
/// std's type under madsim's clock, which the determinism lint names); never wall time, which
/// comes from the node's [`Clock`].
#[allow(clippy::disallowed_methods)]
pub(crate) fn monotonic_now() -> Instant {
    Instant::now()
}

/// The cluster id of a node that is not told one.
pub const CLUSTER_ID_DEFAULT: &str = "redraft";

/// How long a follower waits between attempts to reach the leader for a forwarded request.
const FORWARD_RETRY: Duration = Duration::from_millis(25);

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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
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
    /// The request is wrong (a membership change that names no such node); it had no effect.
    #[error("{0}")]
    Invalid(String),
    /// This node was removed from the cluster: it serves no reads or writes until it is added
    /// again. The request had no effect.
    #[error("this node was removed from the cluster")]
    Removed { node_id: u64, membership_index: u64 },
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
            NodeError::Invalid(why) => format!("ERR {why}"),
            NodeError::Removed { node_id, membership_index } => format!(
                "REMOVED node {node_id} was removed from the cluster (membership at log index \
                 {membership_index}); use another member, or add this node again with RAFT.ADD"
            ),
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
    /// Connections to the other nodes, for Raft and for forwarding.
    peers: Arc<PeerPool>,
    /// Client ids for the sessions of forwarded writes: a random base per start, then a counter.
    session_base: u64,
    session_next: AtomicU64,
    /// Leadership confirmations shared by the linearizable reads waiting for them.
    read_rounds: Arc<ReadRounds>,
}

/// Linearizable reads share leadership confirmations (ReadIndex batching): one round asks a
/// quorum once and answers every read that joined it. A read joins the next round to start,
/// never the one in flight, whose read index was taken before the read arrived and so might not
/// cover a write acknowledged just before it. With many clients a round serves all the reads
/// that arrived during the previous one, instead of one quorum round trip per read.
#[derive(Default)]
struct ReadRounds {
    state: std::sync::Mutex<ReadRoundsState>,
}

#[derive(Default)]
struct ReadRoundsState {
    /// Whether a round is in flight (its task then starts the next one for `waiting`).
    running: bool,
    /// The reads for the next round.
    waiting: Vec<oneshot::Sender<Result<u64, NodeError>>>,
}

impl ReadRounds {
    fn lock(&self) -> std::sync::MutexGuard<'_, ReadRoundsState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A change to the cluster's membership, made by the leader (and forwarded to it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Add a node as a learner, wait until it has caught up, then make it a voter if asked.
    Add { id: u64, addr: NodeAddr, voter: bool },
    /// Make a learner a voter.
    Promote { id: u64 },
    /// Remove a voter or a learner from the cluster.
    Remove { id: u64 },
}

/// A node's view of the cluster, for `RAFT.INFO`, INFO replication and `/v1/cluster`.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterStatus {
    pub node_id: u64,
    /// `leader`, `follower`, `candidate`, `learner`, `removed` or `shutdown`.
    pub role: &'static str,
    pub leader: Option<u64>,
    pub leader_resp_addr: Option<String>,
    pub term: u64,
    pub last_log_index: u64,
    /// On the leader, the highest index a quorum of voters has; elsewhere, the applied index (a
    /// lower bound of the commit index that a follower can know).
    pub commit_index: u64,
    pub applied_index: u64,
    pub snapshot_index: u64,
    /// The newest index removed from the log (compacted into a snapshot); a node further
    /// behind catches up by snapshot.
    pub purged_index: u64,
    pub members: Vec<MemberStatus>,
}

/// One member as the node sees it.
#[derive(Clone, Debug, Serialize)]
pub struct MemberStatus {
    pub id: u64,
    pub raft_addr: String,
    pub resp_addr: String,
    pub voter: bool,
    /// On the leader: the newest index the member is known to hold, and how far behind the
    /// leader's log that is.
    pub matched_index: Option<u64>,
    pub lag: Option<u64>,
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
        let machine = StateMachineStore::open(state.clone(), disk.clone()).map_err(StartError::Snapshot)?;
        let (mut log, recovery) = LogStore::open(
            disk,
            options.fsync,
            options.segment_bytes_max,
            metrics.clone(),
            machine.snapshot_index(),
        )
        .await?;
        if let Some((file, offset, dropped)) = &recovery.torn_tail {
            tracing::warn!(file, offset, dropped_bytes = dropped, "truncated a torn write at the log's tail");
        }
        if options.cluster_id.is_empty() || options.cluster_id.len() > redraft_net::peer::CLUSTER_ID_BYTES_MAX
        {
            return Err(StartError::Config(format!(
                "the cluster id must be 1 to {} bytes",
                redraft_net::peer::CLUSTER_ID_BYTES_MAX
            )));
        }
        let cluster: Arc<str> = options.cluster_id.as_str().into();
        let peers = Arc::new(PeerPool::new(cluster, options.node_id));
        let network = PeerNetwork::new(peers.clone());
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
        let raft = Raft::new(options.node_id, config, network, log, machine)
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        if options.join {
            tracing::info!(node_id = options.node_id, "waiting to be added to a cluster by its leader");
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
        let node = Arc::new(Node {
            peers,
            session_base,
            session_next: AtomicU64::new(0),
            read_rounds: Arc::default(),
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

    /// Applies client writes in order through the leader, wherever it is, and returns their
    /// replies in the same order. On the leader they are proposed all before any is awaited, so
    /// they share log appends and syncs (a pipeline of writes costs one group commit). On a
    /// follower they are forwarded to the leader with a client session each, and a forward whose
    /// outcome is unclear is retried until the write timeout: the session makes the state machine
    /// apply each write at most once (DESIGN.md §4).
    pub async fn write_batch(&self, payloads: Vec<Payload>) -> Vec<Result<Reply, NodeError>> {
        if let Err(removed) = self.check_member() {
            return payloads.iter().map(|_| Err(removed.clone())).collect();
        }
        let deadline = monotonic_now() + Duration::from_millis(self.options.write_timeout_ms);
        if self.raft.metrics().borrow().current_leader.is_none() {
            self.wait_for_leader(deadline).await;
        }
        if !self.is_leader() {
            return self.forward_writes(payloads, deadline).await;
        }
        let mut replies = self.write_local(payloads.clone()).await;
        // A write refused with NotLeader never reached the log here; leadership moved while the
        // batch was proposed, so send those on to the new leader.
        let moved: Vec<usize> = (0..replies.len())
            .filter(|&i| {
                matches!(&replies[i], Err(NodeError::NotLeader { leader: Some((id, _)) }) if *id != self.id())
            })
            .collect();
        if !moved.is_empty() {
            let again =
                self.forward_writes(moved.iter().map(|&i| payloads[i].clone()).collect(), deadline).await;
            for (i, reply) in moved.into_iter().zip(again) {
                replies[i] = reply;
            }
        }
        replies
    }

    /// Proposes writes on this node, which must be the leader, and waits for their replies.
    async fn write_local(&self, payloads: Vec<Payload>) -> Vec<Result<Reply, NodeError>> {
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

    /// Writes forwarded to this node by a follower: applied here if this node leads, refused
    /// with `NotLeader` (certainly not applied) otherwise; never forwarded again.
    pub async fn write_as_leader(&self, payloads: Vec<Payload>) -> Vec<Result<Reply, NodeError>> {
        if !self.is_leader() {
            let refusal = NodeError::NotLeader { leader: self.leader_addr(self.current_leader()) };
            return payloads.iter().map(|_| Err(refusal.clone())).collect();
        }
        if payloads.iter().any(|p| matches!(p, Payload::TimeAdvance | Payload::ExpireBatch { .. })) {
            let refusal = NodeError::Invalid("only client writes can be forwarded".into());
            return payloads.iter().map(|_| Err(refusal.clone())).collect();
        }
        self.write_local(payloads).await
    }

    /// Gives every client write a session of its own, so that forwarding it again after an
    /// unclear outcome cannot apply it twice.
    fn with_session(&self, payload: Payload) -> Payload {
        let fresh = || SessionRef {
            client_id: self.session_base.wrapping_add(self.session_next.fetch_add(1, Ordering::Relaxed)),
            sequence: 1,
        };
        match payload {
            Payload::Command { session: None, command } => {
                Payload::Command { session: Some(fresh()), command }
            }
            Payload::Transaction { session: None, watches, commands } => {
                Payload::Transaction { session: Some(fresh()), watches, commands }
            }
            other => other,
        }
    }

    /// Forwards writes to the leader until `deadline`, following leadership as it moves.
    async fn forward_writes(
        &self,
        payloads: Vec<Payload>,
        deadline: Instant,
    ) -> Vec<Result<Reply, NodeError>> {
        let payloads: Vec<Payload> = payloads.into_iter().map(|p| self.with_session(p)).collect();
        let started = monotonic_now();
        let mut out: Vec<Option<Result<Reply, NodeError>>> = vec![None; payloads.len()];
        // Whether an attempt may have reached a leader: then the outcome is unknown, not refused.
        let mut maybe_sent = vec![false; payloads.len()];
        let mut todo: Vec<usize> = (0..payloads.len()).collect();
        let mut last_error = String::from("no leader is known");
        while !todo.is_empty() && monotonic_now() < deadline {
            let batch: Vec<Payload> = todo.iter().map(|&i| payloads[i].clone()).collect();
            let replies = match self.current_leader() {
                None => None,
                Some(leader) if leader == self.id() => Some(self.write_local(batch).await),
                Some(leader) => {
                    let addr = self.raft_addr_of(leader);
                    let remaining = deadline.saturating_duration_since(monotonic_now());
                    match self.call_leader(leader, &addr, PeerRequest::Write(batch), remaining).await {
                        Ok(PeerResponse::Write(replies)) if replies.len() == todo.len() => Some(replies),
                        Ok(other) => {
                            last_error = format!("node {leader} answered a forwarded write with {other:?}");
                            todo.iter().for_each(|&i| maybe_sent[i] = true);
                            None
                        }
                        Err(error) => {
                            if !error.certainly_not_sent() {
                                todo.iter().for_each(|&i| maybe_sent[i] = true);
                            }
                            last_error = format!("forwarding to node {leader} failed: {error}");
                            None
                        }
                    }
                }
            };
            if let Some(replies) = replies {
                let mut still = Vec::new();
                for (i, reply) in todo.into_iter().zip(replies) {
                    match reply {
                        // Refused before the log: try the leader it names.
                        Err(NodeError::NotLeader { .. }) => {
                            last_error = "leadership moved while forwarding".into();
                            still.push(i);
                        }
                        Err(NodeError::Unknown(why)) => {
                            maybe_sent[i] = true;
                            last_error = why;
                            still.push(i);
                        }
                        reply => out[i] = Some(reply),
                    }
                }
                todo = still;
            }
            if !todo.is_empty() {
                if self.current_leader().is_none() {
                    self.wait_for_leader(deadline).await;
                } else {
                    tokio::time::sleep(
                        FORWARD_RETRY.min(deadline.saturating_duration_since(monotonic_now())),
                    )
                    .await;
                }
            }
        }
        for i in todo {
            out[i] = Some(if maybe_sent[i] {
                let waited = monotonic_now().saturating_duration_since(started);
                Err(NodeError::Unknown(format!("{last_error}; gave up after {} ms", waited.as_millis())))
            } else {
                Err(NodeError::Unavailable(format!("no leader could be reached: {last_error}")))
            });
        }
        out.into_iter().map(|reply| reply.expect("every write answered")).collect()
    }

    /// Confirms that a read served from this node's state machine after it returns is
    /// linearizable. On the leader: leadership confirmed by a quorum (openraft's
    /// `ensure_linearizable`) and everything committed before the call applied. On a follower:
    /// the leader confirms its leadership and names its commit index (ReadIndex), and this node
    /// waits until it has applied that index.
    ///
    /// # Errors
    /// [`NodeError::NotLeader`] or [`NodeError::Unavailable`]; a read that fails had no effect.
    pub async fn linearize(&self) -> Result<(), NodeError> {
        self.check_member()?;
        let deadline = monotonic_now() + Duration::from_millis(self.options.write_timeout_ms);
        if self.raft.metrics().borrow().current_leader.is_none() {
            self.wait_for_leader(deadline).await;
        }
        let mut last_error = NodeError::Unavailable("no leader is known".into());
        while monotonic_now() < deadline {
            let remaining = deadline.saturating_duration_since(monotonic_now());
            let index = match self.current_leader() {
                None => Err(NodeError::Unavailable("no leader is known".into())),
                Some(leader) if leader == self.id() => match self.read_index_as_leader().await {
                    // The leader reads its own state machine once it has applied the read index.
                    Ok(index) => Ok(index),
                    Err(error) => Err(error),
                },
                Some(leader) => {
                    let addr = self.raft_addr_of(leader);
                    match self.call_leader(leader, &addr, PeerRequest::ReadIndex, remaining).await {
                        Ok(PeerResponse::ReadIndex(result)) => result,
                        Ok(other) => Err(NodeError::Unavailable(format!("node {leader} answered {other:?}"))),
                        Err(error) => {
                            Err(NodeError::Unavailable(format!("asking node {leader} failed: {error}")))
                        }
                    }
                }
            };
            match index {
                Ok(index) => {
                    let remaining = deadline.saturating_duration_since(monotonic_now());
                    return match self
                        .raft
                        .wait(Some(remaining))
                        .applied_index_at_least(Some(index), "the read index is applied")
                        .await
                    {
                        Ok(_) => Ok(()),
                        Err(error) => Err(NodeError::Unavailable(format!(
                            "this node did not apply the read index {index} in time: {error}"
                        ))),
                    };
                }
                Err(error @ NodeError::Invalid(_)) => return Err(error),
                Err(error) => last_error = error,
            }
            if self.current_leader().is_none() {
                self.wait_for_leader(deadline).await;
            } else {
                tokio::time::sleep(FORWARD_RETRY.min(deadline.saturating_duration_since(monotonic_now())))
                    .await;
            }
        }
        Err(last_error)
    }

    /// On the leader: confirms leadership with a quorum and returns the index a linearizable
    /// read must wait for (ReadIndex). Elsewhere: `NotLeader`.
    ///
    /// # Errors
    /// [`NodeError::NotLeader`] or [`NodeError::Unavailable`].
    pub async fn read_index_as_leader(&self) -> Result<u64, NodeError> {
        let timeout = Duration::from_millis(self.options.write_timeout_ms);
        let (answer, answered) = oneshot::channel();
        let start_round = {
            let mut state = self.read_rounds.lock();
            state.waiting.push(answer);
            !std::mem::replace(&mut state.running, true)
        };
        if start_round {
            tokio::spawn(read_rounds(self.raft.clone(), self.read_rounds.clone(), timeout));
        }
        match tokio::time::timeout(timeout + Duration::from_millis(100), answered).await {
            Ok(Ok(Ok(index))) => Ok(index),
            Ok(Ok(Err(NodeError::NotLeader { leader: Some((id, _)) }))) => {
                // The round names the leader; its addresses come from this node's membership.
                Err(NodeError::NotLeader { leader: self.leader_addr(Some(id)) })
            }
            Ok(Ok(Err(error))) => Err(error),
            Ok(Err(_dropped)) => Err(NodeError::Unavailable("the node is stopping".into())),
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

    /// Changes the membership through the leader, wherever it is.
    ///
    /// # Errors
    /// [`NodeError`]: no leader, a change the leader refuses, or a change whose outcome is
    /// unknown.
    pub async fn change_membership(&self, change: MembershipChange) -> Result<String, NodeError> {
        if self.raft.metrics().borrow().current_leader.is_none() {
            self.wait_for_leader(monotonic_now() + Duration::from_millis(self.options.leader_wait_ms)).await;
        }
        match self.current_leader() {
            None => Err(NodeError::NotLeader { leader: None }),
            Some(leader) if leader == self.id() => self.change_membership_as_leader(change).await,
            Some(leader) => {
                let addr = self.raft_addr_of(leader);
                let timeout = self.membership_timeout() + Duration::from_secs(1);
                match self.peers.call(leader, &addr, PeerRequest::Membership(change), timeout).await {
                    Ok(PeerResponse::Membership(result)) => result,
                    Ok(other) => Err(NodeError::Unknown(format!("node {leader} answered {other:?}"))),
                    Err(error) if error.certainly_not_sent() => {
                        Err(NodeError::Unavailable(format!("node {leader} could not be reached: {error}")))
                    }
                    Err(error) => {
                        Err(NodeError::Unknown(format!("forwarding to node {leader} failed: {error}")))
                    }
                }
            }
        }
    }

    fn membership_timeout(&self) -> Duration {
        Duration::from_millis(self.options.membership_timeout_ms.max(self.options.write_timeout_ms))
    }

    /// A membership change on this node, which must be the leader.
    ///
    /// # Errors
    /// As [`Node::change_membership`].
    // openraft's error type is what it is; it is matched right here, never stored.
    #[allow(clippy::result_large_err)]
    pub async fn change_membership_as_leader(&self, change: MembershipChange) -> Result<String, NodeError> {
        if !self.is_leader() {
            return Err(NodeError::NotLeader { leader: self.leader_addr(self.current_leader()) });
        }
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let config = membership.membership();
        let is_voter = |id: u64| config.voter_ids().any(|v| v == id);
        let is_member = |id: u64| config.get_node(&id).is_some();
        let timeout = self.membership_timeout();
        let result = match change {
            MembershipChange::Add { id, addr, voter } => {
                if is_member(id) && config.get_node(&id) != Some(&addr) {
                    return Err(NodeError::Invalid(format!(
                        "node {id} is already a member at {}; remove it first",
                        config.get_node(&id).cloned().unwrap_or_default()
                    )));
                }
                tracing::info!(id, %addr, voter, "adding a node; it catches up as a learner first");
                let added = tokio::time::timeout(timeout, self.raft.add_learner(id, addr, true)).await;
                match added {
                    Ok(Ok(_)) if voter => tokio::time::timeout(
                        timeout,
                        self.raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false),
                    )
                    .await
                    .map(|r| r.map(|_| format!("node {id} added as a voter"))),
                    Ok(Ok(_)) => Ok(Ok(format!("node {id} added as a learner"))),
                    Ok(Err(error)) => Ok(Err(error)),
                    Err(elapsed) => Err(elapsed),
                }
            }
            MembershipChange::Promote { id } => {
                if !is_member(id) {
                    return Err(NodeError::Invalid(format!("node {id} is not a member; add it first")));
                }
                if is_voter(id) {
                    return Ok(format!("node {id} is already a voter"));
                }
                tokio::time::timeout(
                    timeout,
                    self.raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false),
                )
                .await
                .map(|r| r.map(|_| format!("node {id} is a voter")))
            }
            MembershipChange::Remove { id } => {
                let changes = if is_voter(id) {
                    if config.voter_ids().count() == 1 {
                        return Err(NodeError::Invalid(format!(
                            "node {id} is the only voter; a cluster needs one"
                        )));
                    }
                    ChangeMembers::RemoveVoters(BTreeSet::from([id]))
                } else if is_member(id) {
                    ChangeMembers::RemoveNodes(BTreeSet::from([id]))
                } else {
                    return Err(NodeError::Invalid(format!("node {id} is not a member")));
                };
                tracing::info!(id, "removing a node");
                tokio::time::timeout(timeout, self.raft.change_membership(changes, false))
                    .await
                    .map(|r| r.map(|_| format!("node {id} removed")))
            }
        };
        match result {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => {
                Err(NodeError::NotLeader { leader: self.leader_addr(forward.leader_id) })
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(error)))) => {
                Err(NodeError::Invalid(error.to_string()))
            }
            Ok(Err(RaftError::Fatal(fatal))) => {
                Err(NodeError::Unknown(format!("the node is stopping: {fatal}")))
            }
            Err(_elapsed) => Err(NodeError::Unknown(format!(
                "the membership change did not finish within {} s",
                timeout.as_secs()
            ))),
        }
    }

    /// The node's view of the cluster.
    pub fn cluster_status(&self) -> ClusterStatus {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let last_log_index = metrics.last_log_index.unwrap_or(0);
        let applied_index = metrics.last_applied.map_or(0, |id| id.index);
        let replication = metrics.replication.clone();
        let matched = |id: u64| -> Option<u64> {
            if metrics.state != ServerState::Leader {
                return None;
            }
            if id == self.id() {
                return Some(last_log_index);
            }
            replication.as_ref()?.get(&id).map(|m| m.map_or(0, |log_id| log_id.index))
        };
        let commit_index = if metrics.state == ServerState::Leader {
            let mut indexes: Vec<u64> = voters.iter().map(|id| matched(*id).unwrap_or(0)).collect();
            indexes.sort_unstable_by(|a, b| b.cmp(a));
            indexes.get(indexes.len() / 2).copied().unwrap_or(0).max(applied_index)
        } else {
            applied_index
        };
        let role = match metrics.state {
            _ if self.check_member().is_err() => "removed",
            ServerState::Leader => "leader",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Follower if !voters.contains(&self.id()) => "learner",
            ServerState::Follower => "follower",
            ServerState::Shutdown => "shutdown",
        };
        let members = membership
            .nodes()
            .map(|(id, addr)| {
                let matched_index = matched(*id);
                MemberStatus {
                    id: *id,
                    raft_addr: addr.raft_addr.clone(),
                    resp_addr: addr.resp_addr.clone(),
                    voter: voters.contains(id),
                    matched_index,
                    lag: matched_index.map(|m| last_log_index.saturating_sub(m)),
                }
            })
            .collect();
        ClusterStatus {
            node_id: self.id(),
            role,
            leader: metrics.current_leader,
            leader_resp_addr: metrics
                .current_leader
                .and_then(|id| membership.get_node(&id))
                .map(|addr| addr.resp_addr.clone()),
            term: metrics.current_term,
            last_log_index,
            commit_index,
            applied_index,
            snapshot_index: metrics.snapshot.map_or(0, |id| id.index),
            purged_index: metrics.purged.map_or(0, |id| id.index),
            members,
        }
    }

    /// Serves peers on `listener` until `stop` turns true: openraft's RPCs, and the requests
    /// followers forward to the leader.
    pub fn serve_peers(
        self: &Arc<Node>,
        listener: TcpListener,
        stop: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let weak = Arc::downgrade(self);
        let cluster: Arc<str> = self.options.cluster_id.as_str().into();
        redraft_net::peer::serve(
            listener,
            cluster,
            move |body| crate::network::handle(weak.clone(), body),
            stop,
        )
    }

    /// Fails when this node is not in its own newest membership: it was removed (a node waiting
    /// to join has no membership yet, and is not refused here); or when a peer said it is not in
    /// a membership at a log index this node's log has not reached. Once this node's log reaches
    /// that index its own membership decides: the peer's entry was then either replicated here
    /// too, or truncated by a leader that keeps this node.
    ///
    /// # Errors
    /// [`NodeError::Removed`].
    pub fn check_member(&self) -> Result<(), NodeError> {
        let last_log = self.raft.metrics().borrow().last_log_index.unwrap_or(0);
        let removed_at = self.membership_without(self.id()).or_else(|| {
            let told = self.peers.not_member_at();
            (told > last_log).then_some(told)
        });
        match removed_at {
            Some(membership_index) => Err(NodeError::Removed { node_id: self.id(), membership_index }),
            None => Ok(()),
        }
    }

    /// The index of this node's newest membership entry, if node `id` is not in it (`None` when
    /// it is, or when this node has no membership yet).
    pub fn membership_without(&self, id: u64) -> Option<u64> {
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let index = membership.log_id().as_ref()?.index;
        let member = membership.membership().nodes().any(|(member, _)| *member == id);
        (!member).then_some(index)
    }

    /// How long since this node last heard from an established leader (or voted, or stood for
    /// election): the age of its vote's lease in openraft; zero while this node leads, `None`
    /// if it never did any of these.
    async fn leader_silence(&self) -> Option<Duration> {
        self.raft
            .with_raft_state(|state| {
                if state.server_state == ServerState::Leader {
                    return Some(Duration::ZERO);
                }
                // On openraft's runtime clock, which is virtual time in the simulator too.
                state.vote_last_modified().map(|at| openraft::Instant::elapsed(&at))
            })
            .await
            .ok()
            .flatten()
    }

    /// Answers a pre-vote: whether this node would take part in an election now. It would not
    /// while it leads or has heard from a leader within the minimum election timeout, so a node
    /// that was cut off or paused cannot depose a leader the others still follow. (The logs are
    /// compared by the real vote, as openraft does.)
    pub async fn grant_pre_vote(&self) -> bool {
        let lease = Duration::from_millis(self.options.election_timeout_ms_min);
        self.leader_silence().await.is_none_or(|silence| silence >= lease)
    }

    /// Raft's election with a pre-vote in front (Raft thesis §9.6): once this node has not heard
    /// from a leader for `timeout`, it asks the voters whether they would take part in an
    /// election, and starts one only when a quorum of every configuration of the membership
    /// (this node included) says yes. A node whose term would otherwise climb while it is cut off
    /// or paused then comes back without deposing the leader. Returns whether it asked.
    async fn stand_for_election(&self, timeout: Duration) -> bool {
        if self.leader_silence().await.is_some_and(|silence| silence < timeout) {
            return false;
        }
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let configs = membership.membership().get_joint_config().clone();
        if !configs.iter().any(|voters| voters.contains(&self.id())) {
            return false;
        }
        let others: BTreeSet<u64> = configs.iter().flatten().copied().filter(|&id| id != self.id()).collect();
        let ask_timeout = Duration::from_millis(self.options.election_timeout_ms_min);
        let asks = others.iter().map(|&id| {
            let addr = self.raft_addr_of(id);
            async move {
                let granted = match self.peers.call(id, &addr, PeerRequest::PreVote, ask_timeout).await {
                    Ok(PeerResponse::PreVote { granted }) => granted,
                    Ok(PeerResponse::NotMember { membership_index }) => {
                        self.peers.told_not_member(membership_index);
                        false
                    }
                    _ => false,
                };
                (id, granted)
            }
        });
        let mut granted: BTreeSet<u64> = futures::future::join_all(asks)
            .await
            .into_iter()
            .filter_map(|(id, granted)| granted.then_some(id))
            .collect();
        granted.insert(self.id());
        let quorum = configs.iter().all(|voters| voters.intersection(&granted).count() * 2 > voters.len());
        tracing::debug!(?granted, quorum, "pre-vote");
        if quorum {
            tracing::info!(?granted, "pre-vote granted by a quorum; standing for election");
            let _ = self.raft.trigger().elect().await;
        }
        true
    }

    /// Whether this node is the leader right now.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    fn current_leader(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
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

    /// The Raft address the membership gives node `id` (empty when it is not a member).
    fn raft_addr_of(&self, id: u64) -> String {
        self.leader_addr(Some(id)).map(|(_, addr)| addr.raft_addr).unwrap_or_default()
    }

    fn leader_addr(&self, leader: Option<u64>) -> Option<(u64, NodeAddr)> {
        let id = leader?;
        let metrics = self.raft.metrics().borrow().clone();
        let addr = metrics.membership_config.membership().get_node(&id).cloned().unwrap_or_default();
        Some((id, addr))
    }

    /// Waits until a leader is known, for at most `leader_wait_ms` and never past `deadline`.
    async fn wait_for_leader(&self, deadline: Instant) {
        let wait = Duration::from_millis(self.options.leader_wait_ms)
            .min(deadline.saturating_duration_since(monotonic_now()));
        let _ = self.raft.wait(Some(wait)).metrics(|m| m.current_leader.is_some(), "a leader is known").await;
    }

    /// Sends `request` to `leader` and waits up to `timeout` for its answer, but gives up as soon
    /// as this node learns that `leader` no longer leads: a leader cut off from the cluster would
    /// otherwise hold the request until the deadline while a new leader could answer it.
    async fn call_leader(
        &self,
        leader: u64,
        addr: &str,
        request: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, CallError> {
        let wait = self.raft.wait(Some(timeout));
        tokio::select! {
            biased;
            response = self.peers.call(leader, addr, request, timeout) => response,
            changed = wait.metrics(|m| m.current_leader != Some(leader), "the leader changed") => match changed {
                Ok(_) => Err(CallError::LeaderChanged { leader }),
                // The wait timed out (as the call is about to) or the node is stopping.
                Err(_) => Err(CallError::Peer(PeerError::Timeout { addr: addr.to_owned(), timeout })),
            },
        }
    }
}

/// Runs leadership confirmations while reads wait for one: each round takes every read waiting
/// when it starts, asks a quorum once (openraft's `get_read_log_id`) and answers them all.
async fn read_rounds(raft: Raft<TypeConfig>, rounds: Arc<ReadRounds>, timeout: Duration) {
    loop {
        let readers = {
            let mut state = rounds.lock();
            if state.waiting.is_empty() {
                state.running = false;
                return;
            }
            std::mem::take(&mut state.waiting)
        };
        let result = match tokio::time::timeout(timeout, raft.get_read_log_id()).await {
            Ok(Ok((read_log_id, _applied))) => Ok(read_log_id.map_or(0, |id| id.index)),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward)))) => {
                // The addresses are filled in by each reader from its node's membership.
                Err(NodeError::NotLeader { leader: forward.leader_id.map(|id| (id, NodeAddr::default())) })
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(error)))) => {
                Err(NodeError::Unavailable(format!("no quorum confirmed the leader: {error}")))
            }
            Ok(Err(RaftError::Fatal(fatal))) => {
                Err(NodeError::Unavailable(format!("the node is stopping: {fatal}")))
            }
            Err(_elapsed) => Err(NodeError::Unavailable(format!(
                "leadership not confirmed within {} ms",
                timeout.as_millis()
            ))),
        };
        for reader in readers {
            let _ = reader.send(result.clone());
        }
    }
}

/// A random election timeout within the node's bounds, drawn anew after every pre-vote.
fn election_timeout(options: &NodeOptions) -> Duration {
    let (low, high) = (options.election_timeout_ms_min, options.election_timeout_ms_max);
    Duration::from_millis(rand::Rng::gen_range(&mut crate::fault::rng(), low..=high.max(low)))
}

/// The node's background duties, every `duty_interval_ms` until the node stops or is dropped.
async fn duties(node: std::sync::Weak<Node>, mut stopped: watch::Receiver<bool>) {
    let (interval, mut election_timeout) = match node.upgrade() {
        Some(node) => (
            Duration::from_millis(node.options.duty_interval_ms.max(1)),
            self::election_timeout(&node.options),
        ),
        None => return,
    };
    let mut last_snapshot_request: Option<u64> = None;
    // After a pre-vote, the next waits a fresh election timeout (as a failed election would).
    let mut next_pre_vote = monotonic_now();
    loop {
        tokio::select! {
            biased;
            _ = stopped.changed() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let Some(node) = node.upgrade() else { return };
        let metrics = node.raft.metrics().borrow().clone();
        node.update_metrics(&metrics);
        // A node that a newer membership leaves out does not stand for election: it hears no
        // heartbeats, and its ever higher terms would reach members that have not yet applied
        // its removal, and depose every leader through them (seed 71993694). It stands again
        // once its own log makes it a member (the leader adds it back and replicates to it).
        if metrics.state != ServerState::Leader
            && monotonic_now() >= next_pre_vote
            && node.check_member().is_ok()
            && node.stand_for_election(election_timeout).await
        {
            election_timeout = self::election_timeout(&node.options);
            next_pre_vote = monotonic_now() + election_timeout;
        }
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
        match self.write_local(vec![payload]).await.pop().expect("one reply") {
            Ok(Reply::Integer(removed)) => self.metrics.expired_keys.inc_by(removed.max(0) as u64),
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "a background proposal did not apply"),
        }
    }
}
