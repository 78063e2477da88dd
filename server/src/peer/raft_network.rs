//! openraft's network over the node's [`PeerPool`]: the factory openraft asks for a link to each
//! peer, and the link that turns openraft's three RPCs into peer calls and the pool's errors into
//! the ones openraft acts on (an unreachable peer is backed off; a timeout is retried). Appends
//! are sized and timed for their bytes ([`super::append`]).

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::RPCTypes;
use redraft_net::peer::PeerError;

use super::append::{self, InFlight, Plan};
use super::append_frame::AppendFrame;
use super::message::{PeerRequest, PeerResponse};
use super::pool::{CallError, PeerPool};
use crate::addr::NodeAddr;
use crate::raft_types::TypeConfig;

/// The Raft network factory. Its links draw connections from the node's [`PeerPool`], so a
/// leader's per-read heartbeats (openraft asks for a new link for each) reuse kept connections
/// instead of opening one per read and follower.
#[derive(Clone)]
pub struct PeerNetwork {
    pool: Arc<PeerPool>,
    /// Appends of at least this many bytes are sent detached ([`super::append`]).
    large_append_bytes: usize,
}

impl PeerNetwork {
    pub fn new(pool: Arc<PeerPool>, large_append_bytes: usize) -> PeerNetwork {
        PeerNetwork { pool, large_append_bytes }
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerLink;

    async fn new_client(&mut self, target: u64, node: &NodeAddr) -> PeerLink {
        PeerLink {
            pool: self.pool.clone(),
            target,
            addr: node.raft_addr.clone(),
            large_append_bytes: self.large_append_bytes,
            in_flight: None,
        }
    }
}

/// openraft's link to one peer.
pub struct PeerLink {
    pool: Arc<PeerPool>,
    target: u64,
    addr: String,
    large_append_bytes: usize,
    /// A large append on its way, which openraft may have given up waiting for.
    in_flight: Option<InFlight>,
}

impl PeerLink {
    async fn call(&mut self, request: PeerRequest, timeout: Duration) -> Result<PeerResponse, CallError> {
        self.pool.call(self.target, &self.addr, request, timeout).await
    }

    async fn append_now(
        &mut self,
        frame: AppendFrame,
        timeout: Duration,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        match self.call(PeerRequest::Append(frame), timeout).await {
            Ok(PeerResponse::Append(Ok(response))) => Ok(response),
            Ok(PeerResponse::Append(Err(error))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, error)))
            }
            Ok(other) => Err(self.rpc_error(unexpected(&other), RPCTypes::AppendEntries, timeout)),
            Err(error) => Err(self.rpc_error(error, RPCTypes::AppendEntries, timeout)),
        }
    }

    /// The answer of the append in flight, for a request whose last entry is `asked_last`
    /// (openraft stops waiting after its timeout; the append goes on).
    async fn await_in_flight(
        &mut self,
        asked_last: Option<openraft::LogId<u64>>,
        timeout: Duration,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        let in_flight = self.in_flight.as_ref().expect("an append in flight");
        let outcome = in_flight.answer(&self.pool, self.target, &self.addr, asked_last, timeout).await;
        self.in_flight = None;
        match outcome {
            Some(Ok(response)) => Ok(response),
            Some(Err(failed)) if failed.not_sent => {
                Err(RPCError::Unreachable(Unreachable::new(&std::io::Error::other(failed.reason))))
            }
            Some(Err(failed)) => {
                Err(RPCError::Network(NetworkError::new(&std::io::Error::other(failed.reason))))
            }
            None => {
                Err(RPCError::Network(NetworkError::new(&std::io::Error::other("the append's task ended"))))
            }
        }
    }

    fn rpc_error<E: std::error::Error>(
        &self,
        error: CallError,
        action: RPCTypes,
        timeout: Duration,
    ) -> RPCError<u64, NodeAddr, E> {
        match error {
            CallError::Peer(PeerError::Timeout { .. }) => {
                RPCError::Timeout(Timeout { action, id: self.pool.node_id(), target: self.target, timeout })
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
        let asked_last = rpc.entries.last().map(|entry| entry.log_id);
        if !self.in_flight.as_ref().is_some_and(|in_flight| in_flight.covers(&rpc)) {
            let frame = match append::plan(rpc, self.large_append_bytes) {
                Plan::Now(frame) => frame,
                Plan::Fewer(entries) => {
                    return Err(RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(entries)))
                }
                Plan::Detached(frame, bytes) => {
                    let pool = self.pool.clone();
                    self.in_flight =
                        Some(InFlight::start(pool, self.target, self.addr.clone(), frame, bytes));
                    return self.await_in_flight(asked_last, timeout).await;
                }
            };
            return self.append_now(frame, timeout).await;
        }
        self.await_in_flight(asked_last, timeout).await
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
                    self.target,
                    self.pool.node_id()
                );
                Err(RPCError::Unreachable(Unreachable::new(&std::io::Error::other(why))))
            }
            Ok(other) => Err(self.rpc_error(unexpected(&other), RPCTypes::Vote, timeout)),
            Err(error) => Err(self.rpc_error(error, RPCTypes::Vote, timeout)),
        }
    }

    fn backoff(&self) -> openraft::network::Backoff {
        // After an unreachable peer, openraft waits this long before replicating to it again
        // (and drops the heartbeats due meanwhile). The pool's own backoff already keeps calls
        // to a dead address apart (answering at once while it waits), so this one is short: a
        // follower that was only slow to answer hears from the leader again within a heartbeat,
        // where 200 ms on top of the timeout and the pool's wait silenced the leader past the
        // election timeout on a loaded machine.
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(20)))
    }
}
