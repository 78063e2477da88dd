//! The incoming half of the peer protocol: what a node answers on its Raft address. Each frame's
//! body is decoded, checked against the route in its header (a frame meant for another node id
//! is refused, so a stale address in the membership cannot make one node answer for another),
//! and handed to the node through [`PeerService`], the few calls the node offers its peers. The
//! node implements it (`node/peer_service.rs`); this file never names the node, so the node
//! builds on the peer floor and not the other way round.

use std::future::Future;
use std::sync::Weak;
use std::time::Duration;

use openraft::error::RaftError;
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse};
use openraft::{LogId, Raft};
use redraft_core::{Reply, Write};
use redraft_net::peer::Route;

use super::message::{decode, encode, PeerRequest, PeerResponse};
use super::snapshot_chunks::SnapshotChunks;
use crate::error::NodeError;
use crate::membership::MembershipChange;
use crate::raft_types::TypeConfig;

/// What a node offers its peers.
pub trait PeerService: Send + Sync + 'static {
    /// This node's id: frames routed to another id are refused.
    fn node_id(&self) -> u64;
    /// The Raft instance that answers openraft's RPCs.
    fn raft(&self) -> &Raft<TypeConfig>;
    /// An append from a leader, handed to Raft.
    fn append_entries(
        &self,
        rpc: AppendEntriesRequest<TypeConfig>,
    ) -> impl Future<Output = Result<AppendEntriesResponse<u64>, RaftError<u64>>> + Send;
    /// The snapshot being received, which bounds where its next chunk may land.
    fn snapshot_chunks(&self) -> &SnapshotChunks;
    /// The index of this node's newest membership entry, if node `id` is not in it.
    fn membership_without(&self, id: u64) -> Option<u64>;
    /// Node `leader` says it leads in `term` and is handling a large entry.
    fn note_leader_busy(&self, leader: u64, term: u64);
    /// Whether peers prove which node they are (mutual TLS): then only members are answered.
    fn peers_named_by_certificate(&self) -> bool;
    /// Whether this node would take part in an election now, for a candidate whose log ends at
    /// `last_log_id` (the pre-vote).
    fn grant_pre_vote(&self, last_log_id: Option<LogId<u64>>) -> impl Future<Output = bool> + Send;
    /// Returns once this node may answer a vote request (for a while after it starts it may
    /// not: it has forgotten when it last heard from the leader).
    fn hold_votes_after_start(&self) -> impl Future<Output = ()> + Send;
    /// Whether this node may vote at all (not while it catches up after joining with nothing).
    fn may_vote(&self) -> bool;
    /// Client writes a follower forwarded: applied if this node leads, refused otherwise.
    fn write_as_leader(
        &self,
        writes: Vec<Write>,
    ) -> impl Future<Output = Vec<Result<Reply, NodeError>>> + Send;
    /// A follower's ReadIndex request.
    fn read_index_as_leader(&self) -> impl Future<Output = Result<u64, NodeError>> + Send;
    /// A membership change a follower forwarded.
    fn change_membership_as_leader(
        &self,
        change: MembershipChange,
    ) -> impl Future<Output = Result<String, NodeError>> + Send;
}

/// Answers one peer frame (its route and body) for `node`.
pub async fn handle<N: PeerService>(node: Weak<N>, route: Route, body: Vec<u8>) -> Vec<u8> {
    if crate::fault::buggify(0.02) {
        duplicate(node.clone(), route, body.clone());
    }
    encode(&answer(node, route, body).await)
}

/// Fault point: the message arrives twice, the copy up to 200 ms late and handled on its own,
/// its answer lost (a retransmission racing the original, or a retry after a lost reply). Only
/// requests whose protocol tolerates it are copied ([`PeerRequest::tolerates_duplicates`]).
fn duplicate<N: PeerService>(node: Weak<N>, route: Route, body: Vec<u8>) {
    if decode::<PeerRequest>(&body).is_ok_and(|request| request.tolerates_duplicates()) {
        let delay = Duration::from_millis(rand::Rng::gen_range(&mut crate::fault::rng(), 0..200));
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            answer(node, route, body).await;
        });
    }
}

