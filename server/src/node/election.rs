//! Elections with a pre-vote in front (Raft thesis §9.6). openraft's own elections are off
//! (`enable_elect: false`); the node's duties call [`Node::stand_for_election`], which asks the
//! voters first and triggers openraft's election only when a quorum of every configuration would
//! take part. Whether a quorum said yes is [`pre_vote_quorum`], a plain function.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::{LogId, ServerState};

use super::options::NodeOptions;
use super::Node;
use crate::peer::message::{PeerRequest, PeerResponse};

impl Node {
    /// How long since this node last heard from an established leader (or voted, or stood for
    /// election): the age of its vote's lease in openraft; zero while this node leads, `None`
    /// if it never did any of these.
    /// An append from the leader that is being handled, or was lately, counts too
    /// (`leader_contact.rs`).
    async fn leader_silence(&self) -> Option<Duration> {
        let contact = self.leader_contact.silence();
        if contact == Some(Duration::ZERO) {
            return contact;
        }
        let raft = self
            .raft
            .with_raft_state(|state| {
                if state.server_state == ServerState::Leader {
                    return Some(Duration::ZERO);
                }
                // On openraft's runtime clock, which is virtual time in the simulator too.
                state.vote_last_modified().map(|at| openraft::Instant::elapsed(&at))
            })
            .await
            .ok()
            .flatten();
        match (raft, contact) {
            (Some(raft), Some(contact)) => Some(raft.min(contact)),
            (raft, contact) => raft.or(contact),
        }
    }

    /// [`Node::leader_silence`] and the id of the last entry in this node's log.
    async fn silence_and_last_log(&self) -> (Option<Duration>, Option<LogId<u64>>) {
        (self.leader_silence().await, self.log.last_log_id().await)
    }

    /// Answers a pre-vote ([`pre_vote_granted`]) for a candidate whose log ends at
    /// `candidate_last_log`.
    pub async fn grant_pre_vote(&self, candidate_last_log: Option<LogId<u64>>) -> bool {
        if !self.may_vote() {
            return false;
        }
        let lease = Duration::from_millis(self.options.election_timeout_ms_min);
        let (silence, last_log) = self.silence_and_last_log().await;
        pre_vote_granted(silence, lease, candidate_last_log, last_log)
    }

    /// Whether this node may vote at all: not while it catches up after joining with an empty
    /// log or finding its disk damaged (`catch_up.rs`).
    pub fn may_vote(&self) -> bool {
        let applied = self.raft.metrics().borrow().last_applied.map_or(0, |id| id.index);
        self.catch_up.may_vote(applied)
    }

    /// Waits until `election_timeout_ms_max` has passed since this node started, before it
    /// answers a vote request. openraft refuses votes for that long after a heartbeat from the
    /// leader (its follower lease), which the read lease leans on (`read_lease.rs`); a restart
    /// forgets when the last heartbeat came, so a node that acknowledged a leader's lease and
    /// restarted at once could otherwise vote for another leader while that lease still held.
    pub(super) async fn hold_votes_after_start(&self) {
        tokio::time::sleep_until(self.votes_from()).await;
    }

    /// When this node may vote, for another or for itself: `election_timeout_ms_max` after it
    /// started.
    fn votes_from(&self) -> tokio::time::Instant {
        self.started + Duration::from_millis(self.options.election_timeout_ms_max)
    }

