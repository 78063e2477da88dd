//! A node's view of the cluster ([`ClusterStatus`]) for `RAFT.INFO`, INFO replication and
//! `/v1/cluster`, and the commit index a leader derives from its followers' match indexes.

use std::collections::BTreeSet;

use openraft::ServerState;
use serde::Serialize;

use super::Node;

/// A node's view of the cluster, for `RAFT.INFO`, INFO replication and `/v1/cluster`.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterStatus {
    pub node_id: u64,
    /// `leader`, `follower`, `candidate`, `learner`, `removed` or `shutdown`.
    pub role: &'static str,
    pub leader: Option<u64>,
    pub leader_resp_addr: Option<String>,
    pub term: u64,
    pub last_log_index: u64,
    /// On the leader, the highest index a quorum of voters has; elsewhere, the applied index (a
    /// lower bound of the commit index that a follower can know).
    pub commit_index: u64,
    pub applied_index: u64,
    pub snapshot_index: u64,
    /// The newest index removed from the log (compacted into a snapshot); a node further
    /// behind catches up by snapshot.
    pub purged_index: u64,
    /// Whether this node waits to catch up with a leader before it votes again: it joined with
    /// nothing, or found its disk damaged (`catch_up.rs`). A majority of such nodes elects no
    /// leader until one that still has the log is back.
    pub catching_up: bool,
    pub members: Vec<MemberStatus>,
}

/// One member as the node sees it.
#[derive(Clone, Debug, Serialize)]
pub struct MemberStatus {
    pub id: u64,
    pub raft_addr: String,
    pub resp_addr: String,
    pub voter: bool,
    /// On the leader: the newest index the member is known to hold, and how far behind the
    /// leader's log that is.
    pub matched_index: Option<u64>,
    pub lag: Option<u64>,
    /// On the leader: whether the member answered its last call (a member that did not is shown
    /// as down); this node is always reachable; `None` elsewhere, where the node does not call
    /// the others.
    pub reachable: Option<bool>,
}

impl Node {
    /// The node's view of the cluster.
    pub fn cluster_status(&self) -> ClusterStatus {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let last_log_index = metrics.last_log_index.unwrap_or(0);
        let applied_index = metrics.last_applied.map_or(0, |id| id.index);
        let replication = metrics.replication.clone();
        let matched = |id: u64| -> Option<u64> {
            if metrics.state != ServerState::Leader {
                return None;
            }
            if id == self.id() {
                return Some(last_log_index);
            }
            replication.as_ref()?.get(&id).map(|m| m.map_or(0, |log_id| log_id.index))
        };
        let commit_index = if metrics.state == ServerState::Leader {
            quorum_index(voters.iter().map(|id| matched(*id).unwrap_or(0))).max(applied_index)
        } else {
            applied_index
        };
        let role = match metrics.state {
            _ if self.check_member().is_err() => "removed",
            ServerState::Leader => "leader",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Follower if !voters.contains(&self.id()) => "learner",
            ServerState::Follower => "follower",
            ServerState::Shutdown => "shutdown",
        };
        let members = membership
            .nodes()
            .map(|(id, addr)| {
                let matched_index = matched(*id);
                MemberStatus {
                    id: *id,
                    raft_addr: addr.raft_addr.clone(),
                    resp_addr: addr.resp_addr.clone(),
                    voter: voters.contains(id),
                    matched_index,
                    lag: matched_index.map(|m| last_log_index.saturating_sub(m)),
                    reachable: if *id == self.id() {
                        Some(true)
                    } else if metrics.state == ServerState::Leader {
                        Some(!self.peers.failing(&addr.raft_addr))
                    } else {
                        None
                    },
                }
            })
            .collect();
        ClusterStatus {
            node_id: self.id(),
            role,
            leader: metrics.current_leader,
            leader_resp_addr: metrics
                .current_leader
                .and_then(|id| membership.get_node(&id))
                .map(|addr| addr.resp_addr.clone()),
            term: metrics.current_term,
            last_log_index,
            commit_index,
            applied_index,
            snapshot_index: metrics.snapshot.map_or(0, |id| id.index),
            purged_index: metrics.purged.map_or(0, |id| id.index),
            catching_up: !self.may_vote(),
            members,
        }
    }
}

/// The highest log index that a majority of voters hold, given each voter's match index: the
/// commit index a leader derives from its replication state (Raft §5.3; the leader commits it
/// once an entry of its own term is among those, §5.4.2). 0 with no voters.
pub(super) fn quorum_index(match_indexes: impl IntoIterator<Item = u64>) -> u64 {
    let mut indexes: Vec<u64> = match_indexes.into_iter().collect();
    indexes.sort_unstable_by(|a, b| b.cmp(a));
    indexes.get(indexes.len() / 2).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index held by a majority: the median of an odd count, the lower middle of an even one.
    #[test]
    fn the_commit_index_is_what_a_majority_holds() {
        assert_eq!(quorum_index([7]), 7);
        assert_eq!(quorum_index([9, 4, 7]), 7);
        assert_eq!(quorum_index([9, 9, 1, 1]), 1, "two of four is not a majority");
        assert_eq!(quorum_index([9, 9, 9, 1]), 9);
        assert_eq!(quorum_index([5, 3, 8, 8, 1]), 5);
        assert_eq!(quorum_index(std::iter::empty()), 0);
    }
}
