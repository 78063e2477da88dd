//! Linearizable reads (DESIGN.md §4): the leader confirms its leadership with a quorum
//! (ReadIndex), a follower asks the leader for its read index, and either waits until it has
//! applied that index before reading its own state machine. Confirmations on the leader, and
//! requests for the read index on a follower, are shared by every read waiting for one
//! (`read_rounds.rs`). With `--read-lease` a leader inside its lease skips the quorum round
//! (`read_lease.rs`).

use std::collections::BTreeSet;
use std::time::Duration;

use openraft::{Raft, ServerState};
use redraft_core::{Command, Reply, StateMachine, Write};

use super::forward::call_leader;
use super::forward::FORWARD_RETRY;
use super::read_lease::{lease_read_index, ReadLease};
use super::read_rounds::{leader_round, run_rounds};
use super::Node;
use crate::clock::{monotonic_now, Clock};
use crate::error::NodeError;
use crate::peer::message::{PeerRequest, PeerResponse};
use crate::peer::pool::PeerPool;
use crate::raft_types::TypeConfig;

impl Node {
    /// Confirms that a read served from this node's state machine after it returns is
    /// linearizable. On the leader: leadership confirmed by a quorum (openraft's
    /// `ensure_linearizable`) and everything committed before the call applied. On a follower:
    /// the leader confirms its leadership and names its commit index (ReadIndex), and this node
    /// waits until it has applied that index.
    ///
    /// # Errors
    /// [`NodeError::NotLeader`] or [`NodeError::Unavailable`]; a read that fails had no effect.
    pub async fn linearize(&self) -> Result<(), NodeError> {
        self.check_member()?;
        // Most reads: a leader alone, or inside its lease, knows its read index without a round,
        // and has applied it. No clock read, no allocation, no wait.
        if self
            .sole_voter_read_index()
            .or_else(|| self.lease_read_index())
            .is_some_and(|i| self.has_applied(i))
        {
            return Ok(());
        }
        let deadline = monotonic_now() + Duration::from_millis(self.options.write_timeout_ms);
        if self.raft.metrics().borrow().current_leader.is_none() {
            self.wait_for_leader(deadline).await;
        }
        let mut last_error = NodeError::Unavailable("no leader is known".into());
        while monotonic_now() < deadline {
            let remaining = deadline.saturating_duration_since(monotonic_now());
            let index = match self.current_leader() {
                None => Err(NodeError::Unavailable("no leader is known".into())),
                Some(leader) if leader == self.id() => match self.read_index_as_leader().await {
                    // The leader reads its own state machine once it has applied the read index.
                    Ok(index) => Ok(index),
                    Err(error) => Err(error),
                },
                Some(_) => {
                    let timeout = Duration::from_millis(self.options.write_timeout_ms);
                    let (raft, peers) = (self.raft.clone(), self.peers.clone());
                    self.follower_read_rounds
                        .join(remaining, move |rounds| async move {
                            run_rounds(rounds, || follower_round(&raft, &peers, timeout)).await
                        })
                        .await
                }
            };
            match index {
                // Applied already: no wait to set up.
                Ok(index) if self.has_applied(index) => return Ok(()),
                Ok(index) => {
                    let remaining = deadline.saturating_duration_since(monotonic_now());
                    return match self
                        .raft
                        .wait(Some(remaining))
                        .applied_index_at_least(Some(index), "the read index is applied")
                        .await
                    {
                        Ok(_) => Ok(()),
                        Err(error) => Err(NodeError::Unavailable(format!(
                            "this node did not apply the read index {index} in time: {error}"
                        ))),
                    };
                }
                Err(error @ NodeError::Invalid(_)) => return Err(error),
                Err(error) => last_error = error,
            }
            if self.current_leader().is_none() {
                self.wait_for_leader(deadline).await;
            } else {
                tokio::time::sleep(FORWARD_RETRY.min(deadline.saturating_duration_since(monotonic_now())))
                    .await;
            }
        }
        Err(last_error)
    }

