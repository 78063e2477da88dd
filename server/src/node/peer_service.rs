//! What this node offers its peers ([`PeerService`]), and the listener that serves them on the
//! node's Raft address.

use std::future::Future;
use std::sync::Arc;

use openraft::error::RaftError;
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse};
use openraft::{LogId, Raft};
use redraft_core::{Reply, Write};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Node;
use crate::error::NodeError;
use crate::membership::MembershipChange;
use crate::peer::service::{handle, PeerService};
use crate::peer::snapshot_chunks::SnapshotChunks;
use crate::raft_types::TypeConfig;

impl PeerService for Node {
    fn node_id(&self) -> u64 {
        self.id()
    }

    fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    fn snapshot_chunks(&self) -> &SnapshotChunks {
        &self.snapshot_chunks
    }

    fn membership_without(&self, id: u64) -> Option<u64> {
        Node::membership_without(self, id)
    }

    fn append_entries(
        &self,
        rpc: AppendEntriesRequest<TypeConfig>,
    ) -> impl Future<Output = Result<AppendEntriesResponse<u64>, RaftError<u64>>> + Send {
        Node::append_entries(self, rpc)
    }

    fn note_leader_busy(&self, leader: u64, term: u64) {
        Node::note_leader_busy(self, leader, term);
    }

    fn peers_named_by_certificate(&self) -> bool {
        self.options.peer_tls.is_some()
    }

    fn grant_pre_vote(&self, last_log_id: Option<LogId<u64>>) -> impl Future<Output = bool> + Send {
        Node::grant_pre_vote(self, last_log_id)
    }

    fn hold_votes_after_start(&self) -> impl Future<Output = ()> + Send {
        Node::hold_votes_after_start(self)
    }

    fn may_vote(&self) -> bool {
        Node::may_vote(self)
    }

    fn write_as_leader(
        &self,
        writes: Vec<Write>,
    ) -> impl Future<Output = Vec<Result<Reply, NodeError>>> + Send {
        Node::write_as_leader(self, writes)
    }

    fn read_index_as_leader(&self) -> impl Future<Output = Result<u64, NodeError>> + Send {
        Node::read_index_as_leader(self)
    }

    fn change_membership_as_leader(
        &self,
        change: MembershipChange,
    ) -> impl Future<Output = Result<String, NodeError>> + Send {
        Node::change_membership_as_leader(self, change)
    }
}

impl Node {
    /// Serves peers on `listener` until `stop` turns true: openraft's RPCs, and the requests
    /// followers forward to the leader.
    pub fn serve_peers(
        self: &Arc<Node>,
        listener: TcpListener,
        stop: watch::Receiver<bool>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let weak = Arc::downgrade(self);
        redraft_net::peer::serve(
            listener,
            self.options.peer_auth(),
            move |route, body| handle(weak.clone(), route, body),
            stop,
        )
    }
}
