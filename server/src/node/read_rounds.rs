//! Linearizable reads share leadership confirmations (ReadIndex batching): one round asks once
//! and answers every read that joined it. On the leader a round asks a quorum; on a follower it
//! asks the leader for its read index in one peer request. A read joins the next round to start,
//! never the one in flight, whose read index was taken before the read arrived and so might not
//! cover a write acknowledged just before it. With many clients a round serves all the reads
//! that arrived during the previous one, instead of one round trip per read.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::Raft;
use tokio::sync::oneshot;

use crate::addr::NodeAddr;
use crate::error::NodeError;
use crate::raft_types::TypeConfig;

/// The reads waiting for a leadership confirmation, and whether a round is running.
#[derive(Default)]
pub(super) struct ReadRounds {
    state: std::sync::Mutex<ReadRoundsState>,
}

#[derive(Default)]
pub(super) struct ReadRoundsState {
    /// Whether a round is in flight (its task then starts the next one for `waiting`).
    pub(super) running: bool,
    /// The reads for the next round.
    pub(super) waiting: Vec<oneshot::Sender<Result<u64, NodeError>>>,
}

impl ReadRounds {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, ReadRoundsState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ReadRounds {
    /// Joins the next round and waits for its read index. `start` runs the rounds when none is
    /// running (it is given to [`run_rounds`] in a task of its own).
    pub(super) async fn join<F: Future<Output = ()> + Send + 'static>(
        self: &Arc<Self>,
        timeout: Duration,
        start: impl FnOnce(Arc<ReadRounds>) -> F,
    ) -> Result<u64, NodeError> {
        let (answer, answered) = oneshot::channel();
        let start_round = {
            let mut state = self.lock();
            state.waiting.push(answer);
            !std::mem::replace(&mut state.running, true)
        };
        if start_round {
            tokio::spawn(start(self.clone()));
        }
        match tokio::time::timeout(timeout + Duration::from_millis(100), answered).await {
            Ok(Ok(result)) => result,
            Ok(Err(_dropped)) => Err(NodeError::Unavailable("the node is stopping".into())),
            Err(_elapsed) => {
                Err(NodeError::Unavailable(format!("no read index within {} ms", timeout.as_millis())))
            }
        }
    }
}

/// Runs rounds while reads wait for one: each round takes every read waiting when it starts,
/// runs `round` once and answers them all with its result.
pub(super) async fn run_rounds<F, R>(rounds: Arc<ReadRounds>, round: F)
where
    F: Fn() -> R,
    R: Future<Output = Result<u64, NodeError>>,
{
    loop {
        let readers = {
            let mut state = rounds.lock();
            if state.waiting.is_empty() {
                state.running = false;
                return;
            }
            std::mem::take(&mut state.waiting)
        };
        let result = round().await;
        for reader in readers {
            let _ = reader.send(result.clone());
        }
    }
}

/// One leader round: confirms leadership with a quorum (openraft's `get_read_log_id`) and gives
/// the read index.
pub(super) async fn leader_round(raft: &Raft<TypeConfig>, timeout: Duration) -> Result<u64, NodeError> {
    match tokio::time::timeout(timeout, raft.get_read_log_id()).await {
        Ok(Ok((read_log_id, _applied))) => Ok(read_log_id.map_or(0, |id| id.index)),
        Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward)))) => {
            // The addresses are filled in by each reader from its node's membership.
            Err(NodeError::NotLeader { leader: forward.leader_id.map(|id| (id, NodeAddr::default())) })
        }
        Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(error)))) => {
            Err(NodeError::Unavailable(format!("no quorum confirmed the leader: {error}")))
        }
        Ok(Err(RaftError::Fatal(fatal))) => {
            Err(NodeError::Unavailable(format!("the node is stopping: {fatal}")))
        }
        Err(_elapsed) => {
            Err(NodeError::Unavailable(format!("leadership not confirmed within {} ms", timeout.as_millis())))
        }
    }
}

#[cfg(all(test, not(madsim)))]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use tokio::sync::Semaphore;

    use super::*;

    /// Reads that join while a round is in flight share the next round, one for all of them,
    /// and none is answered by the round already running when it joined (its read index may
    /// predate a write acknowledged before the read).
    #[tokio::test]
    async fn reads_arriving_during_a_round_share_the_next_one_only() {
        const LATER_READS: usize = 10;
        let rounds = Arc::new(ReadRounds::default());
        // Rounds started so far; each round waits for a permit before it answers its number.
        let started = Arc::new(AtomicU64::new(0));
        let gate = Arc::new(Semaphore::new(0));
        let read = |rounds: Arc<ReadRounds>| {
            let (started, gate) = (started.clone(), gate.clone());
            tokio::spawn(async move {
                rounds
                    .join(Duration::from_secs(10), move |rounds| async move {
                        run_rounds(rounds, || {
                            let number = started.fetch_add(1, Ordering::SeqCst) + 1;
                            let gate = gate.clone();
                            async move {
                                gate.acquire().await.expect("never closed").forget();
                                Ok(number)
                            }
                        })
                        .await;
                    })
                    .await
                    .expect("a read index")
            })
        };
        // Waits (boundedly, so that a broken join fails instead of hanging) until `ready`.
        let until = |what: &'static str, ready: Box<dyn Fn() -> bool>| async move {
            let wait = async {
                while !ready() {
                    tokio::task::yield_now().await;
                }
            };
            tokio::time::timeout(Duration::from_secs(5), wait).await.unwrap_or_else(|_| panic!("{what}"));
        };
        let first = read(rounds.clone());
        let counted = started.clone();
        until("the first read starts a round", Box::new(move || counted.load(Ordering::SeqCst) > 0)).await;
        let later: Vec<_> = (0..LATER_READS).map(|_| read(rounds.clone())).collect();
        let queue = rounds.clone();
        until(
            "the later reads wait for the next round",
            Box::new(move || queue.lock().waiting.len() == LATER_READS),
        )
        .await;
        gate.add_permits(2);
        assert_eq!(first.await.expect("the first read"), 1, "the first read starts round 1");
        for reader in later {
            assert_eq!(
                reader.await.expect("a later read"),
                2,
                "a read that joined during round 1 gets round 2"
            );
        }
        assert_eq!(started.load(Ordering::SeqCst), 2, "one round for the first read, one for the rest");
        assert!(!rounds.lock().running, "no round runs once nobody waits");
    }
}
