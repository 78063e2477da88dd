//! Client writes (DESIGN.md §2): stamped with the leader's clock, proposed, made durable,
//! committed, applied, and only then answered. On the leader a batch is proposed all before any
//! is awaited, so it shares log appends and syncs; on a follower it is forwarded to the leader
//! (`forward.rs`) with a client session per write.

use std::sync::atomic::Ordering;
use std::time::Duration;

use openraft::error::ClientWriteError;
use redraft_core::{LogEntry, Payload, Reply, SessionRef};

use super::Node;
use crate::clock::monotonic_now;
use crate::error::NodeError;

impl Node {
    /// Proposes one write and waits for its reply.
    ///
    /// # Errors
    /// [`NodeError`]: not the leader (did not happen), unknown outcome, or unavailable.
    pub async fn write(&self, payload: Payload) -> Result<Reply, NodeError> {
        self.write_batch(vec![payload]).await.pop().expect("one reply per payload")
    }

    /// Applies client writes in order through the leader, wherever it is, and returns their
    /// replies in the same order. On the leader they are proposed all before any is awaited, so
    /// they share log appends and syncs (a pipeline of writes costs one group commit). On a
    /// follower they are forwarded to the leader with a client session each, and a forward whose
    /// outcome is unclear is retried until the write timeout: the session makes the state machine
    /// apply each write at most once (DESIGN.md §4).
    pub async fn write_batch(&self, payloads: Vec<Payload>) -> Vec<Result<Reply, NodeError>> {
        if let Err(removed) = self.check_member() {
            return payloads.iter().map(|_| Err(removed.clone())).collect();
        }
        let deadline = monotonic_now() + Duration::from_millis(self.options.write_timeout_ms);
        if self.raft.metrics().borrow().current_leader.is_none() {
            self.wait_for_leader(deadline).await;
        }
        if !self.is_leader() {
            return self.forward_writes(payloads, deadline).await;
        }
        let mut replies = self.write_local(payloads.clone()).await;
        // A write refused with NotLeader never reached the log here; leadership moved while the
        // batch was proposed, so send those on to the new leader.
        let moved: Vec<usize> = (0..replies.len())
            .filter(|&i| {
                matches!(&replies[i], Err(NodeError::NotLeader { leader: Some((id, _)) }) if *id != self.id())
            })
            .collect();
        if !moved.is_empty() {
            let again =
                self.forward_writes(moved.iter().map(|&i| payloads[i].clone()).collect(), deadline).await;
            for (i, reply) in moved.into_iter().zip(again) {
                replies[i] = reply;
            }
        }
        replies
    }

    /// Proposes writes on this node, which must be the leader, and waits for their replies.
    pub(super) async fn write_local(&self, payloads: Vec<Payload>) -> Vec<Result<Reply, NodeError>> {
        let mut replies: Vec<Result<Reply, NodeError>> = Vec::with_capacity(payloads.len());
        let mut pending = Vec::with_capacity(payloads.len());
        for payload in payloads {
            let entry = LogEntry { stamp_ms: self.next_stamp_ms(), payload };
            match self.raft.client_write_ff(entry).await {
                Ok(receiver) => pending.push(Some(receiver)),
                Err(fatal) => {
                    // The request never reached Raft.
                    pending.push(None);
                    replies.push(Err(NodeError::Unavailable(format!("the node is stopping: {fatal}"))));
                }
            }
        }
        let mut early = replies.into_iter();
        let mut out = Vec::with_capacity(pending.len());
        let timeout = Duration::from_millis(self.options.write_timeout_ms);
        for receiver in pending {
            let Some(receiver) = receiver else {
                out.push(early.next().expect("an error for each unsent write"));
                continue;
            };
            out.push(match tokio::time::timeout(timeout, receiver).await {
                Ok(Ok(Ok(response))) => Ok(response.data),
                // openraft answers ForwardToLeader for a write it refused before appending, or
                // whose entry was truncated by a new leader: neither can be applied.
                Ok(Ok(Err(ClientWriteError::ForwardToLeader(forward)))) => {
                    Err(NodeError::NotLeader { leader: self.leader_addr(forward.leader_id) })
                }
                Ok(Ok(Err(ClientWriteError::ChangeMembershipError(error)))) => {
                    Err(NodeError::Unavailable(error.to_string()))
                }
                Ok(Err(_closed)) => {
                    Err(NodeError::Unknown("the node stopped before the write was applied".into()))
                }
                Err(_elapsed) => {
                    Err(NodeError::Unknown(format!("no outcome within {} ms", self.options.write_timeout_ms)))
                }
            });
        }
        out
    }

    /// Writes forwarded to this node by a follower: applied here if this node leads, refused
    /// with `NotLeader` (certainly not applied) otherwise; never forwarded again.
    pub async fn write_as_leader(&self, payloads: Vec<Payload>) -> Vec<Result<Reply, NodeError>> {
        if !self.is_leader() {
            let refusal = NodeError::NotLeader { leader: self.leader_addr(self.current_leader()) };
            return payloads.iter().map(|_| Err(refusal.clone())).collect();
        }
        if payloads.iter().any(|p| matches!(p, Payload::TimeAdvance | Payload::ExpireBatch { .. })) {
            let refusal = NodeError::Invalid("only client writes can be forwarded".into());
            return payloads.iter().map(|_| Err(refusal.clone())).collect();
        }
        self.write_local(payloads).await
    }

    /// Gives every client write a session of its own, so that forwarding it again after an
    /// unclear outcome cannot apply it twice.
    pub(super) fn with_session(&self, payload: Payload) -> Payload {
        let fresh = || SessionRef {
            client_id: self.session_base.wrapping_add(self.session_next.fetch_add(1, Ordering::Relaxed)),
            sequence: 1,
        };
        match payload {
            Payload::Command { session: None, command } => {
                Payload::Command { session: Some(fresh()), command }
            }
            Payload::Transaction { session: None, watches, commands } => {
                Payload::Transaction { session: Some(fresh()), watches, commands }
            }
            other => other,
        }
    }
}
