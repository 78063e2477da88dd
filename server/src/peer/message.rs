//! What one node asks another over the peer transport, and the answers: the body of a peer
//! frame, in bincode. Who sends it to whom travels in the frame's header (`redraft_net::peer`),
//! not here, so tools between peers never decode a body.
//!
//! - openraft's three RPCs: append-entries (its entries encoded as the leader's log holds them,
//!   `append_frame.rs`), vote, and install-snapshot, which openraft sends in chunks of
//!   `snapshot_max_chunk_size`, so one frame never holds a whole snapshot;
//! - what a follower forwards to the leader for its clients (DESIGN.md §4): writes carrying a
//!   client session, so a retried forward applies at most once; a read-index request, after which
//!   the follower serves a linearizable read from its own state machine; membership changes;
//! - the pre-vote (Raft thesis §9.6), and a busy leader's word that it is alive.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::LogId;
use redraft_core::{Reply, Write};
use serde::{Deserialize, Serialize};

use super::append_frame::AppendFrame;
use crate::error::NodeError;
use crate::membership::MembershipChange;
use crate::raft_types::TypeConfig;

/// What one node asks another. New variants go at the end, so that a node of an older build
/// still decodes every request it knows, and answers the others [`PeerResponse::Undecodable`].
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    /// An append in the shape builds before [`PeerRequest::AppendFrame`] sent, its entries
    /// encoded with the frame: still answered, and still sent to a peer that cannot decode
    /// frames (`raft_network.rs`), so that a cluster upgrades one node at a time.
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// Client writes forwarded by a follower, in order; each command carries a session.
    Write(Vec<Write>),
    /// A follower asks for the index a linearizable read must wait for.
    ReadIndex,
    Membership(MembershipChange),
    /// Would the receiver take part in an election now, for a candidate whose log ends at
    /// `last_log_id` (Raft's pre-vote)?
    PreVote {
        last_log_id: Option<LogId<u64>>,
    },
    /// The leader of `term` is handling a large entry, which holds up its heartbeats; the
    /// receiver counts this as hearing from it, for its pre-vote only (`node/leader_contact.rs`).
    LeaderBusy {
        term: u64,
    },
    /// An append with its entries as the leader's log encoded them (`append_frame.rs`).
    AppendFrame(AppendFrame),
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
    /// The request was refused without being handled, for the reason given (a snapshot chunk
    /// past what has arrived of its snapshot).
    Refused(String),
    /// A [`PeerRequest::LeaderBusy`] was taken note of.
    Noted,
}

impl PeerRequest {
    /// Whether the protocol tolerates this request arriving twice: Raft's messages by Raft's
    /// rules, a forwarded write by its client session. Membership changes and read-index requests
    /// are never retried, so the simulator never delivers them twice.
    pub fn tolerates_duplicates(&self) -> bool {
        matches!(
            self,
            PeerRequest::Append(_)
                | PeerRequest::AppendFrame(_)
                | PeerRequest::Vote(_)
                | PeerRequest::Snapshot(_)
                | PeerRequest::Write(_)
        )
    }

    /// Whether this is a (pre-)vote request, which a node that is not a member is answered with
    /// [`PeerResponse::NotMember`], so that a removed node learns it.
    pub fn asks_for_a_vote(&self) -> bool {
        matches!(self, PeerRequest::Vote(_) | PeerRequest::PreVote { .. })
    }
}

/// Encodes a request or an answer as a frame's body, in one walk of it (`bincode::serialize`
/// would size it in a walk of its own first: an append's every write, for every follower).
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENCODE_CAPACITY);
    bincode::serialize_into(&mut out, value).expect("peer messages serialize");
    out
}

/// What [`encode`] starts with: a heartbeat or a vote fits, a batch grows from it.
const ENCODE_CAPACITY: usize = 256;

/// Decodes a frame's body.
///
/// # Errors
/// The body is not a message of this version.
pub fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, bincode::Error> {
    bincode::deserialize(body)
}
