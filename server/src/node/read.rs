//! Linearizable reads (DESIGN.md §4): the leader confirms its leadership with a quorum
//! (ReadIndex), a follower asks the leader for its read index, and either waits until it has
//! applied that index before reading its own state machine. The leader's confirmations are shared
//! by every read waiting for one (`read_rounds.rs`).

use std::time::Duration;

use redraft_core::{Command, Reply};
use tokio::sync::oneshot;

use super::forward::FORWARD_RETRY;
use super::read_rounds::read_rounds;
use super::Node;
use crate::clock::monotonic_now;
use crate::error::NodeError;
use crate::peer::message::{PeerRequest, PeerResponse};

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
                Some(leader) => {
                    let addr = self.raft_addr_of(leader);
                    match self.call_leader(leader, &addr, PeerRequest::ReadIndex, remaining).await {
                        Ok(PeerResponse::ReadIndex(result)) => result,
                        Ok(other) => Err(NodeError::Unavailable(format!("node {leader} answered {other:?}"))),
                        Err(error) => {
                            Err(NodeError::Unavailable(format!("asking node {leader} failed: {error}")))
                        }
                    }
                }
            };
            match index {
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
    /// read must wait for (ReadIndex). Elsewhere: `NotLeader`.
    ///
    /// # Errors
    /// [`NodeError::NotLeader`] or [`NodeError::Unavailable`].
    pub async fn read_index_as_leader(&self) -> Result<u64, NodeError> {
        let timeout = Duration::from_millis(self.options.write_timeout_ms);
        let (answer, answered) = oneshot::channel();
        let start_round = {
            let mut state = self.read_rounds.lock();
            state.waiting.push(answer);
            !std::mem::replace(&mut state.running, true)
        };
        if start_round {
            tokio::spawn(read_rounds(self.raft.clone(), self.read_rounds.clone(), timeout));
        }
        match tokio::time::timeout(timeout + Duration::from_millis(100), answered).await {
            Ok(Ok(Ok(index))) => Ok(index),
            Ok(Ok(Err(NodeError::NotLeader { leader: Some((id, _)) }))) => {
                // The round names the leader; its addresses come from this node's membership.
                Err(NodeError::NotLeader { leader: self.leader_addr(Some(id)) })
            }
            Ok(Ok(Err(error))) => Err(error),
            Ok(Err(_dropped)) => Err(NodeError::Unavailable("the node is stopping".into())),
            Err(_elapsed) => Err(NodeError::Unavailable(format!(
                "leadership not confirmed within {} ms",
                self.options.write_timeout_ms
            ))),
        }
    }

    /// Answers a read-only command linearizably.
    ///
    /// # Errors
    /// As [`Node::linearize`].
    pub async fn read(&self, command: &Command) -> Result<Reply, NodeError> {
        self.linearize().await?;
        Ok(self.state.read(command))
    }
}
