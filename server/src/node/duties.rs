//! The node's background duties, every `duty_interval_ms` until the node stops: keep metrics
//! and (when `maxmemory` is set) the memory count it compares current; stand for election
//! (after a pre-vote) when no leader is heard; on the leader, propose
//! active expiry batches from the TTL heaps and time-advance entries while TTL keys exist and
//! writes are idle (DESIGN.md §3); on every node, ask for a snapshot when the log passes a size
//! threshold (openraft's own policy covers the entry-count threshold). When each duty is due is
//! decided by plain functions below the loop.

use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::Duration;

use openraft::ServerState;
use redraft_core::limits::EXPIRE_BATCH_KEYS_MAX;
use redraft_core::{Payload, Reply};
use tokio::sync::watch;
use tokio::time::Instant;

use super::election::random_election_timeout;
use super::Node;
use crate::addr::NodeAddr;
use crate::clock::monotonic_now;

/// The node's background duties, every `duty_interval_ms` until the node stops or is dropped.
pub(super) async fn duties(node: Weak<Node>, mut stopped: watch::Receiver<bool>) {
    let (interval, mut election_timeout) = match node.upgrade() {
        Some(node) => (
            Duration::from_millis(node.options.duty_interval_ms.max(1)),
            random_election_timeout(&node.options),
        ),
        None => return,
    };
    let mut last_snapshot_request: Option<u64> = None;
    // After a pre-vote, the next waits a fresh election timeout (as a failed election would).
    let mut next_pre_vote = monotonic_now();
    // The first pass runs at once: a restarted sole voter leads again without waiting a tick.
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            tokio::select! {
                biased;
                _ = stopped.changed() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
        let Some(node) = node.upgrade() else { return };
        let metrics = node.raft.metrics().borrow().clone();
        node.update_metrics(&metrics).await;
        if node.options.maxmemory != 0 {
            // Reading jemalloc's count merges every arena's statistics: about 140,000
            // instructions, paid only where `maxmemory` compares it.
            node.refresh_used_memory();
        }
        node.note_snapshot(metrics.snapshot.map(|id| id.index));
        // A removed node stands again once its own log makes it a member (the leader adds it
        // back and replicates to it); why it must not before is on `pre_vote_due`.
        let is_leader = metrics.state == ServerState::Leader;
        // A node that may not vote yet (its log is empty or was damaged, and it has not caught
        // up) does not stand either: its own vote would count for a log it does not have (a
        // damaged node elected itself and overwrote committed entries: seed 81023226).
        let may_stand = || node.check_member().is_ok() && node.may_vote();
        if pre_vote_due(is_leader, monotonic_now(), next_pre_vote, may_stand)
            && node.stand_for_election(election_timeout).await
        {
            election_timeout = random_election_timeout(&node.options);
            next_pre_vote = monotonic_now() + election_timeout;
        }
        // A new leader's state may lag its log (a restarted node applies what it holds only
        // once its term's first entry commits): expiry collected from it would name keys the
        // entries before deleted, and its stamp would move time for nothing (a restart that
        // replayed the log right then differed from the state before it: seed 688320085).
        if is_leader && applied_own_term(&metrics) {
            node.expire_or_advance_time().await;
        }
        let applied = metrics.last_applied.map_or(0, |id| id.index);
        let log_bytes = node.metrics.log_bytes.get() as u64;
        let check = SnapshotCheck {
            log_bytes,
            log_bytes_max: node.options.snapshot_log_bytes,
            applied_index: applied,
            snapshot_index: metrics.snapshot.map_or(0, |id| id.index),
            keep_count: node.options.snapshot_log_keep_count,
            requested_at: last_snapshot_request,
        };
        if snapshot_due(&check) {
            tracing::info!(log_bytes, applied, "the log passed its size threshold; building a snapshot");
            last_snapshot_request = Some(applied);
            let _ = node.raft.trigger().snapshot().await;
        }
    }
}

impl Node {
    async fn update_metrics(&self, raft: &openraft::RaftMetrics<u64, NodeAddr>) {
        let m = &self.metrics;
        m.raft_term.set(raft.current_term as i64);
        m.raft_applied_index.set(raft.last_applied.map_or(0, |id| id.index) as i64);
        // openraft 0.9's metrics carry no commit index; its Raft state does. A stopping node
        // keeps the last value.
        if let Ok(committed) =
            self.raft.with_raft_state(|state| state.committed.map_or(0, |id| id.index)).await
        {
            m.raft_commit_index.set(committed as i64);
        }
        m.raft_leader.set(raft.current_leader.unwrap_or(0) as i64);
        m.raft_is_leader.set(i64::from(raft.state == ServerState::Leader));
        m.raft_replication_lag.reset();
        if let Some(replication) = &raft.replication {
            let last = raft.last_log_index.unwrap_or(0);
            for (follower, matched) in replication {
                if *follower != self.id() {
                    let lag = last.saturating_sub(matched.map_or(0, |id| id.index));
                    m.raft_replication_lag.with_label_values(&[&follower.to_string()]).set(lag as i64);
                }
            }
        }
        m.keys.set(self.state.map().len() as i64);
    }

