//! Client writes (DESIGN.md §2): stamped with the leader's clock, proposed, made durable,
//! committed, applied, and only then answered. On the leader every write joins the proposer's
//! queue (`proposer.rs`), which packs the writes of all clients waiting into one batch entry; on
//! a follower writes are forwarded to the leader (`forward.rs`) with a client session each.

use std::num::NonZeroU64;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redraft_core::limits::WRITE_WEIGHT_MAX;
use redraft_core::{LogEntry, Payload, Reply, SessionRef, Write};
use tokio::sync::oneshot;

use super::proposer::{groups, outcome, Pending};
use super::Node;
use crate::clock::monotonic_now;
use crate::error::NodeError;

impl Node {
    /// Applies one write and waits for its reply.
    ///
    /// # Errors
    /// [`NodeError`]: not the leader (did not happen), unknown outcome, or unavailable.
    pub async fn write(&self, write: Write) -> Result<Reply, NodeError> {
        self.write_batch(vec![write]).await.pop().expect("one reply per write")
    }

    /// Applies client writes in order through the leader, wherever it is, and returns their
    /// replies in the same order. On the leader they join the proposer's queue together, so a
    /// pipeline rides in one batch entry with every other client's writes. On a follower they are
    /// forwarded to the leader with a client session each, and a forward whose outcome is unclear
    /// is retried until the write timeout: the session makes the state machine apply each write
    /// at most once (DESIGN.md §4).
    pub async fn write_batch(&self, writes: Vec<Write>) -> Vec<Result<Reply, NodeError>> {
        refusing_oversized(writes, |writes| self.write_sized(writes)).await
    }

    async fn write_sized(&self, writes: Vec<Write>) -> Vec<Result<Reply, NodeError>> {
        if let Err(removed) = self.check_member() {
            return writes.iter().map(|_| Err(removed.clone())).collect();
        }
        let deadline = monotonic_now() + Duration::from_millis(self.options.write_timeout_ms);
        if self.raft.metrics().borrow().current_leader.is_none() {
            self.wait_for_leader(deadline).await;
        }
        if !self.is_leader() {
            return self.forward_writes(writes, deadline).await;
        }
        // A write that leadership left behind while it was proposed is not sent on to the new
        // leader: its entry may survive in another node's log and be committed there, and it has
        // no session to keep a second copy from applying (the proposer answers it `Unknown`).
        self.write_local(writes).await
    }

    /// Queues writes for the proposer on this node, which must be the leader, and waits for
    /// their replies, within the write timeout for all of them.
    pub(super) async fn write_local(&self, writes: Vec<Write>) -> Vec<Result<Reply, NodeError>> {
        let timeout = Duration::from_millis(self.options.write_timeout_ms);
        let count = writes.len();
        let waiting: Vec<(usize, Option<oneshot::Receiver<_>>)> = groups(writes)
            .into_iter()
            .map(|(writes, bytes)| {
                let size = writes.len();
                let (reply, receiver) = oneshot::channel();
                (size, self.proposals.send(Pending { writes, bytes, reply }).ok().map(|()| receiver))
            })
            .collect();
        let mut out = Vec::with_capacity(count);
        let collect = async {
            for (size, receiver) in waiting {
                match receiver {
                    Some(receiver) => match receiver.await {
                        Ok(replies) => out.extend(replies),
                        Err(_dropped) => out.extend((0..size).map(|_| {
                            Err(NodeError::Unknown("the node stopped before the write was applied".into()))
                        })),
                    },
                    // The proposer has stopped: the writes never reached Raft.
                    None => out.extend(
                        (0..size).map(|_| Err(NodeError::Unavailable("the node is stopping".into()))),
                    ),
                }
            }
        };
        let _ = tokio::time::timeout(timeout, collect).await;
        while out.len() < count {
            out.push(Err(NodeError::Unknown(format!("no outcome within {} ms", timeout.as_millis()))));
        }
        out
    }

    /// Proposes one entry of the leader's own (an expiry batch, a time advance) on its own,
    /// outside the client batches, and waits for its reply.
    pub(super) async fn propose_alone(&self, payload: Payload) -> Result<Reply, NodeError> {
        let entry = LogEntry::new(self.next_stamp_ms(), payload);
        let receiver = self
            .raft
            .client_write_ff(entry)
            .await
            .map_err(|fatal| NodeError::Unavailable(format!("the node is stopping: {fatal}")))?;
        let timeout = Duration::from_millis(self.options.write_timeout_ms);
        outcome(receiver, timeout)
            .await?
            .pop()
            .ok_or_else(|| NodeError::Unknown("the entry had no reply".into()))
    }

    /// Writes forwarded to this node by a follower: applied here if this node leads, refused
    /// with `NotLeader` (certainly not applied) otherwise; never forwarded again.
    pub async fn write_as_leader(&self, writes: Vec<Write>) -> Vec<Result<Reply, NodeError>> {
        if !self.is_leader() {
            let refusal = NodeError::NotLeader { leader: self.leader_addr(self.current_leader()) };
            return writes.iter().map(|_| Err(refusal.clone())).collect();
        }
        refusing_oversized(writes, |writes| self.write_local(writes)).await
    }

    /// Gives every client write a session of its own, so that forwarding it again after an
    /// unclear outcome cannot apply it twice.
    pub(super) fn with_session(&self, write: Write) -> Write {
        let fresh = || SessionRef {
            client_id: self.session_base.wrapping_add(self.session_next.fetch_add(1, Ordering::Relaxed)),
            sequence: NonZeroU64::MIN,
        };
        match write {
            Write::Command { session: None, command } => Write::Command { session: Some(fresh()), command },
            Write::Transaction { session: None, watches, commands } => {
                Write::Transaction { session: Some(fresh()), watches, commands }
            }
            Write::Acl { session: None, change } => Write::Acl { session: Some(fresh()), change },
            Write::Txn { session: None, txn } => Write::Txn { session: Some(fresh()), txn },
            other => other,
        }
    }
}

/// Refuses each write larger than [`WRITE_WEIGHT_MAX`] (it would not fit a log record), and
/// hands the others to `rest`; the replies come back in the writes' order.
async fn refusing_oversized<F, Fut>(writes: Vec<Write>, rest: F) -> Vec<Result<Reply, NodeError>>
where
    F: FnOnce(Vec<Write>) -> Fut,
    Fut: std::future::Future<Output = Vec<Result<Reply, NodeError>>>,
{
    if writes.iter().all(|write| write.weight() <= WRITE_WEIGHT_MAX) {
        return rest(writes).await;
    }
    let mut refused: Vec<Option<NodeError>> = Vec::with_capacity(writes.len());
    let mut kept = Vec::with_capacity(writes.len());
    for write in writes {
        let weight = write.weight();
        if weight > WRITE_WEIGHT_MAX {
            refused.push(Some(NodeError::Invalid(format!(
                "the write is too large for one log entry: about {weight} bytes, the limit is {WRITE_WEIGHT_MAX}"
            ))));
        } else {
            refused.push(None);
            kept.push(write);
        }
    }
    let mut replies = if kept.is_empty() { Vec::new() } else { rest(kept).await }.into_iter();
    refused
        .into_iter()
        .map(|refusal| match refusal {
            Some(error) => Err(error),
            None => replies.next().unwrap_or_else(|| Err(NodeError::Unknown("no reply".into()))),
        })
        .collect()
}
