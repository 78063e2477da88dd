//! The leader lease for reads (`--read-lease`, off by default): a leader that a quorum has
//! confirmed at time `t` serves reads from its own state, with no confirmation round, until
//! `t + lease` on its own monotonic clock.
//!
//! Why no other leader can exist meanwhile: a new leader needs the votes of a quorum, which
//! includes at least one node that acknowledged the confirmation after `t` (quorums intersect),
//! or this leader itself, which steps down first. Such a node gives no vote for
//! `election_timeout_ms_max` after the acknowledgement:
//! - to another candidate, because openraft refuses votes for that long after a heartbeat from
//!   the leader (its follower lease);
//! - to itself, because with the lease on its election timeout starts at
//!   `election_timeout_ms_max` (`election::random_election_timeout`), and it stands only if it
//!   heard from no leader during its pre-vote either (`Node::stand_for_election`);
//! - after a restart, which forgets when it last heard from the leader, because a node neither
//!   grants votes nor stands for `election_timeout_ms_max` after it starts.
//!
//! So the lease holds while `lease` on the leader's clock is no longer than
//! `election_timeout_ms_max` on every follower's. That is an assumption about clocks: their rates
//! may differ by at most [`READ_LEASE_DRIFT_PPM`] (the leader slow and a follower fast by that
//! much each), every node runs with the same election timeouts, and every node has the lease on
//! (a node without it stands for election sooner). One gap is left: openraft 0.9 has no
//! conditional election, so a heartbeat handled between a node's last check of its silence and
//! its call to `elect` (two consecutive messages to its Raft core) is not seen.
//!
//! Without the lease a linearizable read on a leader of several voters waits for a quorum round
//! (ReadIndex, `read_rounds.rs`); with it, only when the lease has run out, and reads past half
//! the lease start a round in the background to renew it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// How far apart the rates of two nodes' monotonic clocks may drift, in parts per million of
/// elapsed time, for the lease to be safe: 10 %, far beyond the 0.01 % of a crystal or what NTP
/// slews, so that a VM whose clock stalls or races a little does not break a read.
pub const READ_LEASE_DRIFT_PPM: u64 = 100_000;

/// The longest lease a leader may hold for the election timeout `election_timeout_ms_max`: the
/// timeout shortened so that the leader's clock running slow by the drift bound and a follower's
/// running fast by as much still leave the lease inside the follower's.
pub fn safe_read_lease_ms(election_timeout_ms_max: u64) -> u64 {
    election_timeout_ms_max * (1_000_000 - READ_LEASE_DRIFT_PPM) / (1_000_000 + READ_LEASE_DRIFT_PPM)
}

/// The lease this leader holds, if any.
pub(super) struct ReadLease {
    /// The lease's length on this node's monotonic clock; 0 when leases are off.
    length_ms: u64,
    /// (the term the quorum confirmed, the monotonic time the lease runs out).
    held: Mutex<Option<(u64, u64)>>,
    /// Whether a background round is renewing the lease.
    renewing: AtomicBool,
}

impl ReadLease {
    pub(super) fn new(length_ms: u64) -> ReadLease {
        ReadLease { length_ms, held: Mutex::new(None), renewing: AtomicBool::new(false) }
    }

