//! AppendEntries sized and timed for their bytes. openraft 0.9 gives every AppendEntries the
//! heartbeat interval (100 ms by default) and then starts it over, so an entry that takes longer
//! to send, decode and sync (a 200 MiB value takes seconds) was sent again and again and never
//! arrived, while its follower, hearing nothing else from the leader, called elections. Here:
//!
//! - an append of several entries is cut to those that fit in [`APPEND_BYTES_TARGET`] (at least
//!   one), by answering openraft with its `PayloadTooLarge` hint, as its protocol provides;
//! - an append of [`APPEND_DETACHED_BYTES_MIN`](redraft_core::limits::APPEND_DETACHED_BYTES_MIN)
//!   or more (the node's `large_append_bytes`) is sent by a task of its own, with a
//!   deadline for its size, and kept in flight across openraft's timeouts: a retry of it (the
//!   same vote and previous entry, at least the same entries) waits for it instead of sending it
//!   again, and gets its answer (a partial success if the retry asked for more). While a retry
//!   waits, an empty append (a heartbeat) goes to the follower on another connection, so that it
//!   keeps hearing from its leader; its answer is not used, so nothing is acknowledged on its
//!   account.

use std::sync::Arc;
use std::time::Duration;

use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse};
use openraft::{LogId, Vote};
use redraft_core::codec::DecodeError;
use redraft_core::limits::APPEND_BYTES_TARGET;
use tokio::sync::watch;

use super::append_frame::AppendFrame;
use super::message::{PeerRequest, PeerResponse};
use super::pool::{CallError, PeerPool};
use crate::raft_types::TypeConfig;

/// How an append is to be sent.
pub(super) enum Plan {
    /// As usual, within openraft's timeout.
    Now(AppendFrame),
    /// By a task of its own ([`InFlight::start`]); it has this many bytes.
    Detached(AppendFrame, usize),
    /// Only the first this many entries fit: openraft is to send those.
    Fewer(u64),
}

/// Decides how to send `rpc` from the encoded size of its entries: detached from
/// `large_bytes` (`APPEND_DETACHED_BYTES_MIN` but in the simulator).
pub(super) fn plan(rpc: AppendEntriesRequest<TypeConfig>, large_bytes: usize) -> Plan {
    let frame = AppendFrame::new(rpc);
    let mut bytes = 0usize;
    for (n, size) in frame.entry_bytes().enumerate() {
        if n > 0 && bytes.saturating_add(size) > APPEND_BYTES_TARGET {
            return Plan::Fewer(n as u64);
        }
        bytes = bytes.saturating_add(size);
    }
    if bytes >= large_bytes {
        Plan::Detached(frame, bytes)
    } else {
        Plan::Now(frame)
    }
}

/// The request that sends `frame` to a peer: the frame, or for a peer that cannot decode frames
/// (a node of an older build), openraft's request as such builds sent it.
///
/// # Errors
/// With `old_shape`, the frame's own entries do not decode, which would be a bug.
pub(super) fn request(frame: AppendFrame, old_shape: bool) -> Result<PeerRequest, DecodeError> {
    Ok(if old_shape { PeerRequest::Append(frame.into_request()?) } else { PeerRequest::AppendFrame(frame) })
}

/// How long a detached append of `bytes` may take: ten seconds, and one more for every 8 MiB.
pub fn large_append_deadline(bytes: usize) -> Duration {
    Duration::from_secs(10 + (bytes / (8 << 20)) as u64)
}

/// What a detached append came to: the follower's answer, or why there was none.
pub(super) type Outcome = Result<AppendEntriesResponse<u64>, Failed>;

/// Why a detached append got no answer.
#[derive(Clone, Debug)]
pub(super) struct Failed {
    pub reason: String,
    /// The request certainly did not reach the follower (openraft then backs off before it
    /// tries again, as it does for any unreachable peer; retrying at once would spin).
    pub not_sent: bool,
    /// The follower could not decode it (a node of an older build, `raft_network.rs`).
    pub undecodable: bool,
}

/// An append sent by a task of its own, and where its outcome will be.
pub(super) struct InFlight {
    vote: Vote<u64>,
    prev: Option<LogId<u64>>,
    last: Option<LogId<u64>>,
    leader_commit: Option<LogId<u64>>,
    /// Sent in the older builds' shape: so is the heartbeat beside it.
    old_shape: bool,
    outcome: watch::Receiver<Option<Arc<Outcome>>>,
}

