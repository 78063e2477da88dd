//! The leader's proposer: every client write on the leader (from all connections, pipelines,
//! transactions and forwarded writes: whatever calls `Node::write_batch`) joins a queue, and
//! one task turns whatever is queued into one batch entry ([`Payload::Batch`]) once the
//! previous batch has its outcome (applied, refused, or timed out). Batching is natural, as in
//! Redis's event loop and etcd's proposal loop: no fixed linger, a batch is what arrived while
//! the previous one was appended, replicated, committed and applied, and what the connections
//! ready then queue in one pass of the scheduler (see `propose`). One entry is one log append
//! and one fsync on each node for all its writes.
//!
//! Why one batch in flight: every batch costs each node an append, an fsync and a round of
//! messages, whatever it holds, so on a busy cluster fewer and larger batches leave more time
//! for the writes themselves. Measured on three nodes sharing one CPU (`--fsync always`, 50
//! clients on the leader), against proposing the next batch as soon as the previous one was
//! synced in the leader's log with two in flight: HTTP puts in batches of 24.8 writes instead
//! of 16.4 and about 1.1x the requests per second (7 of 8 alternating runs faster); SET -P16 in
//! batches of 400 instead of 261, as fast as before (per-batch work is small beside 400 writes).
//! One node measured the same either way (its batch commits when it is synced).
//! The price: a write arriving while a batch replicates waits for that batch's round trip to a
//! quorum before its own starts, where before it waited for the leader's fsync only.
//!
//! Order: one task proposes, in queue order, so writes from one caller (queued in order) enter
//! the log in order, and each writer gets its own reply from the entry's reply list.

use std::sync::{Arc, Weak};
use std::time::Duration;

use openraft::error::ClientWriteError;
use openraft::raft::ClientWriteResponse;
use redraft_core::limits::{BATCH_BYTES_MAX, BATCH_WRITES_MAX};
use redraft_core::{LogEntry, Payload, Reply, Write};
use tokio::sync::{mpsc, oneshot};

use super::Node;
use crate::addr::NodeAddr;
use crate::error::NodeError;
use crate::raft_types::TypeConfig;

/// Where one group's replies go: one reply per write, in order.
pub(super) type GroupReply = oneshot::Sender<Vec<Result<Reply, NodeError>>>;

/// Writes from one caller waiting to be proposed together, and where their replies go (one per
/// write, in order). A group fits in one batch entry ([`groups`] cuts a caller's writes so).
pub(super) struct Pending {
    pub(super) writes: Vec<Write>,
    /// The writes' total [`Write::weight`].
    pub(super) bytes: usize,
    pub(super) reply: GroupReply,
}

/// The queue into the proposer task. Unbounded, because every writer is already bounded: a
/// connection has at most a pipeline round of writes outstanding, and there are at most
/// `maxclients` connections.
pub(super) type ProposalQueue = mpsc::UnboundedSender<Pending>;

/// Cuts one caller's writes, in order, into groups that each fit in a batch entry: at most
/// [`BATCH_WRITES_MAX`] writes and [`BATCH_BYTES_MAX`] bytes, except that a write larger than
/// that is a group of its own. Each group comes with its bytes. A pipeline is one group.
pub(super) fn groups(writes: Vec<Write>) -> Vec<(Vec<Write>, usize)> {
    let weights: Vec<usize> = writes.iter().map(Write::weight).collect();
    let total: usize = weights.iter().sum();
    if writes.len() <= BATCH_WRITES_MAX && total <= BATCH_BYTES_MAX {
        return vec![(writes, total)];
    }
    let mut groups = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for (write, weight) in writes.into_iter().zip(weights) {
        if !current.is_empty() && (current.len() == BATCH_WRITES_MAX || bytes + weight > BATCH_BYTES_MAX) {
            groups.push((std::mem::take(&mut current), bytes));
            bytes = 0;
        }
        bytes += weight;
        current.push(write);
    }
    groups.push((current, bytes));
    groups
}

/// Takes groups of writes from the queue in order and packs them into batches: at most
/// [`BATCH_WRITES_MAX`] writes and [`BATCH_BYTES_MAX`] bytes, except that a group larger than
/// that (one huge write) goes alone.
#[derive(Default)]
pub(super) struct Batcher {
    /// A group taken from the queue that did not fit in the previous batch; it leads the next.
    carry: Option<Pending>,
}

impl Batcher {
    /// The next batch: `first`, then what is queued, until a bound is reached.
    fn cut(&mut self, first: Pending, queue: &mut mpsc::UnboundedReceiver<Pending>) -> Vec<Pending> {
        let mut bytes = first.bytes;
        let mut count = first.writes.len();
        let mut batch = vec![first];
        while count < BATCH_WRITES_MAX {
            let Ok(next) = queue.try_recv() else { break };
            if count + next.writes.len() > BATCH_WRITES_MAX || bytes + next.bytes > BATCH_BYTES_MAX {
                self.carry = Some(next);
                break;
            }
            bytes += next.bytes;
            count += next.writes.len();
            batch.push(next);
        }
        batch
    }

