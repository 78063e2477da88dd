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
            old_shape: false,
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
    /// The peer answered an [`AppendFrame`] as undecodable (a node of an older build): appends
    /// go to it as such builds sent them, for as long as this link lives (openraft makes a new
    /// one for each replication stream, which then tries frames again).
    old_shape: bool,
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
        let request = match append::request(frame, self.old_shape) {
            Ok(request) => request,
            Err(error) => {
                let error = CallError::Undecodable(error.to_string());
                return Err(self.rpc_error(error, RPCTypes::AppendEntries, timeout));
            }
        };
        match self.call(request, timeout).await {
            Ok(PeerResponse::Append(Ok(response))) => Ok(response),
            Ok(PeerResponse::Append(Err(error))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, error)))
            }
            Ok(other) => Err(self.rpc_error(unexpected(&other), RPCTypes::AppendEntries, timeout)),
            Err(CallError::Undecodable(why)) => {
                // openraft sends the append again, then in the shape the peer may know.
                self.peer_cannot_decode_frames(&why);
                Err(self.rpc_error(CallError::Undecodable(why), RPCTypes::AppendEntries, timeout))
            }
            Err(error) => Err(self.rpc_error(error, RPCTypes::AppendEntries, timeout)),
        }
    }

    fn peer_cannot_decode_frames(&mut self, why: &str) {
        if !self.old_shape {
            tracing::info!(
                target = self.target,
                %why,
                "node {} cannot decode this build's appends; sending it appends as older builds did",
                self.target
            );
            self.old_shape = true;
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
            Some(Err(failed)) if failed.undecodable => {
                self.peer_cannot_decode_frames(&failed.reason);
                Err(RPCError::Network(NetworkError::new(&std::io::Error::other(failed.reason))))
            }
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
                    let (target, addr) = (self.target, self.addr.clone());
                    self.in_flight = Some(InFlight::start(pool, target, addr, frame, bytes, self.old_shape));
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

#[cfg(all(test, not(madsim)))]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Vote};
    use redraft_core::command::Command;
    use redraft_core::entry::{LogEntry, Payload, Write};
    use redraft_net::peer::{PeerAuth, Route};
    use serde::Deserialize;
    use tokio::net::TcpListener;
    use tokio::sync::watch;

    use super::*;
    use crate::membership::MembershipChange;
    use crate::peer::message::{decode, encode};

    /// The request enum of the builds before `AppendFrame`, variant for variant: how a node of
    /// such a build decodes a frame's body.
    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum PreviousBuildRequest {
        Append(AppendEntriesRequest<TypeConfig>),
        Vote(VoteRequest<u64>),
        Snapshot(InstallSnapshotRequest<TypeConfig>),
        Write(Vec<Write>),
        ReadIndex,
        Membership(MembershipChange),
        PreVote { last_log_id: Option<LogId<u64>> },
        LeaderBusy { term: u64 },
    }

    /// A peer answering as a node of the previous build would; returns its address and what it
    /// made of each request, in order: "append" or "undecodable".
    async fn previous_build_peer() -> (String, Arc<Mutex<Vec<&'static str>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let addr = listener.local_addr().expect("bound").to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let handler = move |_: Route, body: Vec<u8>| {
            let log = log.clone();
            async move {
                let (what, answer) = match decode::<PreviousBuildRequest>(&body) {
                    Ok(PreviousBuildRequest::Append(_)) => {
                        ("append", PeerResponse::Append(Ok(AppendEntriesResponse::Success)))
                    }
                    Ok(_) => ("other", PeerResponse::Noted),
                    Err(error) => ("undecodable", PeerResponse::Undecodable(error.to_string())),
                };
                log.lock().expect("not poisoned").push(what);
                encode(&answer)
            }
        };
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            redraft_net::peer::serve(listener, PeerAuth::open("test".into()), handler, stopped).await;
            drop(stop);
        });
        (addr, seen)
    }

    fn append() -> AppendEntriesRequest<TypeConfig> {
        let args = [Bytes::from_static(b"SET"), Bytes::from_static(b"k"), Bytes::from_static(b"v")];
        let write = Write::Command { session: None, command: Command::parse(&args).expect("a SET") };
        let entry = Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), 1),
            payload: EntryPayload::Normal(LogEntry::new(1, Payload::Batch { writes: Arc::new(vec![write]) })),
        };
        AppendEntriesRequest {
            vote: Vote::new_committed(1, 1),
            prev_log_id: None,
            leader_commit: None,
            entries: vec![entry],
        }
    }

    /// A peer of the previous build answers a frame as undecodable; the link's next append, as
    /// openraft sends it again, goes in the shape that peer knows and succeeds. So does a large
    /// (detached) append, whose heartbeat then takes the old shape too.
    #[tokio::test]
    async fn a_peer_of_the_previous_build_gets_appends_in_its_shape() {
        for large_append_bytes in [usize::MAX, 1] {
            let (addr, seen) = previous_build_peer().await;
            let pool = Arc::new(PeerPool::new(PeerAuth::open("test".into()), 1));
            let node = NodeAddr { raft_addr: addr, resp_addr: String::new() };
            let mut link = PeerNetwork::new(pool, large_append_bytes).new_client(2, &node).await;
            let option = RPCOption::new(Duration::from_secs(5));
            assert!(link.append_entries(append(), option.clone()).await.is_err(), "a frame is not decoded");
            let answer = link.append_entries(append(), option).await;
            assert!(matches!(answer, Ok(AppendEntriesResponse::Success)), "{answer:?}");
            let seen = seen.lock().expect("not poisoned").clone();
            assert_eq!(seen.first(), Some(&"undecodable"), "{seen:?}");
            assert!(
                seen.iter().skip_while(|what| **what == "undecodable").all(|what| *what == "append"),
                "{seen:?}"
            );
            assert!(seen.contains(&"append"), "{seen:?}");
        }
    }

    /// An append in the old shape is laid out as the previous build laid its appends out, so
    /// that build's leader is understood here (the service answers both shapes).
    #[test]
    fn the_old_shape_is_the_previous_builds() {
        let body = encode(&PeerRequest::Append(append()));
        assert!(matches!(decode::<PreviousBuildRequest>(&body), Ok(PreviousBuildRequest::Append(_))));
        let frame = encode(&append::request(AppendFrame::new(append()), false).expect("a frame"));
        assert!(decode::<PreviousBuildRequest>(&frame).is_err(), "a frame is new to that build");
    }
}
