//! Appends from the leader that this node is handling now, or finished lately, counted as hearing
//! from it for the pre-vote (`election.rs`). openraft notes a leader's contact when an append
//! reaches its core; a large append then keeps the core busy (writing and syncing the entry) for
//! longer than an election timeout, after which the node looked as if its leader had been silent
//! all that while: it stood for election, or granted another's pre-vote, and deposed a leader
//! that was only sending it a large value.
//!
//! The leader's own core is as busy writing such an entry, and sends no heartbeats meanwhile; so
//! while it handles one ([`Node::announce_busy`]) it tells the other members every heartbeat
//! interval, from a task of its own, that it is alive ([`PeerRequest::LeaderBusy`]), for as long
//! as the entry's append may take at most. This is contact for the pre-vote only: Raft's votes
//! and the read lease keep openraft's own rules.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::error::RaftError;
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse};
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::Node;
use crate::clock::monotonic_now;
use crate::peer::append::large_append_deadline;
use crate::peer::message::PeerRequest;
use crate::raft_types::TypeConfig;

/// Appends from the leader in progress, and when the last one finished.
#[derive(Default)]
pub(super) struct LeaderContact {
    in_progress: AtomicUsize,
    last_done: Mutex<Option<Instant>>,
}

/// One append in progress; finished when dropped.
struct InProgress<'a>(&'a LeaderContact);

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        *self.0.last_done.lock() = Some(monotonic_now());
        self.0.in_progress.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LeaderContact {
    fn begin(&self) -> InProgress<'_> {
        self.in_progress.fetch_add(1, Ordering::Relaxed);
        InProgress(self)
    }

    /// Counts now as hearing from the leader.
    fn touch(&self) {
        *self.last_done.lock() = Some(monotonic_now());
    }

    /// How long since an append from the leader was being handled: zero while one is, `None`
    /// if none ever was.
    pub(super) fn silence(&self) -> Option<Duration> {
        if self.in_progress.load(Ordering::Relaxed) > 0 {
            return Some(Duration::ZERO);
        }
        self.last_done.lock().map(|at| monotonic_now().saturating_duration_since(at))
    }
}

impl Node {
    /// Hands a peer's append to Raft, counting it as contact with the leader when it comes from
    /// a leader at least as new as the one this node knows (a deposed leader's append is
    /// refused by Raft, and is not contact).
    pub(super) async fn append_entries(
        &self,
        rpc: AppendEntriesRequest<TypeConfig>,
    ) -> Result<AppendEntriesResponse<u64>, RaftError<u64>> {
        let current = self.raft.metrics().borrow().vote;
        let _contact = (rpc.vote >= current).then(|| self.leader_contact.begin());
        self.raft.append_entries(rpc).await
    }
}

impl Node {
    /// Node `leader` says it leads in `term` and is busy with a large entry: contact, if this
    /// node follows that very leader in that term.
    pub(super) fn note_leader_busy(&self, leader: u64, term: u64) {
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.current_leader == Some(leader) && metrics.current_term == term {
            self.leader_contact.touch();
        }
    }

    /// While this leader handles an entry of `bytes` bytes (until the returned guard is
    /// dropped, or the entry's append could take no longer), tells every other member each
    /// heartbeat interval that it is alive.
    pub(super) fn announce_busy(self: &Arc<Node>, bytes: usize) -> oneshot::Sender<()> {
        let (guard, mut done) = oneshot::channel::<()>();
        let node = Arc::downgrade(self);
        let until = monotonic_now() + large_append_deadline(bytes);
        let every = Duration::from_millis(self.options.heartbeat_ms);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut done => return,
                    () = tokio::time::sleep(every) => {}
                }
                let Some(node) = node.upgrade() else { return };
                let metrics = node.raft.metrics().borrow().clone();
                if monotonic_now() > until || metrics.current_leader != Some(node.id()) {
                    return;
                }
                let term = metrics.current_term;
                for (id, addr) in metrics.membership_config.membership().nodes() {
                    if *id == node.id() {
                        continue;
                    }
                    let (peers, id, addr) = (node.peers.clone(), *id, addr.raft_addr.clone());
                    tokio::spawn(async move {
                        let _ = peers.call(id, &addr, PeerRequest::LeaderBusy { term }, every).await;
                    });
                }
            }
        });
        guard
    }
}
