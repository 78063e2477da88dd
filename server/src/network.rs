//! The Raft network over the peer transport (`redraft_net::peer`), and what a node answers on its
//! Raft address.
//!
//! Every message is bincode in a peer frame: a [`PeerMessage`] names the sender and the intended
//! receiver (a frame meant for another node id is refused, so a stale address in the membership
//! cannot make one node answer for another) and carries a [`PeerRequest`]:
//! - openraft's three RPCs (append-entries, vote, and install-snapshot, which openraft sends in
//!   chunks of `snapshot_max_chunk_size`, so one frame never holds a whole snapshot);
//! - what a follower forwards to the leader for its clients (DESIGN.md §4): writes carrying a
//!   client session, so a retried forward applies at most once; a read-index request, after which
//!   the follower serves a linearizable read from its own state machine; membership changes.
//!
//! Every call borrows a connection of its own from the node's [`PeerPool`] (kept in a
//! `std::sync::Mutex`, because madsim's `TcpStream` is not `Sync` and openraft requires the
//! network to be).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::RPCTypes;
use redraft_core::{Payload, Reply};
use redraft_net::peer::{PeerClient, PeerError};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::node::{monotonic_now, MembershipChange, Node, NodeError};
use crate::store::{NodeAddr, TypeConfig};

/// One request between peers, addressed by node id.
#[derive(Debug, Serialize, Deserialize)]
pub struct PeerMessage {
    pub from: u64,
    pub to: u64,
    pub request: PeerRequest,
}

/// What one node asks another.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// Client writes forwarded by a follower, in order; each command carries a session.
    Write(Vec<Payload>),
    /// A follower asks for the index a linearizable read must wait for.
    ReadIndex,
    Membership(MembershipChange),
    /// Would the receiver take part in an election now (Raft's pre-vote)?
    PreVote,
}

/// The answer to a [`PeerRequest`], variant for variant.
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    Append(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    Snapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Write(Vec<Result<Reply, NodeError>>),
    ReadIndex(Result<u64, NodeError>),
    Membership(Result<String, NodeError>),
    /// The message was for another node id; the membership's address for it is stale.
    WrongNode {
        this_node: u64,
    },
    /// The message could not be decoded (a peer of another version).
    Undecodable(String),
    PreVote {
        granted: bool,
    },
    /// A vote request from a node that is not in this node's membership, as of the membership
    /// entry at `membership_index`: it was removed, and has not heard so.
    NotMember {
        membership_index: u64,
    },
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serialize(value).expect("peer messages serialize")
}

/// The Raft network factory. Its links draw connections from the node's [`PeerPool`], so a
/// leader's per-read heartbeats (openraft asks for a new link for each) reuse kept connections
/// instead of opening one per read and follower.
#[derive(Clone)]
pub struct PeerNetwork {
    pool: Arc<PeerPool>,
}

impl PeerNetwork {
    pub fn new(pool: Arc<PeerPool>) -> PeerNetwork {
        PeerNetwork { pool }
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerLink;

    async fn new_client(&mut self, target: u64, node: &NodeAddr) -> PeerLink {
        PeerLink { pool: self.pool.clone(), target, addr: node.raft_addr.clone() }
    }
}

/// openraft's link to one peer.
pub struct PeerLink {
    pool: Arc<PeerPool>,
    target: u64,
    addr: String,
}

impl PeerLink {
    async fn call(&mut self, request: PeerRequest, timeout: Duration) -> Result<PeerResponse, CallError> {
        self.pool.call(self.target, &self.addr, request, timeout).await
    }

