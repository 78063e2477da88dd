//! Elections with a pre-vote in front (Raft thesis §9.6). openraft's own elections are off
//! (`enable_elect: false`); the node's duties call [`Node::stand_for_election`], which asks the
//! voters first and triggers openraft's election only when a quorum of every configuration would
//! take part. Whether a quorum said yes is [`pre_vote_quorum`], a plain function.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::ServerState;

use super::options::NodeOptions;
use super::Node;
use crate::peer::message::{PeerRequest, PeerResponse};

impl Node {
    /// How long since this node last heard from an established leader (or voted, or stood for
    /// election): the age of its vote's lease in openraft; zero while this node leads, `None`
    /// if it never did any of these.
    async fn leader_silence(&self) -> Option<Duration> {
        self.raft
            .with_raft_state(|state| {
                if state.server_state == ServerState::Leader {
                    return Some(Duration::ZERO);
                }
                // On openraft's runtime clock, which is virtual time in the simulator too.
                state.vote_last_modified().map(|at| openraft::Instant::elapsed(&at))
            })
            .await
            .ok()
            .flatten()
    }

    /// Answers a pre-vote: whether this node would take part in an election now. It would not
    /// while it leads or has heard from a leader within the minimum election timeout, so a node
    /// that was cut off or paused cannot depose a leader the others still follow. (The logs are
    /// compared by the real vote, as openraft does.)
    pub async fn grant_pre_vote(&self) -> bool {
        let lease = Duration::from_millis(self.options.election_timeout_ms_min);
        self.leader_silence().await.is_none_or(|silence| silence >= lease)
    }

    /// Raft's election with a pre-vote in front (Raft thesis §9.6): once this node has not heard
    /// from a leader for `timeout`, it asks the voters whether they would take part in an
    /// election, and starts one only when a quorum of every configuration of the membership
    /// (this node included) says yes. A node whose term would otherwise climb while it is cut off
    /// or paused then comes back without deposing the leader. Returns whether it asked.
    ///
    /// A sole voter does not wait: no other node can lead, so there is nothing to hear from (a
    /// restarted single node serves again without an election timeout's pause).
    pub(super) async fn stand_for_election(&self, timeout: Duration) -> bool {
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let configs = membership.membership().get_joint_config().clone();
        if !configs.iter().any(|voters| voters.contains(&self.id())) {
            return false;
        }
        let others: BTreeSet<u64> = configs.iter().flatten().copied().filter(|&id| id != self.id()).collect();
        if !others.is_empty() && self.leader_silence().await.is_some_and(|silence| silence < timeout) {
            return false;
        }
        let ask_timeout = Duration::from_millis(self.options.election_timeout_ms_min);
        let asks = others.iter().map(|&id| {
            let addr = self.raft_addr_of(id);
            async move {
                let granted = match self.peers.call(id, &addr, PeerRequest::PreVote, ask_timeout).await {
                    Ok(PeerResponse::PreVote { granted }) => granted,
                    Ok(PeerResponse::NotMember { membership_index }) => {
                        self.peers.told_not_member(membership_index);
                        false
                    }
                    _ => false,
                };
                (id, granted)
            }
        });
        let mut granted: BTreeSet<u64> = futures::future::join_all(asks)
            .await
            .into_iter()
            .filter_map(|(id, granted)| granted.then_some(id))
            .collect();
        granted.insert(self.id());
        let quorum = pre_vote_quorum(&configs, &granted);
        tracing::debug!(?granted, quorum, "pre-vote");
        if quorum {
            tracing::info!(?granted, "pre-vote granted by a quorum; standing for election");
            let _ = self.raft.trigger().elect().await;
        }
        true
    }
}

/// A random election timeout within the node's bounds, drawn anew after every pre-vote.
pub(super) fn random_election_timeout(options: &NodeOptions) -> Duration {
    let (low, high) = (options.election_timeout_ms_min, options.election_timeout_ms_max);
    Duration::from_millis(rand::Rng::gen_range(&mut crate::fault::rng(), low..=high.max(low)))
}

/// Whether the nodes in `granted` are a quorum of every configuration in `configs` (one, or two
/// in a joint membership, where a decision needs a majority of each: Raft thesis §4.3).
pub(super) fn pre_vote_quorum(configs: &[BTreeSet<u64>], granted: &BTreeSet<u64>) -> bool {
    configs.iter().all(|voters| voters.intersection(granted).count() * 2 > voters.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u64]) -> BTreeSet<u64> {
        ids.iter().copied().collect()
    }

    /// A strict majority is needed, and in a joint membership a majority of each half: the old
    /// configuration's majority alone does not elect.
    #[test]
    fn a_pre_vote_needs_a_majority_of_every_configuration() {
        let three = [set(&[1, 2, 3])];
        assert!(pre_vote_quorum(&three, &set(&[1, 2])));
        assert!(!pre_vote_quorum(&three, &set(&[1])));
        assert!(!pre_vote_quorum(&three, &set(&[1, 4, 5])), "votes from non-voters do not count");
        let four = [set(&[1, 2, 3, 4])];
        assert!(!pre_vote_quorum(&four, &set(&[1, 2])), "half is not a majority");
        let joint = [set(&[1, 2, 3]), set(&[3, 4, 5])];
        assert!(!pre_vote_quorum(&joint, &set(&[1, 2])));
        assert!(pre_vote_quorum(&joint, &set(&[1, 3, 4])));
    }
}
