//! A node's wall clock in simulation: madsim's virtual time with an offset and a drift that the
//! nemesis changes during a run (DESIGN.md §3 and §5). Leader stamps and active expiry read it;
//! Raft's timers stay on madsim's virtual time. Its monotonic reading, which times the leader's
//! read lease, runs at the same drift clamped to the bound the lease assumes, and never jumps.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use redraft_server::clock::Clock;
use redraft_server::node::READ_LEASE_DRIFT_PPM;
use tokio::time::Instant;

/// Unix milliseconds at the start of every simulated run, so runs replay exactly.
pub const EPOCH_MS: u64 = 1_800_000_000_000;

/// A skewable clock.
pub struct SimClock {
    start: Instant,
    /// Added to the reading, in milliseconds; may be negative.
    offset_ms: AtomicI64,
    /// Parts per million the clock runs fast (positive) or slow (negative).
    drift_ppm: AtomicI64,
    /// The monotonic reading: (virtual ms elapsed, reading then, drift in ppm since then).
    monotonic: Mutex<(i64, i64, i64)>,
    /// The highest wall reading before the last skew (between skews the reading only grows).
    highest_before_skew: AtomicU64,
    /// How many times the clock was skewed.
    skews: AtomicU64,
}

impl SimClock {
    /// A clock reading [`EPOCH_MS`] now, without skew.
    pub fn new() -> SimClock {
        SimClock {
            start: crate::now(),
            offset_ms: AtomicI64::new(0),
            drift_ppm: AtomicI64::new(0),
            monotonic: Mutex::new((0, 0, 0)),
            highest_before_skew: AtomicU64::new(0),
            skews: AtomicU64::new(0),
        }
    }

    /// Sets the clock's offset and drift. The monotonic reading goes on from where it is at the
    /// new drift, clamped to the lease's bound.
    pub fn skew(&self, offset_ms: i64, drift_ppm: i64) {
        let mut monotonic = self.monotonic.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.highest_before_skew.fetch_max(self.now_ms(), Ordering::Relaxed);
        self.skews.fetch_add(1, Ordering::Relaxed);
        let elapsed = self.elapsed_ms();
        let bound = READ_LEASE_DRIFT_PPM as i64;
        *monotonic = (elapsed, reading(*monotonic, elapsed), drift_ppm.clamp(-bound, bound));
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
        self.drift_ppm.store(drift_ppm, Ordering::Relaxed);
    }

    /// The highest wall reading the clock ever gave, now included: no stamp a leader took
    /// from it is later.
    pub fn highest_ms(&self) -> u64 {
        self.highest_before_skew.load(Ordering::Relaxed).max(self.now_ms())
    }

    /// How many times the clock was skewed so far: between two equal counts it only ran forward.
    pub fn skews(&self) -> u64 {
        self.skews.load(Ordering::Relaxed)
    }

    fn elapsed_ms(&self) -> i64 {
        self.start.elapsed().as_millis() as i64
    }
}

/// The monotonic reading at `elapsed` virtual ms, from the reading at the last change of drift.
fn reading((since, at, drift_ppm): (i64, i64, i64), elapsed: i64) -> i64 {
    let delta = elapsed - since;
    at + delta + delta * drift_ppm / 1_000_000
}

impl Default for SimClock {
    fn default() -> SimClock {
        SimClock::new()
    }
}

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        let elapsed = self.elapsed_ms();
        let drifted = elapsed + elapsed * self.drift_ppm.load(Ordering::Relaxed) / 1_000_000;
        (EPOCH_MS as i64 + drifted + self.offset_ms.load(Ordering::Relaxed)).max(0) as u64
    }

    fn monotonic_ms(&self) -> u64 {
        let monotonic = *self.monotonic.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        reading(monotonic, self.elapsed_ms()).max(0) as u64
    }
}
