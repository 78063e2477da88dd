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
use tokio::time::Instant;

use super::Node;
use crate::clock::monotonic_now;
use crate::peer::append::large_append_deadline;
use crate::peer::message::PeerRequest;
use crate::raft_types::TypeConfig;

/// Appends from the leader in progress, and when the last one finished; and, on a leader, the
/// large entries it is handling.
#[derive(Default)]
pub(super) struct LeaderContact {
    in_progress: AtomicUsize,
    last_done: Mutex<Option<Instant>>,
    announcing: Mutex<Announcing>,
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
        let _contact = (rpc.vote >= current).then(|| {
            self.catch_up.note_leader_commit(rpc.vote.leader_id().get_term(), rpc.leader_commit);
            self.leader_contact.begin()
        });
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
    /// dropped), tells every other member each heartbeat interval that it is alive, from one task
    /// for all the large entries in progress, for no longer than the largest one's append could
    /// take.
    pub(super) fn announce_busy(self: &Arc<Node>, bytes: usize) -> BusyGuard {
        let until = monotonic_now() + large_append_deadline(bytes);
        let mut announcing = self.leader_contact.announcing.lock();
        announcing.entries += 1;
        announcing.until = announcing.until.max(Some(until));
        if !announcing.task_running {
            announcing.task_running = true;
            tokio::spawn(announce(Arc::downgrade(self), Duration::from_millis(self.options.heartbeat_ms)));
        }
        BusyGuard(Arc::downgrade(self))
    }
}

/// The large entries a leader is handling, and its announcing task.
#[derive(Default)]
pub(super) struct Announcing {
    entries: usize,
    until: Option<Instant>,
    task_running: bool,
}

/// One large entry in progress; finished when dropped.
pub(super) struct BusyGuard(std::sync::Weak<Node>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        if let Some(node) = self.0.upgrade() {
            let mut announcing = node.leader_contact.announcing.lock();
            announcing.entries = announcing.entries.saturating_sub(1);
            if announcing.entries == 0 {
                announcing.until = None;
            }
        }
    }
}

/// Every `every`, while the node leads and has a large entry in progress, a `LeaderBusy` to each
/// other member; ends when there is none (or the node is gone).
async fn announce(node: std::sync::Weak<Node>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(node) = node.upgrade() else { return };
        {
            let mut announcing = node.leader_contact.announcing.lock();
            if announcing.entries == 0 || announcing.until.is_none_or(|until| monotonic_now() > until) {
                announcing.task_running = false;
                return;
            }
        }
        let metrics = node.raft.metrics().borrow().clone();
        if metrics.current_leader != Some(node.id()) {
            continue;
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
}
