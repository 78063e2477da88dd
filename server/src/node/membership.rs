//! Membership: changes through the leader (a learner first, then a voter), and whether this node
//! is still a member ([`Node::check_member`]), which every read and write asks first.

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::{ChangeMembers, ServerState};

use super::Node;
use crate::clock::monotonic_now;
use crate::error::NodeError;
use crate::membership::MembershipChange;
use crate::peer::message::{PeerRequest, PeerResponse};

impl Node {
    /// Changes the membership through the leader, wherever it is.
    ///
    /// # Errors
    /// [`NodeError`]: no leader, a change the leader refuses, or a change whose outcome is
    /// unknown.
    pub async fn change_membership(&self, change: MembershipChange) -> Result<String, NodeError> {
        if self.raft.metrics().borrow().current_leader.is_none() {
            self.wait_for_leader(monotonic_now() + Duration::from_millis(self.options.leader_wait_ms)).await;
        }
        match self.current_leader() {
            None => Err(NodeError::NotLeader { leader: None }),
            Some(leader) if leader == self.id() => self.change_membership_as_leader(change).await,
            Some(leader) => {
                let addr = self.raft_addr_of(leader);
                let timeout = self.membership_timeout() + Duration::from_secs(1);
                match self.peers.call(leader, &addr, PeerRequest::Membership(change), timeout).await {
                    Ok(PeerResponse::Membership(result)) => result,
                    Ok(other) => Err(NodeError::Unknown(format!("node {leader} answered {other:?}"))),
                    Err(error) if error.certainly_not_sent() => {
                        Err(NodeError::Unavailable(format!("node {leader} could not be reached: {error}")))
                    }
                    Err(error) => {
                        Err(NodeError::Unknown(format!("forwarding to node {leader} failed: {error}")))
                    }
                }
            }
        }
    }

    fn membership_timeout(&self) -> Duration {
        Duration::from_millis(self.options.membership_timeout_ms.max(self.options.write_timeout_ms))
    }

