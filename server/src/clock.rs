//! The node's wall clock, a seam (DESIGN.md §5): the leader stamps entries with it, and active
//! expiry compares TTLs against it. Production reads the system clock; the simulator gives each
//! node its own clock with an offset and a drift. Raft's timers do not use it: they run on the
//! runtime's monotonic time ([`crate::runtime::AliasRuntime`]).

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch. May jump or run at the wrong rate; callers that need
    /// monotonic values (leader stamps) take the maximum with what they saw before.
    fn now_ms(&self) -> u64;
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        // The production seam is the one place that reads the system clock.
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now();
        now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }
}