    /// The group that leads the next batch, if one is carried over.
    fn take_carried(&mut self) -> Option<Pending> {
        self.carry.take()
    }
}

/// A batch's writes in one list, in queue order, and where each group's replies go.
fn unpack(batch: Vec<Pending>) -> (Vec<Write>, Vec<(usize, GroupReply)>) {
    let count: usize = batch.iter().map(|p| p.writes.len()).sum();
    let mut writes = Vec::new();
    let mut replies = Vec::with_capacity(batch.len());
    for pending in batch {
        replies.push((pending.writes.len(), pending.reply));
        if writes.is_empty() {
            // The common batch of one group takes its list as it is.
            writes = pending.writes;
            writes.reserve(count - writes.len());
        } else {
            writes.extend(pending.writes);
        }
    }
    (writes, replies)
}

/// The proposer task of one node: runs until the node is dropped (the queue closes).
pub(super) async fn propose(
    node: Weak<Node>,
    mut queue: mpsc::UnboundedReceiver<Pending>,
    timeout: Duration,
) {
    let mut batcher = Batcher::default();
    loop {
        let first = match batcher.take_carried() {
            Some(first) => first,
            None => match queue.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        // The other tasks ready now run first (a yield: tokio runs deferred tasks after the
        // ready ones and a poll of the sockets), so that connections whose requests have
        // arrived queue their writes into this batch, as Redis's event loop serves every ready
        // client in one pass. On one node under SET -P16 (50 clients, 256-byte values) batches
        // grew from about 140 writes to about 190, and each batch costs openraft, the log and
        // the apply a fixed amount whatever it holds: 1.03x the requests per second, 1.10x
        // with `--fsync always` (`benches/compare/ab.sh`). A lone write waits one pass more.
        tokio::task::yield_now().await;
        let batch = batcher.cut(first, &mut queue);
        let Some(node) = node.upgrade() else { return };
        // Each group carries its writes' weight, summed when it was cut from its caller's.
        let bytes: usize = batch.iter().map(|pending| pending.bytes).sum();
        let (writes, replies) = unpack(batch);
        node.metrics.batch_writes.observe(writes.len() as f64);
        // A large entry holds up openraft's heartbeats while it is written; the followers hear
        // from this leader meanwhile (`leader_contact.rs`).
        let busy = (bytes >= node.options.large_append_bytes).then(|| node.announce_busy(bytes));
        let entry = LogEntry::new(node.next_stamp_ms(), Payload::Batch { writes: Arc::new(writes) });
        let proposed = node.raft.client_write_ff(entry).await;
        drop(node);
        match proposed {
            Ok(receiver) => {
                // What queues meanwhile is the next batch.
                answer(receiver, replies, timeout).await;
                drop(busy);
            }
            Err(fatal) => {
                let error = NodeError::Unavailable(format!("the node is stopping: {fatal}"));
                for (count, reply) in replies {
                    let _ = reply.send(vec![Err(error.clone()); count]);
                }
            }
        }
    }
}

/// What openraft's responder for a client write hands back (with our runtime's oneshot).
type Outcome = oneshot::Receiver<Result<ClientWriteResponse<TypeConfig>, ClientWriteError<u64, NodeAddr>>>;

/// Waits for one batch entry's outcome and sends each group its replies.
async fn answer(receiver: Outcome, replies: Vec<(usize, GroupReply)>, timeout: Duration) {
    match outcome(receiver, timeout).await {
        Ok(applied) => {
            let mut applied = applied.into_iter();
            for (count, reply) in replies {
                let answers = (0..count)
                    .map(|_| {
                        applied.next().ok_or_else(|| {
                            NodeError::Unknown("the applied entry answered fewer writes than it held".into())
                        })
                    })
                    .collect();
                let _ = reply.send(answers);
            }
        }
        Err(error) => {
            for (count, reply) in replies {
                let _ = reply.send(vec![Err(error.clone()); count]);
            }
        }
    }
}

/// What became of a proposed entry, within `timeout`: its replies, one per write it carries, or
/// why there are none.
pub(super) async fn outcome(receiver: Outcome, timeout: Duration) -> Result<Vec<Reply>, NodeError> {
    match tokio::time::timeout(timeout, receiver).await {
        Ok(Ok(Ok(response))) => Ok(response.data),
        // openraft answers ForwardToLeader both for an entry it refused before appending and for
        // one it appended that a new leader's log then truncated here. The second may live on in
        // another node's log and be committed by a later leader (simulator seed 813188381,
        // `sim/tests/simulation.rs`), and the two cannot be told apart: the outcome is unknown.
        // A forwarded write is then sent again under its session, which applies it at most once.
        Ok(Ok(Err(ClientWriteError::ForwardToLeader(forward)))) => Err(NodeError::Unknown(format!(
            "leadership moved to {} before the write was committed; a later leader may still commit it",
            forward.leader_id.map_or_else(|| "no known node".to_owned(), |id| format!("node {id}"))
        ))),
        Ok(Ok(Err(ClientWriteError::ChangeMembershipError(error)))) => {
            Err(NodeError::Unavailable(error.to_string()))
        }
        Ok(Err(_closed)) => Err(NodeError::Unknown("the node stopped before the write was applied".into())),
        Err(_elapsed) => Err(NodeError::Unknown(format!("no outcome within {} ms", timeout.as_millis()))),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use redraft_core::command::{CommandName, SetCommand, SetCondition, SetExpiry};
    use redraft_core::Command;

    use super::*;

    fn set_write(value_len: usize) -> Write {
        let command = Command::Set(SetCommand {
            name: CommandName::Set,
            key: Bytes::from_static(b"k"),
            value: Bytes::from(vec![b'v'; value_len]),
            condition: SetCondition::Always,
            expiry: SetExpiry::Clear,
            get: false,
        });
        Write::Command { session: None, command }
    }

    fn set(value_len: usize) -> Pending {
        let writes = vec![set_write(value_len)];
        Pending { bytes: writes[0].weight(), writes, reply: oneshot::channel().0 }
    }

    fn cut_all(writes: Vec<Pending>) -> Vec<usize> {
        let (sender, mut queue) = mpsc::unbounded_channel();
        let mut writes = writes.into_iter();
        let first = writes.next().expect("one write");
        for write in writes {
            assert!(sender.send(write).is_ok(), "the queue is open");
        }
        let mut batcher = Batcher::default();
        let mut sizes = vec![batcher.cut(first, &mut queue).len()];
        while let Some(next) = batcher.take_carried().or_else(|| queue.try_recv().ok()) {
            sizes.push(batcher.cut(next, &mut queue).len());
        }
        sizes
    }

    /// A batch takes everything queued up to the count bound, and the rest follows in order.
    #[test]
    fn batches_take_all_queued_writes_up_to_the_count_bound() {
        assert_eq!(cut_all((0..3).map(|_| set(10)).collect()), [3]);
        let sizes = cut_all((0..BATCH_WRITES_MAX * 2 + 5).map(|_| set(10)).collect());
        assert_eq!(sizes, [BATCH_WRITES_MAX, BATCH_WRITES_MAX, 5]);
    }

    /// The byte bound cuts a batch before the write that would cross it; a write larger than the
    /// bound on its own still goes, alone.
    #[test]
    fn batches_stay_under_the_byte_bound_and_a_huge_write_goes_alone() {
        let big = BATCH_BYTES_MAX / 2;
        assert_eq!(cut_all(vec![set(big), set(big), set(10)]), [1, 2]);
        assert_eq!(cut_all(vec![set(10), set(BATCH_BYTES_MAX * 2), set(10)]), [1, 1, 1]);
    }

    /// A caller's writes are one group when they fit in a batch, and otherwise groups that each
    /// fit, in order; a pipeline of groups packs into batches whole.
    #[test]
    fn a_callers_writes_are_cut_into_groups_that_fit_a_batch() {
        let sizes = |writes: Vec<Write>| groups(writes).iter().map(|(g, _)| g.len()).collect::<Vec<_>>();
        assert_eq!(sizes((0..5).map(|_| set_write(10)).collect()), [5]);
        assert_eq!(sizes((0..BATCH_WRITES_MAX + 3).map(|_| set_write(10)).collect()), [BATCH_WRITES_MAX, 3]);
        let big = BATCH_BYTES_MAX / 2;
        assert_eq!(sizes(vec![set_write(big), set_write(big), set_write(10)]), [1, 2]);
        let (group, bytes) = groups(vec![set_write(10), set_write(20)]).remove(0);
        assert_eq!(bytes, group.iter().map(Write::weight).sum::<usize>());
        let group = |n: usize| {
            let writes: Vec<Write> = (0..n).map(|_| set_write(10)).collect();
            Pending { bytes: writes.iter().map(Write::weight).sum(), writes, reply: oneshot::channel().0 }
        };
        let half = BATCH_WRITES_MAX / 2;
        assert_eq!(cut_all(vec![group(half), group(half), group(1)]), [2, 1]);
        let (writes, replies) = unpack(vec![group(2), group(3)]);
        assert_eq!((writes.len(), replies.iter().map(|(n, _)| *n).collect::<Vec<_>>()), (5, vec![2, 3]));
    }
}