    fn rpc_error<E: std::error::Error>(
        &self,
        error: CallError,
        action: RPCTypes,
        timeout: Duration,
    ) -> RPCError<u64, NodeAddr, E> {
        match error {
            CallError::Peer(PeerError::Timeout { .. }) => {
                RPCError::Timeout(Timeout { action, id: self.pool.from, target: self.target, timeout })
            }
            error if error.certainly_not_sent() => RPCError::Unreachable(Unreachable::new(&error)),
            error => RPCError::Network(NetworkError::new(&error)),
        }
    }
}

fn unexpected(response: &PeerResponse) -> CallError {
    CallError::Undecodable(format!("an answer of the wrong kind: {response:?}"))
}

impl RaftNetwork<TypeConfig> for PeerLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        let timeout = option.hard_ttl();
        match self.call(PeerRequest::Append(rpc), timeout).await {
            Ok(PeerResponse::Append(Ok(response))) => Ok(response),
            Ok(PeerResponse::Append(Err(error))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, error)))
            }
            Ok(other) => Err(self.rpc_error(unexpected(&other), RPCTypes::AppendEntries, timeout)),
            Err(error) => Err(self.rpc_error(error, RPCTypes::AppendEntries, timeout)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64, InstallSnapshotError>>>
    {
        let timeout = option.hard_ttl();
        match self.call(PeerRequest::Snapshot(rpc), timeout).await {
            Ok(PeerResponse::Snapshot(Ok(response))) => Ok(response),
            Ok(PeerResponse::Snapshot(Err(error))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, error)))
            }
            Ok(other) => Err(self.rpc_error(unexpected(&other), RPCTypes::InstallSnapshot, timeout)),
            Err(error) => Err(self.rpc_error(error, RPCTypes::InstallSnapshot, timeout)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        let timeout = option.hard_ttl();
        match self.call(PeerRequest::Vote(rpc), timeout).await {
            Ok(PeerResponse::Vote(Ok(response))) => Ok(response),
            Ok(PeerResponse::Vote(Err(error))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, error)))
            }
            Ok(PeerResponse::NotMember { membership_index }) => {
                self.pool.told_not_member(membership_index);
                let why = format!(
                    "node {} has no node {} in its membership as of log index {membership_index}",
                    self.target, self.pool.from
                );
                Err(RPCError::Unreachable(Unreachable::new(&std::io::Error::other(why))))
            }
            Ok(other) => Err(self.rpc_error(unexpected(&other), RPCTypes::Vote, timeout)),
            Err(error) => Err(self.rpc_error(error, RPCTypes::Vote, timeout)),
        }
    }

    fn backoff(&self) -> openraft::network::Backoff {
        // After an unreachable peer, openraft waits this long before replicating to it again; a
        // healed partition is noticed within one heartbeat or two.
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(200)))
    }
}

/// The connections a node keeps to its peers, shared by Raft's RPCs and the requests it forwards
/// for its clients. A call takes a connection of its own (an idle one, or a new one), so calls
/// never queue behind one another; a connection goes back to the pool only after a call that got
/// its answer, so one that failed or timed out is closed.
pub struct PeerPool {
    cluster: Arc<str>,
    from: u64,
    idle: Mutex<BTreeMap<String, Vec<PeerClient>>>,
    /// The newest membership index at which a peer said this node is not a member (0: none). A
    /// node removed before it received the entry that removes it learns it this way.
    not_member_at: AtomicU64,
    /// Per address, when calls may be tried again after one failed, and the next wait. Without
    /// it, a peer that stopped answering (paused, partitioned, its accept queue behind) would get
    /// a new connection for every heartbeat openraft sends, each abandoned at its timeout, and
    /// the pile of dead connections would keep it behind after it recovers.
    backoff: Mutex<BTreeMap<String, (Instant, Duration)>>,
}

/// The first wait after a failed call to a peer; it doubles with each failure up to the max.
const BACKOFF_FIRST: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_millis(320);

/// Idle connections kept per address; more are opened when needed and closed after use.
const IDLE_PER_PEER_MAX: usize = 32;

/// Why a call to a peer got no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Peer(#[from] PeerError),
    #[error("the address of node {to} is served by node {this_node}")]
    WrongNode { to: u64, this_node: u64 },
    #[error("the answer could not be read: {0}")]
    Undecodable(String),
    /// The caller stopped waiting: node `leader` stopped leading before it answered.
    #[error("node {leader} stopped leading before it answered")]
    LeaderChanged { leader: u64 },
}

/// Decodes a peer's answer to a message for node `to`, turning its refusals into errors.
fn decode_response(to: u64, bytes: &[u8]) -> Result<PeerResponse, CallError> {
    match bincode::deserialize(bytes) {
        Ok(PeerResponse::WrongNode { this_node }) => Err(CallError::WrongNode { to, this_node }),
        Ok(PeerResponse::Undecodable(why)) => Err(CallError::Undecodable(why)),
        Ok(response) => Ok(response),
        Err(error) => Err(CallError::Undecodable(error.to_string())),
    }
}

impl CallError {
    /// Whether the request certainly did not reach the leader.
    pub fn certainly_not_sent(&self) -> bool {
        match self {
            CallError::Peer(error) => error.certainly_not_sent(),
            CallError::WrongNode { .. } => true,
            CallError::Undecodable(_) | CallError::LeaderChanged { .. } => false,
        }
    }
}

impl PeerPool {
    pub fn new(cluster: Arc<str>, from: u64) -> PeerPool {
        PeerPool {
            cluster,
            from,
            idle: Mutex::new(BTreeMap::new()),
            not_member_at: AtomicU64::new(0),
            backoff: Mutex::new(BTreeMap::new()),
        }
    }