    /// On the leader: confirms leadership with a quorum and returns the index a linearizable
    /// read must wait for (ReadIndex); a leader that is the only voter needs no quorum round
    /// ([`sole_voter_read_index`]). Elsewhere: `NotLeader`.
    ///
    /// # Errors
    /// [`NodeError::NotLeader`] or [`NodeError::Unavailable`].
    pub async fn read_index_as_leader(&self) -> Result<u64, NodeError> {
        if let Some(index) = self.sole_voter_read_index() {
            return Ok(index);
        }
        if let Some(index) = self.lease_read_index() {
            return Ok(index);
        }
        let timeout = Duration::from_millis(self.options.write_timeout_ms);
        let (raft, lease, clock) = (self.raft.clone(), self.read_lease.clone(), self.clock.clone());
        let result = self
            .read_rounds
            .join(timeout, move |rounds| async move {
                run_rounds(rounds, || leased_round(&raft, &lease, &*clock, timeout)).await
            })
            .await;
        match result {
            Err(NodeError::NotLeader { leader: Some((id, _)) }) => {
                // The round names the leader; its addresses come from this node's membership.
                Err(NodeError::NotLeader { leader: self.leader_addr(Some(id)) })
            }
            other => other,
        }
    }

    /// Whether this node's state machine has applied `index`: the state's own index says so,
    /// or openraft's, which it publishes once the state machine applied an entry, and which
    /// alone counts the blank and membership entries that leave the state as it was. A new
    /// leader's first entry is blank: until the next write, every read waited on openraft's
    /// metrics for an index applied long before (`perf record` of GETs: 1 % of the node's
    /// time formatting the wait's description).
    fn has_applied(&self, index: u64) -> bool {
        self.state.applied_index() >= index
            || self.raft.metrics().borrow().last_applied.is_some_and(|id| id.index >= index)
    }

    fn sole_voter_read_index(&self) -> Option<u64> {
        // Borrowed, not cloned: this runs for every batch of reads.
        let receiver = self.raft.metrics();
        let metrics = receiver.borrow();
        let configs = metrics.membership_config.membership().get_joint_config();
        let is_leader = metrics.state == ServerState::Leader && metrics.running_state.is_ok();
        let applied = metrics.last_applied.map(|id| (id.leader_id.term, id.index));
        sole_voter_read_index(is_leader, configs, self.id(), metrics.current_term, applied)
    }

    /// The read index under the leader's read lease ([`lease_read_index`]), if it holds one; a
    /// read past half the lease starts a round in the background that renews it.
    fn lease_read_index(&self) -> Option<u64> {
        if !self.read_lease.enabled() {
            return None;
        }
        let (is_leader, term, applied) = {
            let receiver = self.raft.metrics();
            let metrics = receiver.borrow();
            let is_leader = metrics.state == ServerState::Leader && metrics.running_state.is_ok();
            (is_leader, metrics.current_term, metrics.last_applied.map(|id| (id.leader_id.term, id.index)))
        };
        let until = self.read_lease.until(term);
        let now = self.clock.monotonic_ms();
        let index = lease_read_index(until, now, is_leader, term, applied, self.state().applied_index())?;
        if until.is_some_and(|until| self.read_lease.start_renewal(until, now)) {
            let timeout = Duration::from_millis(self.options.write_timeout_ms);
            let (raft, lease, clock) = (self.raft.clone(), self.read_lease.clone(), self.clock.clone());
            tokio::spawn(async move {
                let _ = leased_round(&raft, &lease, &*clock, timeout).await;
                lease.renewed();
            });
        }
        Some(index)
    }

    /// [`Node::linearize`] for a read that must not see a key past its deadline by this
    /// node's clock (DESIGN.md §3). The state's time moves only with entries, so after the
    /// confirmation, when `outlives(state, now)` says the read could see such a key, an empty
    /// transaction is committed first (through the leader, in a batch with other writes): its
    /// entry carries the leader's time, and a second confirmation makes sure this node applied
    /// it. Only reads of keys whose deadlines have just passed pay for it. A key is then seen
    /// past its deadline only by as much as the leader's clock is behind this node's.
    ///
    /// # Errors
    /// As [`Node::linearize`] and [`Node::write`].
    pub async fn linearize_at_now(
        &self,
        outlives: impl Fn(&StateMachine, u64) -> bool,
    ) -> Result<(), NodeError> {
        self.linearize().await?;
        if !outlives(&self.state, self.clock.now_ms()) {
            return Ok(());
        }
        self.write(Write::Transaction { session: None, watches: Vec::new(), commands: Vec::new() }).await?;
        self.linearize().await
    }

