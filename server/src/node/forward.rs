//! Forwarding a follower's client writes to the leader (DESIGN.md §4), following leadership as
//! it moves until the write's deadline; the writes of all connections share peer requests
//! (`forward_batch.rs`). Each write carries a client session, so a forward whose
//! outcome is unclear is sent again safely; what a forward's answer means for each write is
//! decided by [`classify`], a plain function, and what the client is told when the deadline
//! passes by [`give_up`].

use std::time::Duration;

use openraft::Raft;
use redraft_core::{Reply, Write};
use tokio::time::Instant;

use super::Node;
use crate::clock::monotonic_now;
use crate::error::NodeError;
use crate::peer::message::{PeerRequest, PeerResponse};
use crate::peer::pool::{CallError, PeerPool};
use crate::raft_types::TypeConfig;

/// How long a follower waits between attempts to reach the leader for a forwarded request.
pub(super) const FORWARD_RETRY: Duration = Duration::from_millis(25);

impl Node {
    /// Forwards writes to the leader until `deadline`, following leadership as it moves.
    pub(super) async fn forward_writes(
        &self,
        writes: Vec<Write>,
        deadline: Instant,
    ) -> Vec<Result<Reply, NodeError>> {
        let writes: Vec<Write> = writes.into_iter().map(|w| self.with_session(w)).collect();
        let started = monotonic_now();
        let mut out: Vec<Option<Result<Reply, NodeError>>> = vec![None; writes.len()];
        // Whether an attempt may have reached a leader: then the outcome is unknown, not refused.
        let mut maybe_sent = vec![false; writes.len()];
        let mut todo: Vec<usize> = (0..writes.len()).collect();
        let mut last_error = String::from("no leader is known");
        while !todo.is_empty() && monotonic_now() < deadline {
            let batch: Vec<Write> = todo.iter().map(|&i| writes[i].clone()).collect();
            let replies = match self.current_leader() {
                None => None,
                Some(leader) if leader == self.id() => Some(self.write_local(batch).await),
                Some(leader) => {
                    let addr = self.raft_addr_of(leader);
                    let remaining = deadline.saturating_duration_since(monotonic_now());
                    match self.forwards.forward(&self.raft, &self.peers, leader, addr, batch, remaining).await
                    {
                        Ok(replies) => Some(replies),
                        Err(failed) => {
                            if !failed.certainly_not_sent {
                                todo.iter().for_each(|&i| maybe_sent[i] = true);
                            }
                            last_error = failed.why;
                            None
                        }
                    }
                }
            };
            if let Some(replies) = replies {
                let mut still = Vec::new();
                for (i, reply) in todo.into_iter().zip(replies) {
                    match classify(reply) {
                        Forwarded::Answered(reply) => out[i] = Some(reply),
                        Forwarded::Retry { maybe_sent: sent, why } => {
                            maybe_sent[i] |= sent;
                            last_error = why;
                            still.push(i);
                        }
                    }
                }
                todo = still;
            }
            if !todo.is_empty() {
                if self.current_leader().is_none() {
                    self.wait_for_leader(deadline).await;
                } else {
                    tokio::time::sleep(
                        FORWARD_RETRY.min(deadline.saturating_duration_since(monotonic_now())),
                    )
                    .await;
                }
            }
        }
        let waited = monotonic_now().saturating_duration_since(started);
        for i in todo {
            out[i] = Some(Err(give_up(maybe_sent[i], &last_error, waited)));
        }
        out.into_iter().map(|reply| reply.expect("every write answered")).collect()
    }
}

/// Sends `request` to `leader` and waits up to `timeout` for its answer, but gives up as soon as
/// this node learns that `leader` no longer leads: a leader cut off from the cluster would
/// otherwise hold the request until the deadline while a new leader could answer it.
pub(super) async fn call_leader(
    raft: &Raft<TypeConfig>,
    peers: &PeerPool,
    leader: u64,
    addr: &str,
    request: PeerRequest,
    timeout: Duration,
) -> Result<PeerResponse, CallError> {
    let wait = raft.wait(Some(timeout));
    tokio::select! {
        biased;
        response = peers.call(leader, addr, request, timeout) => response,
        changed = wait.metrics(|m| m.current_leader != Some(leader), "the leader changed") => match changed {
            Ok(_) => Err(CallError::LeaderChanged { leader }),
            // The wait timed out (as the call is about to) or the node is stopping.
            Err(_) => Err(CallError::Peer(redraft_net::peer::PeerError::Timeout { addr: addr.to_owned(), timeout })),
        },
    }
}

/// What a forwarded write's reply from the leader means for it.
#[derive(Debug, PartialEq)]
pub(super) enum Forwarded {
    /// The leader answered it: the reply (or error) goes to the client.
    Answered(Result<Reply, NodeError>),
    /// Send it again, to whichever node leads next; `maybe_sent` says whether this attempt may
    /// have applied it (then the client session keeps a retry from applying it twice).
    Retry { maybe_sent: bool, why: String },
}

/// Sorts a forwarded write's reply: a `NotLeader` refusal never reached the log, so it is sent
/// on to the leader it names; an unknown outcome may have applied, so it is retried under its
/// session; anything else is the write's answer.
pub(super) fn classify(reply: Result<Reply, NodeError>) -> Forwarded {
    match reply {
        Err(NodeError::NotLeader { .. }) => {
            Forwarded::Retry { maybe_sent: false, why: "leadership moved while forwarding".into() }
        }
        Err(NodeError::Unknown(why)) => Forwarded::Retry { maybe_sent: true, why },
        reply => Forwarded::Answered(reply),
    }
}

/// What the client is told about a write still unanswered at its deadline: unknown if any
/// attempt may have reached a leader (DESIGN.md §4: never a failure if it may have applied),
/// unavailable if none did.
pub(super) fn give_up(maybe_sent: bool, last_error: &str, waited: Duration) -> NodeError {
    if maybe_sent {
        NodeError::Unknown(format!("{last_error}; gave up after {} ms", waited.as_millis()))
    } else {
        NodeError::Unavailable(format!("no leader could be reached: {last_error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::NodeAddr;

    /// Only a refusal before the log and an unknown outcome are retried, and only the unknown
    /// one counts as maybe applied; every other reply, errors included, is the answer.
    #[test]
    fn a_forwarded_reply_is_answered_or_retried_by_what_it_says() {
        let not_leader = Err(NodeError::NotLeader { leader: Some((2, NodeAddr::default())) });
        assert!(matches!(classify(not_leader), Forwarded::Retry { maybe_sent: false, .. }));
        assert_eq!(
            classify(Err(NodeError::Unknown("timeout".into()))),
            Forwarded::Retry { maybe_sent: true, why: "timeout".into() }
        );
        for answer in [
            Ok(Reply::Ok),
            Err(NodeError::Unavailable("no quorum".into())),
            Err(NodeError::Invalid("bad".into())),
            Err(NodeError::Removed { node_id: 1, membership_index: 4 }),
        ] {
            assert_eq!(classify(answer.clone()), Forwarded::Answered(answer));
        }
    }

    /// A write that may have reached a leader is never reported as failed.
    #[test]
    fn giving_up_says_unknown_only_when_a_leader_may_have_applied_it() {
        let waited = Duration::from_millis(1500);
        assert_eq!(
            give_up(true, "forwarding failed", waited),
            NodeError::Unknown("forwarding failed; gave up after 1500 ms".into())
        );
        assert_eq!(
            give_up(false, "no leader is known", waited),
            NodeError::Unavailable("no leader could be reached: no leader is known".into())
        );
    }
}
