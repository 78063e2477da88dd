//! The leader's proposer: every client write on the leader (from all connections, pipelines,
//! transactions and forwarded writes: whatever calls `Node::write_batch`) joins a queue, and
//! one task turns whatever is queued into one batch entry ([`Payload::Batch`]) whenever the log
//! can take it: fewer than [`PROPOSALS_IN_FLIGHT_MAX`] entries are in flight, and the previous
//! batch is durable in the local log (or has its outcome). Batching is natural, as in Redis's
//! event loop and etcd's proposal loop: no fixed linger, a batch is what arrived while the
//! previous one was appended and synced. One entry is one log append and one fsync for all its
//! writes.
//!
//! Why wait for the local sync: the log syncs one append after another, so a batch handed to
//! openraft while the previous one syncs only waits there, and writes arriving meanwhile would
//! form yet another batch and another sync. Held back here, they join it. Measured with 50
//! clients each sending one SET at a time under `--fsync always`: batches of 12.8 writes on
//! average, half of them single writes, when the next batch went as soon as an in-flight slot
//! was free; 25 with the wait.
//!
//! Order: one task proposes, in queue order, so writes from one caller (queued in order) enter
//! the log in order, and each writer gets its own reply from the entry's reply list.

use std::sync::{Arc, Weak};
use std::time::Duration;

use openraft::error::ClientWriteError;
use openraft::raft::ClientWriteResponse;
use redraft_core::limits::{BATCH_BYTES_MAX, BATCH_WRITES_MAX, PROPOSALS_IN_FLIGHT_MAX};
use redraft_core::{LogEntry, Payload, Reply, Write};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};

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

/// The last batch proposed, until it is durable in the local log or has its outcome.
struct Syncing {
    /// The log's count of durable appends when the batch was proposed.
    appends_before: u64,
    /// Closed when the batch has its outcome (applied, refused, or timed out).
    settled: oneshot::Receiver<()>,
}

impl Syncing {
    /// Waits until the log has reported an append durable since the batch was proposed (on the
    /// leader the proposer's batches are all it appends, bar the rare blank or membership
    /// entry, which can only release the wait early), or the batch has its outcome, which ends
    /// the wait for a batch that never reaches the log.
    async fn done(self, appends_durable: &mut watch::Receiver<u64>) {
        let appends_before = self.appends_before;
        tokio::select! {
            _ = appends_durable.wait_for(|&count| count > appends_before) => {}
            _ = self.settled => {}
        }
    }
}

/// The proposer task of one node: runs until the node is dropped (the queue closes).
/// `appends_durable` is the log's count of durable appends ([`crate::storage::log_store::LogStore::appends_durable`]).
pub(super) async fn propose(
    node: Weak<Node>,
    mut queue: mpsc::UnboundedReceiver<Pending>,
    mut appends_durable: watch::Receiver<u64>,
    timeout: Duration,
) {
    let in_flight = Arc::new(Semaphore::new(PROPOSALS_IN_FLIGHT_MAX));
    let mut batcher = Batcher::default();
    let mut syncing: Option<Syncing> = None;
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else { return };
        let first = match batcher.take_carried() {
            Some(first) => first,
            None => match queue.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        if let Some(previous) = syncing.take() {
            previous.done(&mut appends_durable).await;
        }
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
        let appends_before = *appends_durable.borrow();
        let proposed = node.raft.client_write_ff(entry).await;
        drop(node);
        match proposed {
            Ok(receiver) => {
                // Answering waits for the entry to apply; the next batch is cut meanwhile.
                let (settled_sender, settled) = oneshot::channel();
                syncing = Some(Syncing { appends_before, settled });
                tokio::spawn(answer(receiver, replies, timeout, (permit, busy, settled_sender)));
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

/// Waits for one batch entry to apply and sends each group its replies; frees the in-flight slot
/// (and ends the busy leader's announcements, and tells the proposer the batch is settled).
async fn answer(
    receiver: Outcome,
    replies: Vec<(usize, GroupReply)>,
    timeout: Duration,
    _slot: (tokio::sync::OwnedSemaphorePermit, Option<super::leader_contact::BusyGuard>, oneshot::Sender<()>),
) {
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
        let command = Command::Set(Box::new(SetCommand {
            name: CommandName::Set,
            key: Bytes::from_static(b"k"),
            value: Bytes::from(vec![b'v'; value_len]),
            condition: SetCondition::Always,
            expiry: SetExpiry::Clear,
            get: false,
        }));
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

    /// The next batch waits while the previous one is neither durable in the log nor settled,
    /// and goes once either happens: an append reported durable after the proposal, or the
    /// previous batch's outcome (a batch refused before it reached the log is never synced).
    #[tokio::test]
    async fn the_next_batch_waits_for_the_previous_one_to_be_synced_or_settled() {
        let pending = |syncing: Syncing, durable: &mut watch::Receiver<u64>| {
            let mut durable = durable.clone();
            tokio::spawn(async move { syncing.done(&mut durable).await })
        };
        let (count, mut durable) = watch::channel(3);
        let (settled_sender, settled) = oneshot::channel();
        let waiting = pending(Syncing { appends_before: 3, settled }, &mut durable);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "nothing was synced since the proposal");
        count.send_replace(4);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("a sync releases it")
            .expect("ran");
        drop(settled_sender);

        let (settled_sender, settled) = oneshot::channel::<()>();
        let waiting = pending(Syncing { appends_before: 4, settled }, &mut durable);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "still nothing synced since this proposal");
        drop(settled_sender);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the outcome releases it")
            .expect("ran");
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
