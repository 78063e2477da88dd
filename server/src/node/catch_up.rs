//! A node that joins with nothing on disk (a new node, or one whose data directory was lost and
//! that comes back under its old id) does not vote until it holds what the cluster had committed
//! when the leader first reached it. Raft's vote rule (a candidate's log at least as up to date as
//! the voter's) assumes the voter still has every entry it ever acknowledged; a wiped node has
//! none, so it could help elect a candidate that lacks entries committed with its own help, and
//! those entries would be lost (openraft's FAQ, "Can I wipe out the data of ONE node"). Until it
//! has caught up it grants neither pre-votes nor votes; Raft only needs the others' answers.
//!
//! A node whose log was found damaged at start (`storage/segment_log.rs`: a record whose
//! checksum fails, cut back to the intact prefix) is in the same place: it may have
//! acknowledged the entries it dropped, so it waits the same way ("Protocol-Aware Recovery for
//! Consensus-Based Storage", FAST '18: a node never votes with a log it does not have).

use openraft::LogId;
use parking_lot::Mutex;

use super::options::StartError;
use crate::storage::catch_up_marker::{write_catch_up_marker, CATCH_UP_MARKER};
use crate::storage::disk::Disk;

/// Writes the catch-up marker, durably, before anything the node held is dropped.
///
/// # Errors
/// The marker cannot be written: the node must not start.
pub(super) async fn write_marker<D: Disk>(disk: &D) -> Result<(), StartError> {
    write_catch_up_marker(disk).await.map_err(|e| StartError::Raft(format!("writing {CATCH_UP_MARKER}: {e}")))
}

/// Where a joining node stands.
#[derive(Debug, PartialEq, Eq)]
enum Stage {
    /// Votes as Raft says.
    Done,
    /// Joined with nothing, not yet reached by a leader.
    Waiting,
    /// Reached by a leader whose commit index was this: votes once it has applied it.
    Until(u64),
}

/// Whether this node may vote yet.
pub(super) struct CatchUp {
    stage: Mutex<Stage>,
    /// Called once, when the node has caught up (it removes [`CATCH_UP_MARKER`]).
    on_done: Box<dyn Fn() + Send + Sync>,
}

impl CatchUp {
    /// For a node that must catch up first (`waiting`: it joined with an empty log, found its
    /// log damaged, or restarted before it had caught up), or one that votes at once.
    pub(super) fn new(waiting: bool, on_done: Box<dyn Fn() + Send + Sync>) -> CatchUp {
        CatchUp { stage: Mutex::new(if waiting { Stage::Waiting } else { Stage::Done }), on_done }
    }

    /// An append from the leader of `term`, whose last committed entry is `leader_commit`.
    ///
    /// Only a commit of the leader's own term sets the bar. A leader's log holds every entry
    /// committed before it, and its term's first entry comes after them all, so once an entry of
    /// its term is committed its commit index covers them. Before that its commit index can lag
    /// far behind what earlier leaders committed: a leader just restarted starts from what its
    /// state machine had applied. A damaged node that took such a bar (0) voted at once, before
    /// it held the entries it had acknowledged, and helped a node without them lead: acknowledged
    /// increments were lost (simulator, damaged-voter, counter, 3 nodes, seed 1;
    /// `sim/tests/simulation.rs`).
    pub(super) fn note_leader_commit(&self, term: u64, leader_commit: Option<LogId<u64>>) {
        let Some(commit) = leader_commit.filter(|id| id.leader_id.get_term() == term) else { return };
        let mut stage = self.stage.lock();
        if *stage == Stage::Waiting {
            let index = commit.index;
            tracing::info!(
                index,
                term,
                "joined with an empty or damaged log: votes once entry {index} is applied"
            );
            *stage = Stage::Until(index);
        }
    }

    /// Whether the node may vote, having applied up to `applied`.
    pub(super) fn may_vote(&self, applied: u64) -> bool {
        let mut stage = self.stage.lock();
        match *stage {
            Stage::Done => true,
            Stage::Waiting => false,
            Stage::Until(index) if applied >= index => {
                tracing::info!(applied, "caught up with the cluster: votes again");
                *stage = Stage::Done;
                (self.on_done)();
                true
            }
            Stage::Until(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pristine_joiner_votes_only_once_it_applied_the_commit_index_it_first_heard() {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = done.clone();
        let on_done = Box::new(move || {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let catch_up = CatchUp::new(true, on_done);
        assert!(!catch_up.may_vote(0), "not reached by a leader yet");
        catch_up.note_leader_commit(7, Some(commit(7, 500)));
        catch_up.note_leader_commit(7, Some(commit(7, 900)));
        assert!(!catch_up.may_vote(499));
        assert!(catch_up.may_vote(500), "the first commit index heard is the bar");
        assert!(catch_up.may_vote(0), "and once caught up it stays so");
        assert_eq!(done.load(std::sync::atomic::Ordering::Relaxed), 1, "the marker goes once");
        assert!(CatchUp::new(false, Box::new(|| {})).may_vote(0), "a node with its log votes as Raft says");
    }

    fn commit(term: u64, index: u64) -> LogId<u64> {
        LogId::new(openraft::CommittedLeaderId::new(term, 2), index)
    }

    /// A leader that has not yet committed an entry of its own term (just elected, or restarted
    /// with a state machine behind its log) sets no bar: its commit index may be below entries
    /// earlier leaders committed with this node's help.
    #[test]
    fn only_a_commit_of_the_leaders_own_term_sets_the_bar() {
        let catch_up = CatchUp::new(true, Box::new(|| {}));
        catch_up.note_leader_commit(8, None);
        catch_up.note_leader_commit(8, Some(commit(7, 0)));
        catch_up.note_leader_commit(8, Some(commit(5, 300)));
        assert!(!catch_up.may_vote(300), "no commit of term 8 heard yet");
        catch_up.note_leader_commit(8, Some(commit(8, 420)));
        assert!(!catch_up.may_vote(419));
        assert!(catch_up.may_vote(420), "the first commit of the leader's own term is the bar");
    }
}
