//! A follower's forwarded writes share peer requests: every connection's writes waiting to be
//! forwarded to the same leader go in one `PeerRequest::Write`, sent whenever fewer than
//! [`FORWARDS_IN_FLIGHT_MAX`] are in flight, as the leader's proposer packs entries
//! (`proposer.rs`). The leader answers each write on its own; the answers are split back by
//! caller. What a caller does with an answer, retries included, stays in `forward.rs`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use openraft::Raft;
use redraft_core::limits::{BATCH_BYTES_MAX, BATCH_WRITES_MAX, FORWARDS_IN_FLIGHT_MAX};
use redraft_core::{Reply, Write};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::forward::call_leader;
use crate::clock::monotonic_now;
use crate::error::NodeError;
use crate::peer::message::{PeerRequest, PeerResponse};
use crate::peer::pool::PeerPool;
use crate::raft_types::TypeConfig;

/// The leader's answers to one caller's writes, in order.
pub(super) type Answers = Vec<Result<Reply, NodeError>>;

/// Why a forward got no answers: the request failed, or the leader answered something else.
#[derive(Clone, Debug)]
pub(super) struct ForwardFailed {
    /// Whether the request certainly never reached the leader (then nothing in it applied).
    pub(super) certainly_not_sent: bool,
    pub(super) why: String,
}

/// One caller's writes waiting for a peer request.
struct Group {
    leader: u64,
    addr: String,
    writes: Vec<Write>,
    deadline: Instant,
    answer: oneshot::Sender<Result<Answers, ForwardFailed>>,
}

/// The writes waiting to be forwarded, and how many requests are in flight.
#[derive(Default)]
pub(super) struct ForwardBatches {
    state: std::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    in_flight: usize,
    waiting: VecDeque<Group>,
}

impl ForwardBatches {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forwards `writes` to `leader` together with whatever other callers are forwarding to it,
    /// and waits up to `timeout` for the leader's answers to these writes.
    pub(super) async fn forward(
        self: &Arc<Self>,
        raft: &Raft<TypeConfig>,
        peers: &Arc<PeerPool>,
        leader: u64,
        addr: String,
        writes: Vec<Write>,
        timeout: Duration,
    ) -> Result<Answers, ForwardFailed> {
        let (answer, answered) = oneshot::channel();
        let deadline = monotonic_now() + timeout;
        let start = {
            let mut state = self.lock();
            state.waiting.push_back(Group { leader, addr, writes, deadline, answer });
            let start = state.in_flight < FORWARDS_IN_FLIGHT_MAX;
            if start {
                state.in_flight += 1;
            }
            start
        };
        if start {
            tokio::spawn(send_batches(self.clone(), raft.clone(), peers.clone()));
        }
        match tokio::time::timeout(timeout, answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(_dropped)) => {
                Err(ForwardFailed { certainly_not_sent: false, why: "the node is stopping".into() })
            }
            // Queued or in flight: the request may yet reach the leader.
            Err(_elapsed) => Err(ForwardFailed {
                certainly_not_sent: false,
                why: format!("no answer from node {leader} within {} ms", timeout.as_millis()),
            }),
        }
    }

    /// The next request: the oldest waiting group and every later one for the same leader, up
    /// to the batch bounds (a group larger than them goes alone). `None` when nothing waits,
    /// and then this sender stops.
    fn next_batch(&self) -> Option<Vec<Group>> {
        let mut state = self.lock();
        let Some(first) = state.waiting.pop_front() else {
            state.in_flight -= 1;
            return None;
        };
        let weight = |g: &Group| g.writes.iter().map(Write::weight).sum::<usize>();
        let (mut count, mut bytes) = (first.writes.len(), weight(&first));
        let leader = first.leader;
        let mut batch = vec![first];
        let mut rest = VecDeque::with_capacity(state.waiting.len());
        while let Some(group) = state.waiting.pop_front() {
            let fits =
                count + group.writes.len() <= BATCH_WRITES_MAX && bytes + weight(&group) <= BATCH_BYTES_MAX;
            if group.leader == leader && fits {
                count += group.writes.len();
                bytes += weight(&group);
                batch.push(group);
            } else {
                rest.push_back(group);
            }
        }
        state.waiting = rest;
        Some(batch)
    }
}

/// Sends requests while groups wait, one at a time; several of these run at once, up to
/// [`FORWARDS_IN_FLIGHT_MAX`].
async fn send_batches(batches: Arc<ForwardBatches>, raft: Raft<TypeConfig>, peers: Arc<PeerPool>) {
    while let Some(groups) = batches.next_batch() {
        let (leader, addr) = (groups[0].leader, groups[0].addr.clone());
        let timeout = groups
            .iter()
            .map(|g| g.deadline.saturating_duration_since(monotonic_now()))
            .max()
            .unwrap_or_default();
        let sizes: Vec<usize> = groups.iter().map(|g| g.writes.len()).collect();
        let mut answers = Vec::with_capacity(groups.len());
        let mut writes = Vec::with_capacity(sizes.iter().sum());
        for group in groups {
            writes.extend(group.writes);
            answers.push(group.answer);
        }
        let total = writes.len();
        let result =
            match call_leader(&raft, &peers, leader, &addr, PeerRequest::Write(writes), timeout).await {
                Ok(PeerResponse::Write(replies)) if replies.len() == total => Ok(replies),
                Ok(other) => Err(ForwardFailed {
                    certainly_not_sent: false,
                    why: format!("node {leader} answered a forwarded write with {other:?}"),
                }),
                Err(error) => Err(ForwardFailed {
                    certainly_not_sent: error.certainly_not_sent(),
                    why: format!("forwarding to node {leader} failed: {error}"),
                }),
            };
        match result {
            Ok(replies) => {
                let mut replies = replies.into_iter();
                for (answer, size) in answers.into_iter().zip(sizes) {
                    let _ = answer.send(Ok(replies.by_ref().take(size).collect()));
                }
            }
            Err(failed) => {
                for answer in answers {
                    let _ = answer.send(Err(failed.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use redraft_core::Command;

    use super::*;

    fn group(leader: u64, writes: usize) -> Group {
        let write = Write::Command { session: None, command: Command::Get { key: Bytes::from_static(b"k") } };
        Group {
            leader,
            addr: String::new(),
            writes: vec![write; writes],
            deadline: Instant::now(),
            answer: oneshot::channel().0,
        }
    }

    fn batches(groups: Vec<Group>) -> Vec<Vec<(u64, usize)>> {
        let batches = ForwardBatches::default();
        {
            let mut state = batches.lock();
            state.waiting.extend(groups);
            state.in_flight = 1;
        }
        std::iter::from_fn(|| batches.next_batch())
            .map(|b| b.iter().map(|g| (g.leader, g.writes.len())).collect())
            .collect()
    }

    /// A request takes every waiting group for the oldest group's leader, in order; groups for
    /// another leader wait for the next request.
    #[test]
    fn a_request_carries_every_group_for_one_leader() {
        let got = batches(vec![group(1, 2), group(2, 3), group(1, 4)]);
        assert_eq!(got, [vec![(1, 2), (1, 4)], vec![(2, 3)]]);
    }

    /// The batch count bound splits requests; a group larger than it goes alone.
    #[test]
    fn requests_stay_within_the_batch_bounds() {
        let half = BATCH_WRITES_MAX / 2;
        let got = batches(vec![group(1, half), group(1, half), group(1, 1), group(1, BATCH_WRITES_MAX + 1)]);
        assert_eq!(got, [vec![(1, half), (1, half)], vec![(1, 1)], vec![(1, BATCH_WRITES_MAX + 1)]]);
    }
}