async fn answer<N: PeerService>(node: Weak<N>, route: Route, body: Vec<u8>) -> PeerResponse {
    let Some(node) = node.upgrade() else {
        return PeerResponse::Undecodable("the node is stopping".into());
    };
    let request: PeerRequest = match decode(&body) {
        Ok(request) => request,
        Err(error) => {
            tracing::warn!(from = route.from, %error, "a peer sent a message this node cannot decode");
            return PeerResponse::Undecodable(error.to_string());
        }
    };
    if route.to != node.node_id() {
        tracing::warn!(
            from = route.from,
            to = route.to,
            this_node = node.node_id(),
            "a peer addressed node {} at this node's address; its membership is stale",
            route.to
        );
        return PeerResponse::WrongNode { this_node: node.node_id() };
    }
    if node.peers_named_by_certificate() && !request.asks_for_a_vote() {
        // The transport checked that `from` is the node the peer's certificate names; a node
        // with a good certificate is still answered only while it is a member (a node being
        // added is one from the moment the leader adds it). A node with no membership yet
        // answers whoever the CA vouches for: it is waiting to be added.
        if let Some(membership_index) = node.membership_without(route.from) {
            tracing::warn!(
                from = route.from,
                membership_index,
                "refused a peer: its certificate names node {}, which is not a member",
                route.from
            );
            return PeerResponse::Refused(format!(
                "node {} is not a member of this cluster (membership at index {membership_index}); a \
                 new node is answered once an administrator adds it",
                route.from
            ));
        }
    }
    match request {
        PeerRequest::Append(rpc) => PeerResponse::Append(node.append_entries(rpc).await),
        PeerRequest::AppendFrame(frame) => match frame.into_request() {
            Ok(rpc) => PeerResponse::Append(node.append_entries(rpc).await),
            Err(error) => {
                tracing::warn!(from = route.from, %error, "a peer sent entries this node cannot decode");
                PeerResponse::Undecodable(error.to_string())
            }
        },
        // A removed node that never received its removal keeps standing for election; it is told
        // instead of being voted on, so its growing terms never reach this node's Raft.
        PeerRequest::Vote(rpc) => match node.membership_without(route.from) {
            Some(membership_index) => PeerResponse::NotMember { membership_index },
            None if !node.may_vote() => PeerResponse::Refused(format!(
                "node {} joined with an empty log and votes once it has caught up",
                node.node_id()
            )),
            None => {
                node.hold_votes_after_start().await;
                PeerResponse::Vote(node.raft().vote(rpc).await)
            }
        },
        PeerRequest::PreVote { last_log_id } => match node.membership_without(route.from) {
            Some(membership_index) => PeerResponse::NotMember { membership_index },
            None => PeerResponse::PreVote { granted: node.grant_pre_vote(last_log_id).await },
        },
        PeerRequest::Snapshot(rpc) => {
            match node.snapshot_chunks().admit(&rpc.meta.snapshot_id, rpc.offset, rpc.data.len()) {
                Ok(()) => PeerResponse::Snapshot(node.raft().install_snapshot(rpc).await),
                Err(reason) => {
                    tracing::warn!(from = route.from, "refused a snapshot chunk: {reason}");
                    PeerResponse::Refused(reason)
                }
            }
        }
        PeerRequest::Write(payloads) => PeerResponse::Write(node.write_as_leader(payloads).await),
        PeerRequest::ReadIndex => PeerResponse::ReadIndex(node.read_index_as_leader().await),
        PeerRequest::Membership(change) => {
            PeerResponse::Membership(node.change_membership_as_leader(change).await)
        }
        PeerRequest::LeaderBusy { term } => {
            node.note_leader_busy(route.from, term);
            PeerResponse::Noted
        }
    }
}