impl InFlight {
    /// Sends `frame` (of `bytes` bytes) to node `target` at `addr` from a task of its own, in the
    /// older builds' shape if `old_shape`.
    pub(super) fn start(
        pool: Arc<PeerPool>,
        target: u64,
        addr: String,
        frame: AppendFrame,
        bytes: usize,
        old_shape: bool,
    ) -> InFlight {
        let (tx, outcome) = watch::channel(None);
        let in_flight = InFlight {
            vote: frame.vote(),
            prev: frame.prev_log_id(),
            last: frame.last_log_id(),
            leader_commit: frame.leader_commit(),
            old_shape,
            outcome,
        };
        tracing::debug!(target, bytes, last = ?in_flight.last, "sending a large append detached");
        tokio::spawn(async move {
            let sent = match request(frame, old_shape) {
                Ok(request) => {
                    pool.call_outside_backoff(target, &addr, request, large_append_deadline(bytes)).await
                }
                Err(error) => Err(CallError::Undecodable(error.to_string())),
            };
            let outcome = match sent {
                Ok(PeerResponse::Append(Ok(response))) => Ok(response),
                Ok(PeerResponse::Append(Err(error))) => {
                    Err(Failed { reason: error.to_string(), not_sent: false, undecodable: false })
                }
                Ok(other) => Err(Failed {
                    reason: format!("an answer of the wrong kind: {other:?}"),
                    not_sent: false,
                    undecodable: false,
                }),
                Err(error) => Err(Failed {
                    reason: error.to_string(),
                    not_sent: error.certainly_not_sent(),
                    undecodable: matches!(error, CallError::Undecodable(_)),
                }),
            };
            if let Err(failed) = &outcome {
                let error = &failed.reason;
                tracing::debug!(target, bytes, %error, "a large append to node {target} failed; it will be sent again");
            }
            let _ = tx.send(Some(Arc::new(outcome)));
        });
        in_flight
    }

    /// Whether `rpc` asks for what this append is sending, and more or nothing else: the same
    /// leader and previous entry, and entries up to at least this one's last.
    pub(super) fn covers(&self, rpc: &AppendEntriesRequest<TypeConfig>) -> bool {
        let last = rpc.entries.last().map(|entry| entry.log_id);
        rpc.vote == self.vote && rpc.prev_log_id == self.prev && last.is_some() && last >= self.last
    }

    /// Waits for the outcome, as the answer to a request whose last entry is `asked_last`;
    /// `None` if the task ended without one. Meanwhile a heartbeat goes to the follower.
    pub(super) async fn answer(
        &self,
        pool: &Arc<PeerPool>,
        target: u64,
        addr: &str,
        asked_last: Option<LogId<u64>>,
        heartbeat_timeout: Duration,
    ) -> Option<Outcome> {
        self.heartbeat(pool.clone(), target, addr.to_owned(), heartbeat_timeout);
        let mut outcome = self.outcome.clone();
        let outcome = outcome.wait_for(Option::is_some).await.ok()?.clone()?;
        Some(match &*outcome {
            Ok(AppendEntriesResponse::Success) if self.last < asked_last => {
                Ok(AppendEntriesResponse::PartialSuccess(self.last))
            }
            Ok(response) => Ok(copy(response)),
            Err(error) => Err(error.clone()),
        })
    }

    /// An empty append from the same leader, answered by nobody: the follower hears from its
    /// leader while the large one is on its way.
    fn heartbeat(&self, pool: Arc<PeerPool>, target: u64, addr: String, timeout: Duration) {
        let rpc = AppendEntriesRequest {
            vote: self.vote,
            prev_log_id: self.prev,
            leader_commit: self.leader_commit,
            entries: Vec::new(),
        };
        let request = if self.old_shape {
            PeerRequest::Append(rpc)
        } else {
            PeerRequest::AppendFrame(AppendFrame::new(rpc))
        };
        tokio::spawn(async move {
            let _ = pool.call(target, &addr, request, timeout).await;
        });
    }
}

fn copy(response: &AppendEntriesResponse<u64>) -> AppendEntriesResponse<u64> {
    match response {
        AppendEntriesResponse::Success => AppendEntriesResponse::Success,
        AppendEntriesResponse::PartialSuccess(matching) => AppendEntriesResponse::PartialSuccess(*matching),
        AppendEntriesResponse::Conflict => AppendEntriesResponse::Conflict,
        AppendEntriesResponse::HigherVote(vote) => AppendEntriesResponse::HigherVote(*vote),
    }
}
