//! A node's wall clock in simulation: madsim's virtual time with an offset and a drift that the
//! nemesis changes during a run (DESIGN.md §3 and §5). Leader stamps and active expiry read it;
//! Raft's timers stay on madsim's virtual time.

use std::sync::atomic::{AtomicI64, Ordering};

use redraft_server::clock::Clock;
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
}

impl SimClock {
    /// A clock reading [`EPOCH_MS`] now, without skew.
    pub fn new() -> SimClock {
        SimClock { start: crate::now(), offset_ms: AtomicI64::new(0), drift_ppm: AtomicI64::new(0) }
    }

    /// Sets the clock's offset and drift.
    pub fn skew(&self, offset_ms: i64, drift_ppm: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
        self.drift_ppm.store(drift_ppm, Ordering::Relaxed);
    }
}

impl Default for SimClock {
    fn default() -> SimClock {
        SimClock::new()
    }
}

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        let elapsed = self.start.elapsed().as_millis() as i64;
        let drifted = elapsed + elapsed * self.drift_ppm.load(Ordering::Relaxed) / 1_000_000;
        (EPOCH_MS as i64 + drifted + self.offset_ms.load(Ordering::Relaxed)).max(0) as u64
    }
}
