//! The node's wall clock, a seam (DESIGN.md §5): the leader stamps entries with it, and active
//! expiry compares TTLs against it. Production reads the system clock; the simulator gives each
//! node its own clock with an offset and a drift. Raft's timers do not use it: they run on the
//! runtime's monotonic time ([`crate::runtime::AliasRuntime`]), which deadlines read through
//! [`monotonic_now`].

/// The monotonic clock for deadlines: virtual time in the simulator, where tokio's `Instant` is
/// std's type under madsim's clock (which the determinism lint names); never wall time, which
/// comes from a node's [`Clock`].
#[allow(clippy::disallowed_methods)]
pub fn monotonic_now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch. May jump or run at the wrong rate; callers that need
    /// monotonic values (leader stamps) take the maximum with what they saw before.
    fn now_ms(&self) -> u64;

    /// Milliseconds on the node's monotonic clock since some fixed origin: never jumps, and runs
    /// at the rate of the machine's oscillator, within the drift bound the read lease assumes
    /// (`node/read_lease.rs`). The simulator drifts it per node.
    fn monotonic_ms(&self) -> u64 {
        static ORIGIN: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
        let origin = *ORIGIN.get_or_init(monotonic_now);
        monotonic_now().saturating_duration_since(origin).as_millis() as u64
    }
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

/// The environment variable that names the clock-offset file of a fault-injection build.
pub const CLOCK_OFFSET_FILE_ENV: &str = "REDRAFT_CLOCK_OFFSET_FILE";

/// The system clock shifted by a number of milliseconds that a test harness writes to a file
/// (`jepsen run --nemesis clock`). Compiled only with the `fault-injection` feature, so a
/// production binary cannot be told a wrong time. The file holds one signed integer; it is read
/// again at most every 50 ms, and a missing or unreadable file means no offset.
#[cfg(feature = "fault-injection")]
pub struct OffsetClock {
    path: std::path::PathBuf,
    /// (offset in ms, system time in ms when the file was last read).
    cached: parking_lot::Mutex<(i64, u64)>,
}

#[cfg(feature = "fault-injection")]
impl OffsetClock {
    pub fn new(path: std::path::PathBuf) -> OffsetClock {
        OffsetClock { path, cached: parking_lot::Mutex::new((0, 0)) }
    }
}

#[cfg(feature = "fault-injection")]
impl Clock for OffsetClock {
    fn now_ms(&self) -> u64 {
        let now = SystemClock.now_ms();
        let mut cached = self.cached.lock();
        if now.saturating_sub(cached.1) >= 50 || now < cached.1 {
            let offset = std::fs::read_to_string(&self.path)
                .ok()
                .and_then(|text| text.trim().parse::<i64>().ok())
                .unwrap_or(0);
            *cached = (offset, now);
        }
        now.saturating_add_signed(cached.0)
    }
}

/// The clock a server process runs on: the system clock, or with the `fault-injection` feature
/// and [`CLOCK_OFFSET_FILE_ENV`] set, the system clock shifted by that file's offset.
///
/// # Errors
/// When the variable is set in a build without the feature (the harness would believe its clock
/// faults applied).
pub fn process_clock() -> Result<std::sync::Arc<dyn Clock>, String> {
    match std::env::var_os(CLOCK_OFFSET_FILE_ENV) {
        None => Ok(std::sync::Arc::new(SystemClock)),
        #[cfg(feature = "fault-injection")]
        Some(path) => {
            tracing::warn!(file = ?path, "fault injection: the clock is shifted by the offset in this file");
            Ok(std::sync::Arc::new(OffsetClock::new(path.into())))
        }
        #[cfg(not(feature = "fault-injection"))]
        Some(_) => Err(format!(
            "{CLOCK_OFFSET_FILE_ENV} is set, but this binary was built without the fault-injection feature"
        )),
    }
}
