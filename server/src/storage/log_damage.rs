//! What recovery of the segment log (`segment_log.rs`) found and repaired, and what it does
//! about damage: the intact prefix is kept, or the log refuses to open.

/// What recovery found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub segment_count: usize,
    pub entry_count: usize,
    /// A torn tail that was truncated: the file, where valid data ended, and the bytes dropped.
    pub torn_tail: Option<(String, u64, u64)>,
    /// Damage found before the end of the log: the log was cut back to the intact prefix.
    pub damage: Option<Damage>,
}

/// What [`SegmentLog::open_with`] does about damage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDamage {
    /// Keep the intact prefix and drop the rest: the node fetches it from the leader.
    KeepPrefix,
    /// Refuse to open, changing nothing: a node with no peers has no one to fetch it from.
    Refuse,
}

/// Damage in the log (a record whose checksum fails, a torn record before the last segment's
/// end, entries out of order): the log keeps the records before it and drops the rest, and the
/// node fetches them again from the leader (`node/catch_up.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub file: String,
    pub offset: u64,
    pub problem: String,
    /// The last entry kept, if any.
    pub kept_through: Option<u64>,
    /// Segments removed: every later one, and the damaged one when none of it was kept.
    pub segments_removed: usize,
}