    /// Answers a read-only command linearizably, at this node's time.
    ///
    /// # Errors
    /// As [`Node::linearize_at_now`].
    pub async fn read(&self, command: &Command) -> Result<Reply, NodeError> {
        self.linearize_at_now(|state, now| state.read_outlives_deadline(command, now)).await?;
        Ok(self.state.read(command))
    }
}

/// A leader round ([`leader_round`]) that, when a quorum confirms, extends the read lease from
/// the moment before the round began: every confirmation the quorum sent was sent after it.
async fn leased_round(
    raft: &Raft<TypeConfig>,
    lease: &ReadLease,
    clock: &dyn Clock,
    timeout: Duration,
) -> Result<u64, NodeError> {
    if !lease.enabled() {
        return leader_round(raft, timeout).await;
    }
    let term = raft.metrics().borrow().current_term;
    let started = clock.monotonic_ms();
    let result = leader_round(raft, timeout).await;
    if result.is_ok() {
        lease.confirmed(term, started);
    }
    result
}

/// One follower round: asks the leader of the moment for its read index, in one peer request for
/// every read that joined the round.
async fn follower_round(
    raft: &Raft<TypeConfig>,
    peers: &PeerPool,
    timeout: Duration,
) -> Result<u64, NodeError> {
    let (leader, addr) = {
        let metrics = raft.metrics();
        let metrics = metrics.borrow();
        let Some(leader) = metrics.current_leader else {
            return Err(NodeError::Unavailable("no leader is known".into()));
        };
        let addr = metrics.membership_config.membership().get_node(&leader).map(|a| a.raft_addr.clone());
        (leader, addr.unwrap_or_default())
    };
    match call_leader(raft, peers, leader, &addr, PeerRequest::ReadIndex, timeout).await {
        Ok(PeerResponse::ReadIndex(result)) => result,
        Ok(other) => Err(NodeError::Unavailable(format!("node {leader} answered {other:?}"))),
        Err(error) => Err(NodeError::Unavailable(format!("asking node {leader} failed: {error}"))),
    }
}

/// The read index a leader may answer from its own state, with no quorum round: its applied
/// index, when it is the only voter of a single configuration (no joint change in flight) and has
/// applied an entry of its own term, so that everything committed before it was elected is
/// applied too. A write is acknowledged only once applied, so every write acknowledged before
/// the read is at or below that index.
///
/// Why no other node can be leading meanwhile: while this node is the only voter, any other
/// leader needs its vote, which would depose it first; a membership that adds a voter is appended
/// by this node itself, and its metrics show it from then on. What this leans on is that
/// openraft's metrics trail its state by far less than an election timeout, as a leader lease
/// leans on clocks. `None` otherwise: the read takes a confirmation round.
fn sole_voter_read_index(
    is_leader: bool,
    configs: &[BTreeSet<u64>],
    id: u64,
    current_term: u64,
    applied: Option<(u64, u64)>,
) -> Option<u64> {
    let sole_voter = matches!(configs, [voters] if voters.len() == 1 && voters.contains(&id));
    match applied {
        Some((term, index)) if is_leader && sole_voter && term == current_term => Some(index),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voters(ids: &[u64]) -> BTreeSet<u64> {
        ids.iter().copied().collect()
    }

    /// Only a ready leader that is the one voter of one configuration skips the round.
    #[test]
    fn only_a_ready_sole_voter_reads_without_a_quorum_round() {
        let alone = [voters(&[1])];
        assert_eq!(sole_voter_read_index(true, &alone, 1, 3, Some((3, 42))), Some(42));
        assert_eq!(sole_voter_read_index(false, &alone, 1, 3, Some((3, 42))), None, "not the leader");
        assert_eq!(
            sole_voter_read_index(true, &alone, 1, 3, Some((2, 40))),
            None,
            "nothing of its own term applied yet: entries of earlier terms may be unapplied"
        );
        assert_eq!(sole_voter_read_index(true, &alone, 1, 3, None), None);
        assert_eq!(sole_voter_read_index(true, &[voters(&[1, 2, 3])], 1, 3, Some((3, 42))), None);
        assert_eq!(sole_voter_read_index(true, &[voters(&[2])], 1, 3, Some((3, 42))), None, "not its voter");
        let joint = [voters(&[1]), voters(&[1, 2])];
        assert_eq!(sole_voter_read_index(true, &joint, 1, 3, Some((3, 42))), None, "a voter is being added");
    }
}
