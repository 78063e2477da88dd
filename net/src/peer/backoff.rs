//! When to try a peer's address again after failures ([`Backoff`]).

// `tokio::time::Instant` is the simulator's virtual clock under madsim (where it re-exports std's
// type, which the determinism lint names); it is never read for wall time here.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use tokio::time::Instant;

/// The first wait after a failed attempt; it doubles up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(20);
/// The longest wait between attempts to a peer that keeps failing. openraft retries replication
/// after its own backoff; this one keeps votes and forwarded requests from hammering a dead
/// address, while a healed peer is reached again well inside an election timeout.
pub(super) const BACKOFF_MAX: Duration = Duration::from_millis(320);

/// When to try an address again after failures: the wait starts at 20 ms and doubles with each
/// failure in a row, up to 320 ms; a success clears it. Used for connection attempts here and for
/// whole calls by the server's connection pool.
#[derive(Clone, Copy, Debug, Default)]
pub struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
}

impl Backoff {
    /// How long until the next attempt may be made, if it is not yet (`None`: try now).
    pub fn wait_left(&self, now: Instant) -> Option<Duration> {
        self.retry_at.filter(|at| *at > now).map(|at| at - now)
    }

    /// An attempt failed at `now`: the next waits twice as long as the last, up to the max.
    pub fn failed(&mut self, now: Instant) {
        let wait = BACKOFF_FIRST.saturating_mul(1 << self.failures.min(8)).min(BACKOFF_MAX);
        self.failures = self.failures.saturating_add(1);
        self.retry_at = Some(now + wait);
    }

    /// An attempt was answered too slowly at `now`: the peer is there but behind (busy, or
    /// sharing a loaded machine). The next attempt waits the first interval, without doubling,
    /// so a slow peer still hears from us about every timeout; one that has stopped answering
    /// gets at most one attempt per timeout plus that interval.
    pub fn timed_out(&mut self, now: Instant) {
        self.retry_at = Some(now + BACKOFF_FIRST);
    }

    /// An attempt succeeded: the next failure waits the first interval again.
    pub fn succeeded(&mut self) {
        *self = Backoff::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits double with each failure in a row up to the max, and a success starts over.
    #[test]
    fn backoff_doubles_to_its_max_and_a_success_clears_it() {
        let now = Instant::now();
        let mut backoff = Backoff::default();
        assert_eq!(backoff.wait_left(now), None);
        let mut waits = Vec::new();
        for _ in 0..7 {
            backoff.failed(now);
            waits.push(backoff.wait_left(now).expect("waiting").as_millis());
        }
        assert_eq!(waits, [20, 40, 80, 160, 320, 320, 320]);
        assert_eq!(backoff.wait_left(now + BACKOFF_MAX), None);
        backoff.succeeded();
        backoff.failed(now);
        assert_eq!(backoff.wait_left(now), Some(BACKOFF_FIRST));
        // Timeouts in a row do not double the wait; failures after them double it from the start.
        backoff.succeeded();
        for _ in 0..5 {
            backoff.timed_out(now);
            assert_eq!(backoff.wait_left(now), Some(BACKOFF_FIRST));
        }
        backoff.failed(now);
        assert_eq!(backoff.wait_left(now), Some(BACKOFF_FIRST));
        backoff.failed(now);
        assert_eq!(backoff.wait_left(now), Some(BACKOFF_FIRST * 2));
    }
}
