//! A node that joins with nothing on disk (a new node, or one whose data directory was lost and
//! that comes back under its old id) does not vote until it holds what the cluster had committed
//! when the leader first reached it. Raft's vote rule (a candidate's log at least as up to date as
//! the voter's) assumes the voter still has every entry it ever acknowledged; a wiped node has
//! none, so it could help elect a candidate that lacks entries committed with its own help, and
//! those entries would be lost (openraft's FAQ, "Can I wipe out the data of ONE node"). Until it
//! has caught up it grants neither pre-votes nor votes; Raft only needs the others' answers.

use parking_lot::Mutex;

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
#[derive(Debug)]
pub(super) struct CatchUp(Mutex<Stage>);

impl CatchUp {
    /// For a node that joins with an empty log (`pristine_join`), or one that votes at once.
    pub(super) fn new(pristine_join: bool) -> CatchUp {
        CatchUp(Mutex::new(if pristine_join { Stage::Waiting } else { Stage::Done }))
    }

    /// An append from a leader whose commit index is `leader_commit`.
    pub(super) fn note_leader_commit(&self, leader_commit: u64) {
        let mut stage = self.0.lock();
        if *stage == Stage::Waiting {
            tracing::info!(
                leader_commit,
                "joined with an empty log: votes once entry {leader_commit} is applied"
            );
            *stage = Stage::Until(leader_commit);
        }
    }

    /// Whether the node may vote, having applied up to `applied`.
    pub(super) fn may_vote(&self, applied: u64) -> bool {
        let mut stage = self.0.lock();
        match *stage {
            Stage::Done => true,
            Stage::Waiting => false,
            Stage::Until(index) if applied >= index => {
                tracing::info!(applied, "caught up with the cluster: votes again");
                *stage = Stage::Done;
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
        let catch_up = CatchUp::new(true);
        assert!(!catch_up.may_vote(0), "not reached by a leader yet");
        catch_up.note_leader_commit(500);
        catch_up.note_leader_commit(900);
        assert!(!catch_up.may_vote(499));
        assert!(catch_up.may_vote(500), "the first commit index heard is the bar");
        assert!(catch_up.may_vote(0), "and once caught up it stays so");
        assert!(CatchUp::new(false).may_vote(0), "a node with its log votes as Raft says");
    }
}