    fn votes_allowed(&self) -> bool {
        crate::clock::monotonic_now() >= self.votes_from()
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
        let (silence, last_log_id) = self.silence_and_last_log().await;
        if !others.is_empty() && silence.is_some_and(|silence| silence < timeout) {
            return false;
        }
        // Its own vote counts toward the quorum as any other, so it waits as it does before
        // granting one ([`Node::hold_votes_after_start`]).
        if !others.is_empty() && !self.votes_allowed() {
            return false;
        }
        let ask_timeout = Duration::from_millis(self.options.election_timeout_ms_min);
        let asks = others.iter().map(|&id| {
            let addr = self.raft_addr_of(id);
            async move {
                let granted =
                    match self.peers.call(id, &addr, PeerRequest::PreVote { last_log_id }, ask_timeout).await
                    {
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
        // The pre-vote takes up to a round trip's timeout: a leader heard from meanwhile (one
        // that woke from a pause, or whose partition healed) keeps this node a follower, as
        // openraft's follower lease would refuse another candidate now. The simulator's
        // `lease-reads-under-drift` seed 4 on 3 nodes elected a node that had acknowledged the
        // woken leader's lease 120 ms before, while that leader served leased reads.
        let heard_meanwhile = quorum
            && !others.is_empty()
            && self.leader_silence().await.is_some_and(|silence| silence < timeout);
        if quorum && !heard_meanwhile {
            tracing::info!(?granted, "pre-vote granted by a quorum; standing for election");
            let _ = self.raft.trigger().elect().await;
        }
        true
    }
}

/// A random election timeout within the node's bounds, drawn anew after every pre-vote.
///
/// With the read lease on, the bounds move up by their spread, so that the earliest is
/// `election_timeout_ms_max`: a node's vote for itself must wait as long as openraft makes its
/// vote for another wait after a heartbeat (its follower lease), or a follower that acknowledged
/// the leader's lease could elect itself, with the votes of nodes that did not, while that lease
/// still holds (the simulator's `lease-reads-under-drift` seed 10 on 5 nodes did: two leaders
/// served leased reads at once). openraft's own election timer waits the lease plus a timeout
/// for the same reason.
pub(super) fn random_election_timeout(options: &NodeOptions) -> Duration {
    let (low, high) = (options.election_timeout_ms_min, options.election_timeout_ms_max);
    let shift = if options.read_lease_ms > 0 { high.saturating_sub(low) } else { 0 };
    Duration::from_millis(rand::Rng::gen_range(&mut crate::fault::rng(), low + shift..=high.max(low) + shift))
}

/// Whether a node grants a pre-vote: not while it leads or has heard from a leader within `lease`
/// (the minimum election timeout), so that a node that was cut off or paused cannot depose a
/// leader the others still follow; and only to a candidate whose log is at least as up to date as
/// its own, as the real vote would (Raft thesis §9.6). Without the second rule a node that fell
/// behind passes the pre-vote, stands, loses on its log, and leaves a higher term behind it that
/// makes the nodes that could win refuse the leader's entries (the simulator's
/// `lease-reads-under-drift` seed 14 on 5 nodes went 20 s without a leader so).
fn pre_vote_granted(
    silence: Option<Duration>,
    lease: Duration,
    candidate_last_log: Option<LogId<u64>>,
    last_log: Option<LogId<u64>>,
) -> bool {
    silence.is_none_or(|silence| silence >= lease) && candidate_last_log >= last_log
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

    fn log_id(term: u64, index: u64) -> Option<LogId<u64>> {
        Some(LogId::new(openraft::CommittedLeaderId::new(term, 1), index))
    }

    /// A pre-vote goes to a candidate whose log is at least as up to date, from a node that has
    /// not heard from a leader for the lease.
    #[test]
    fn a_pre_vote_needs_silence_and_a_log_as_long() {
        let lease = Duration::from_millis(150);
        let (quiet, recent) = (Some(Duration::from_millis(200)), Some(Duration::from_millis(100)));
        assert!(pre_vote_granted(quiet, lease, log_id(3, 10), log_id(3, 10)));
        assert!(pre_vote_granted(None, lease, log_id(3, 10), log_id(2, 40)), "a later term is newer");
        assert!(!pre_vote_granted(recent, lease, log_id(3, 10), log_id(3, 10)), "heard from a leader");
        assert!(!pre_vote_granted(quiet, lease, log_id(3, 9), log_id(3, 10)), "a shorter log");
        assert!(!pre_vote_granted(quiet, lease, log_id(2, 40), log_id(3, 10)), "an older term");
        assert!(!pre_vote_granted(quiet, lease, None, log_id(1, 1)), "an empty log");
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