    /// Sends `request` to node `to` at `addr` and waits up to `timeout` for the answer.
    ///
    /// # Errors
    /// [`CallError`], which says whether the request may have arrived.
    pub async fn call(
        &self,
        to: u64,
        addr: &str,
        request: PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, CallError> {
        let now = monotonic_now();
        if let Some((retry_at, _)) = lock(&self.backoff).get(addr).filter(|(at, _)| *at > now) {
            let retry_in = retry_at.saturating_duration_since(now);
            return Err(CallError::Peer(PeerError::BackingOff { addr: addr.to_owned(), retry_in }));
        }
        let pooled = self.lock().get_mut(addr).and_then(Vec::pop);
        let mut client = pooled.unwrap_or_else(|| PeerClient::new(self.cluster.clone(), addr.to_owned()));
        let body = encode(&PeerMessage { from: self.from, to, request });
        let response = match client.call(&body, timeout).await {
            Ok(response) => {
                lock(&self.backoff).remove(addr);
                response
            }
            Err(error) => {
                let mut backoff = lock(&self.backoff);
                let wait = backoff.get(addr).map_or(BACKOFF_FIRST, |(_, last)| (*last * 2).min(BACKOFF_MAX));
                backoff.insert(addr.to_owned(), (monotonic_now() + wait, wait));
                return Err(error.into());
            }
        };
        let mut idle = self.lock();
        let kept = idle.entry(addr.to_owned()).or_default();
        if kept.len() < IDLE_PER_PEER_MAX {
            kept.push(client);
        }
        drop(idle);
        decode_response(to, &response)
    }

    /// The newest membership index at which a peer said this node is not a member; 0 if none did.
    /// A peer said this node is not in its membership as of `membership_index`.
    pub fn told_not_member(&self, membership_index: u64) {
        self.not_member_at.fetch_max(membership_index, Ordering::Relaxed);
    }

    pub fn not_member_at(&self) -> u64 {
        self.not_member_at.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<PeerClient>>> {
        lock(&self.idle)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Answers one peer frame's body for `node`.
pub async fn handle(node: Weak<Node>, body: Vec<u8>) -> Vec<u8> {
    if crate::fault::buggify(0.02) {
        duplicate(node.clone(), body.clone());
    }
    answer(node, body).await
}

/// Fault point: the message arrives twice, the copy up to 200 ms late and handled on its own,
/// its answer lost (a retransmission racing the original, or a retry after a lost reply). Raft's
/// messages must tolerate this by the protocol, and a forwarded write by its client session;
/// membership changes and read-index requests are never retried, so they are never copied.
fn duplicate(node: Weak<Node>, body: Vec<u8>) {
    let copied = matches!(
        bincode::deserialize::<PeerMessage>(&body).map(|message| message.request),
        Ok(PeerRequest::Append(_) | PeerRequest::Vote(_) | PeerRequest::Snapshot(_) | PeerRequest::Write(_))
    );
    if copied {
        let delay = Duration::from_millis(rand::Rng::gen_range(&mut crate::fault::rng(), 0..200));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            answer(node, body).await;
        });
    }
}

async fn answer(node: Weak<Node>, body: Vec<u8>) -> Vec<u8> {
    let Some(node) = node.upgrade() else {
        return encode(&PeerResponse::Undecodable("the node is stopping".into()));
    };
    let message: PeerMessage = match bincode::deserialize(&body) {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(%error, "a peer sent a message this node cannot decode");
            return encode(&PeerResponse::Undecodable(error.to_string()));
        }
    };
    if message.to != node.id() {
        tracing::warn!(
            from = message.from,
            to = message.to,
            this_node = node.id(),
            "a peer addressed node {} at this node's address; its membership is stale",
            message.to
        );
        return encode(&PeerResponse::WrongNode { this_node: node.id() });
    }
    let response = match message.request {
        PeerRequest::Append(rpc) => PeerResponse::Append(node.raft().append_entries(rpc).await),
        // A removed node that never received its removal keeps standing for election; it is told
        // instead of being voted on, so its growing terms never reach this node's Raft.
        PeerRequest::Vote(rpc) => match node.membership_without(message.from) {
            Some(membership_index) => PeerResponse::NotMember { membership_index },
            None => PeerResponse::Vote(node.raft().vote(rpc).await),
        },
        PeerRequest::PreVote => match node.membership_without(message.from) {
            Some(membership_index) => PeerResponse::NotMember { membership_index },
            None => PeerResponse::PreVote { granted: node.grant_pre_vote().await },
        },
        PeerRequest::Snapshot(rpc) => PeerResponse::Snapshot(node.raft().install_snapshot(rpc).await),
        PeerRequest::Write(payloads) => PeerResponse::Write(node.write_as_leader(payloads).await),
        PeerRequest::ReadIndex => PeerResponse::ReadIndex(node.read_index_as_leader().await),
        PeerRequest::Membership(change) => {
            PeerResponse::Membership(node.change_membership_as_leader(change).await)
        }
    };
    encode(&response)
}