    pub(super) fn enabled(&self) -> bool {
        self.length_ms > 0
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<(u64, u64)>> {
        self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that a quorum confirmed this node as the leader of `term` in a round that started
    /// at `started_ms` (monotonic): the lease runs until `started_ms` plus its length.
    pub(super) fn confirmed(&self, term: u64, started_ms: u64) {
        if !self.enabled() {
            return;
        }
        let until = started_ms + self.length_ms;
        let mut held = self.held();
        *held = match *held {
            Some((t, u)) if t == term => Some((term, u.max(until))),
            Some((t, _)) if t > term => return,
            _ => Some((term, until)),
        };
    }

    /// The lease's end, if one is held for `term`.
    pub(super) fn until(&self, term: u64) -> Option<u64> {
        match *self.held() {
            Some((t, until)) if t == term => Some(until),
            _ => None,
        }
    }

    /// Whether a read at `now_ms` should start a background renewal: past half of the lease, and
    /// no renewal running (the caller then runs one and calls [`ReadLease::renewed`]).
    pub(super) fn start_renewal(&self, until_ms: u64, now_ms: u64) -> bool {
        until_ms.saturating_sub(now_ms) < self.length_ms / 2 && !self.renewing.swap(true, Ordering::AcqRel)
    }

    pub(super) fn renewed(&self) {
        self.renewing.store(false, Ordering::Release);
    }
}

/// The read index a leader may answer from its own state under its lease, with no quorum round:
/// what it has applied, when it leads in `current_term`, holds a lease for that term that runs
/// past `now_ms`, and has applied an entry of that term (so that everything committed before its
/// election is applied too; a write is acknowledged only once applied). `None` otherwise.
///
/// `applied` is openraft's metrics' last applied log id, which is published after the apply that
/// acknowledged its writes; `state_applied` is the state machine's own applied index, set before
/// them. The index is the larger: a follower reading at the metrics' index alone could miss a
/// write the leader already acknowledged (the simulator's `lease-reads-under-drift` seed 10 on 5
/// nodes did).
pub(super) fn lease_read_index(
    lease_until: Option<u64>,
    now_ms: u64,
    is_leader: bool,
    current_term: u64,
    applied: Option<(u64, u64)>,
    state_applied: u64,
) -> Option<u64> {
    match (lease_until, applied) {
        (Some(until), Some((term, index))) if is_leader && now_ms < until && term == current_term => {
            Some(index.max(state_applied))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default election timeout gives a lease of 490 ms: 600 ms shortened by 10 % slow on
    /// one side and 10 % fast on the other.
    #[test]
    fn the_safe_lease_leaves_room_for_the_drift_bound_on_both_sides() {
        assert_eq!(safe_read_lease_ms(600), 490);
        assert_eq!(safe_read_lease_ms(300), 245);
        let (lease, follower) = (safe_read_lease_ms(600) as f64, 600.0);
        // The leader's clock slow by the bound (its lease lasts longer in real time) against a
        // follower's fast by the bound (its refusal ends sooner).
        let drift = READ_LEASE_DRIFT_PPM as f64 / 1e6;
        assert!(lease / (1.0 - drift) <= follower / (1.0 + drift));
    }

    #[test]
    fn a_confirmation_extends_the_lease_of_its_term_only() {
        let lease = ReadLease::new(100);
        assert_eq!(lease.until(3), None);
        lease.confirmed(3, 1_000);
        assert_eq!(lease.until(3), Some(1_100));
        lease.confirmed(3, 990);
        assert_eq!(lease.until(3), Some(1_100), "an older round does not shorten it");
        assert_eq!(lease.until(4), None, "a lease is for one term");
        lease.confirmed(2, 2_000);
        assert_eq!(lease.until(3), Some(1_100), "a round of an older term is ignored");
        lease.confirmed(4, 2_000);
        assert_eq!((lease.until(3), lease.until(4)), (None, Some(2_100)));
        let off = ReadLease::new(0);
        off.confirmed(3, 1_000);
        assert_eq!(off.until(3), None, "leases off: a confirmation gives none");
    }

    #[test]
    fn only_a_leader_inside_its_lease_with_its_term_applied_reads_alone() {
        assert_eq!(lease_read_index(Some(1_100), 1_099, true, 3, Some((3, 42)), 42), Some(42));
        assert_eq!(lease_read_index(Some(1_100), 1_100, true, 3, Some((3, 42)), 42), None, "ran out");
        assert_eq!(lease_read_index(None, 1_000, true, 3, Some((3, 42)), 42), None);
        assert_eq!(lease_read_index(Some(1_100), 1_000, false, 3, Some((3, 42)), 42), None, "not the leader");
        assert_eq!(
            lease_read_index(Some(1_100), 1_000, true, 3, Some((2, 40)), 40),
            None,
            "nothing of its own term applied yet"
        );
    }

    /// The metrics trail the apply that acknowledged a write: the read index is the state
    /// machine's when it is ahead.
    #[test]
    fn the_lease_read_index_covers_what_the_state_machine_applied() {
        assert_eq!(lease_read_index(Some(1_100), 1_000, true, 3, Some((3, 42)), 45), Some(45));
    }

    #[test]
    fn one_renewal_at_a_time_and_only_past_half_the_lease() {
        let lease = ReadLease::new(100);
        assert!(!lease.start_renewal(1_100, 1_000), "more than half left");
        assert!(lease.start_renewal(1_100, 1_060));
        assert!(!lease.start_renewal(1_100, 1_070), "one is running");
        lease.renewed();
        assert!(lease.start_renewal(1_100, 1_070));
    }
}