    /// On the leader: remove expired keys in bounded batches, or move time forward while TTL
    /// keys exist and writes are idle.
    async fn expire_or_advance_time(&self) {
        let now_ms = self.clock.now_ms();
        let expired = self.state.collect_expired(now_ms, EXPIRE_BATCH_KEYS_MAX);
        let idle_ms = now_ms.saturating_sub(self.last_proposal_ms.load(Ordering::Relaxed));
        let ttl_keys = self.state.map().ttl_key_count();
        let Some(payload) =
            background_proposal(expired, ttl_keys, idle_ms, self.options.time_advance_idle_ms)
        else {
            return;
        };
        match self.propose_alone(payload).await {
            Ok(Reply::Integer(removed)) => self.metrics.expired_keys.inc_by(removed.max(0) as u64),
            Ok(_) => {}
            Err(error) => tracing::debug!(%error, "a background proposal did not apply"),
        }
    }
}

/// Whether this node has applied an entry of its own term: as leader, its term's first entry,
/// and so everything committed before it.
fn applied_own_term(metrics: &openraft::RaftMetrics<u64, NodeAddr>) -> bool {
    metrics.last_applied.is_some_and(|id| id.leader_id.term == metrics.current_term)
}

/// Whether to ask the voters for a pre-vote now: never on the leader, not before the election
/// timeout drawn after the last one, and not while a newer membership leaves this node out (it
/// hears no heartbeats, and its ever higher terms would reach members that have not yet applied
/// its removal, and depose every leader through them: seed 71993694), nor while it may not vote
/// (`catch_up.rs`). `may_stand` (membership and catch-up) is asked last.
fn pre_vote_due(
    is_leader: bool,
    now: Instant,
    next_pre_vote: Instant,
    may_stand: impl FnOnce() -> bool,
) -> bool {
    !is_leader && now >= next_pre_vote && may_stand()
}

/// Where the log and the snapshots stand, for the size threshold.
#[derive(Clone, Copy, Debug)]
struct SnapshotCheck {
    log_bytes: u64,
    log_bytes_max: u64,
    applied_index: u64,
    snapshot_index: u64,
    /// Entries kept behind a snapshot anyway.
    keep_count: u64,
    /// The applied index when this node last asked for a snapshot.
    requested_at: Option<u64>,
}

/// Whether the log's size asks for a snapshot: it passed its threshold, a snapshot would cover
/// more than the entries kept behind it anyway, and the previous request has produced its
/// snapshot (so a slow build is not asked for again every duty interval).
fn snapshot_due(check: &SnapshotCheck) -> bool {
    check.log_bytes > check.log_bytes_max
        && check.applied_index > check.snapshot_index + check.keep_count
        && check.requested_at.is_none_or(|requested_at| check.snapshot_index >= requested_at)
}

/// What the leader proposes in the background, if anything: expired keys first (active expiry,
/// in batches of at most `EXPIRE_BATCH_KEYS_MAX`), else a time advance while keys with a TTL
/// exist and nothing was proposed for `time_advance_idle_ms` (DESIGN.md §3).
fn background_proposal(
    expired: Vec<bytes::Bytes>,
    ttl_key_count: usize,
    idle_ms: u64,
    time_advance_idle_ms: u64,
) -> Option<Payload> {
    if !expired.is_empty() {
        Some(Payload::ExpireBatch { keys: expired })
    } else if ttl_key_count > 0 && idle_ms >= time_advance_idle_ms {
        Some(Payload::TimeAdvance)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leader never stands; a follower stands once its timeout passed, and only then asks
    /// whether it is a member.
    #[test]
    fn a_pre_vote_is_due_after_the_timeout_on_a_member_that_does_not_lead() {
        let now = monotonic_now();
        let later = now + Duration::from_millis(300);
        assert!(pre_vote_due(false, later, now, || true));
        assert!(!pre_vote_due(true, later, now, || true));
        assert!(!pre_vote_due(false, now, later, || panic!("membership asked before the timeout")));
        assert!(!pre_vote_due(false, later, now, || false));
    }

    /// A snapshot is asked for past the size threshold, only when it covers more than the kept
    /// entries, and not again until the previous request produced one.
    #[test]
    fn a_snapshot_is_due_past_the_threshold_once_per_request() {
        let due = SnapshotCheck {
            log_bytes: 2_000,
            log_bytes_max: 1_000,
            applied_index: 5_000,
            snapshot_index: 1_000,
            keep_count: 1_000,
            requested_at: None,
        };
        assert!(snapshot_due(&due));
        assert!(!snapshot_due(&SnapshotCheck { log_bytes: 1_000, ..due }), "at the threshold");
        assert!(!snapshot_due(&SnapshotCheck { applied_index: 2_000, ..due }), "within the kept entries");
        assert!(!snapshot_due(&SnapshotCheck { requested_at: Some(4_000), ..due }), "still building");
        assert!(snapshot_due(&SnapshotCheck { snapshot_index: 1_000, requested_at: Some(900), ..due }));
    }

    /// Expired keys go first; a time advance only with TTL keys and idle writes; else nothing.
    #[test]
    fn the_leader_proposes_expiry_before_a_time_advance() {
        let key = bytes::Bytes::from_static(b"k");
        assert_eq!(
            background_proposal(vec![key.clone()], 5, 0, 100),
            Some(Payload::ExpireBatch { keys: vec![key] })
        );
        assert_eq!(background_proposal(Vec::new(), 5, 100, 100), Some(Payload::TimeAdvance));
        assert_eq!(background_proposal(Vec::new(), 5, 99, 100), None);
        assert_eq!(background_proposal(Vec::new(), 0, 1_000, 100), None);
    }
}