    /// A membership change on this node, which must be the leader.
    ///
    /// # Errors
    /// As [`Node::change_membership`].
    // openraft's error type is what it is; it is matched right here, never stored.
    #[allow(clippy::result_large_err)]
    pub async fn change_membership_as_leader(&self, change: MembershipChange) -> Result<String, NodeError> {
        // One change at a time on this node, each checked against the membership it starts from.
        let _one_at_a_time = self.membership_lock.lock().await;
        self.check_may_change().await?;
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let config = membership.membership();
        let is_voter = |id: u64| config.voter_ids().any(|v| v == id);
        let is_member = |id: u64| config.get_node(&id).is_some();
        let timeout = self.membership_timeout();
        let result = match change {
            MembershipChange::Add { id, addr, voter } => {
                if is_member(id) && config.get_node(&id) != Some(&addr) {
                    return Err(NodeError::Invalid(format!(
                        "node {id} is already a member at {}; remove it first",
                        config.get_node(&id).cloned().unwrap_or_default()
                    )));
                }
                tracing::info!(id, %addr, voter, "adding a node; it catches up as a learner first");
                let added = tokio::time::timeout(timeout, self.raft.add_learner(id, addr, true)).await;
                match added {
                    Ok(Ok(_)) if voter => {
                        self.check_may_change().await?;
                        tokio::time::timeout(
                            timeout,
                            self.raft
                                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false),
                        )
                        .await
                        .map(|r| r.map(|_| format!("node {id} added as a voter")))
                    }
                    Ok(Ok(_)) => Ok(Ok(format!("node {id} added as a learner"))),
                    Ok(Err(error)) => Ok(Err(error)),
                    Err(elapsed) => Err(elapsed),
                }
            }
            MembershipChange::Promote { id } => {
                if !is_member(id) {
                    return Err(NodeError::Invalid(format!("node {id} is not a member; add it first")));
                }
                if is_voter(id) {
                    return Ok(format!("node {id} is already a voter"));
                }
                tokio::time::timeout(
                    timeout,
                    self.raft.change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false),
                )
                .await
                .map(|r| r.map(|_| format!("node {id} is a voter")))
            }
            MembershipChange::Remove { id } => {
                let changes = if is_voter(id) {
                    if config.voter_ids().count() == 1 {
                        return Err(NodeError::Invalid(format!(
                            "node {id} is the only voter; a cluster needs one"
                        )));
                    }
                    ChangeMembers::RemoveVoters(BTreeSet::from([id]))
                } else if is_member(id) {
                    ChangeMembers::RemoveNodes(BTreeSet::from([id]))
                } else {
                    return Err(NodeError::Invalid(format!("node {id} is not a member")));
                };
                tracing::info!(id, "removing a node");
                tokio::time::timeout(timeout, self.raft.change_membership(changes, false))
                    .await
                    .map(|r| r.map(|_| format!("node {id} removed")))
            }
        };
        match result {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => {
                Err(NodeError::NotLeader { leader: self.leader_addr(forward.leader_id) })
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(error)))) => {
                Err(NodeError::Invalid(error.to_string()))
            }
            Ok(Err(RaftError::Fatal(fatal))) => {
                Err(NodeError::Unknown(format!("the node is stopping: {fatal}")))
            }
            Err(_elapsed) => Err(NodeError::Unknown(format!(
                "the membership change did not finish within {} s",
                timeout.as_secs()
            ))),
        }
    }

    /// Fails unless this node leads and is a voter of the final half of its newest membership,
    /// the half every change starts from. openraft makes a change during a joint configuration
    /// into a new joint of that final half and the half changed, and asserts (openraft 0.9, a
    /// debug assertion) that only a leader still in its membership appends one: "Only leader is
    /// allowed to call update_effective_membership()". A leader outside the final half is being
    /// removed and proposes no change but the end of its own removal. Found by the simulator,
    /// scenario membership-change-during-partition, seed 2, transfer: on 5 nodes a leader cut off
    /// while removing itself timed out and was asked to remove another node; on 3 nodes a leader
    /// that had just removed itself was asked to add itself back.
    async fn check_may_change(&self) -> Result<(), NodeError> {
        let metrics = self.raft.metrics().borrow().clone();
        if metrics.state != ServerState::Leader {
            return Err(NodeError::NotLeader { leader: self.leader_addr(metrics.current_leader) });
        }
        let halves = metrics.membership_config.membership().get_joint_config().clone();
        let Some(last) = halves.last() else {
            return Err(NodeError::Unavailable("this node has no membership yet".into()));
        };
        if last.contains(&self.id()) {
            return Ok(());
        }
        if halves.len() > 1 && halves[0].contains(&self.id()) {
            // Its removal stopped halfway (the request timed out during a partition): finish it,
            // so the cluster is not held in a joint configuration for as long as this node leads.
            tracing::info!(voters = ?last, "finishing this leader's own removal");
            let finish = self.raft.change_membership(ChangeMembers::ReplaceAllVoters(last.clone()), false);
            match tokio::time::timeout(self.membership_timeout(), finish).await {
                Ok(Ok(_)) => tracing::info!("this leader's removal is committed"),
                Ok(Err(error)) => tracing::info!(%error, "this leader's removal did not finish"),
                Err(_elapsed) => tracing::info!("this leader's removal did not finish in time"),
            }
        }
        Err(NodeError::Unavailable(
            "this leader is being removed from the cluster; retry when another node leads".into(),
        ))
    }

    /// Fails when this node is not in its own newest membership: it was removed (a node waiting
    /// to join has no membership yet, and is not refused here); or when a peer said it is not in
    /// a membership at a log index this node's log has not reached. Once this node's log reaches
    /// that index its own membership decides: the peer's entry was then either replicated here
    /// too, or truncated by a leader that keeps this node.
    ///
    /// # Errors
    /// [`NodeError::Removed`].
    pub fn check_member(&self) -> Result<(), NodeError> {
        let last_log = self.raft.metrics().borrow().last_log_index.unwrap_or(0);
        let removed_at = self.membership_without(self.id()).or_else(|| {
            let told = self.peers.not_member_at();
            (told > last_log).then_some(told)
        });
        match removed_at {
            Some(membership_index) => Err(NodeError::Removed { node_id: self.id(), membership_index }),
            None => Ok(()),
        }
    }

    /// The index of this node's newest membership entry, if node `id` is not in it (`None` when
    /// it is, or when this node has no membership yet).
    pub fn membership_without(&self, id: u64) -> Option<u64> {
        let membership = self.raft.metrics().borrow().membership_config.clone();
        let index = membership.log_id().as_ref()?.index;
        let member = membership.membership().nodes().any(|(member, _)| *member == id);
        (!member).then_some(index)
    }
}
