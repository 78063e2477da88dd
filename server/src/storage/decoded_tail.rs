//! The newest log entries as openraft handed them to the log store, kept decoded until they are
//! applied, so that applying an entry (and replicating it while it is fresh) clones it instead of
//! decoding its record again. Decoding was a tenth of the instructions a pipelined SET costs
//! (`benches/compare/callgrind.sh`); cloning an entry copies its list of writes and counts up the
//! reference counts of their byte strings.
//!
//! An entry leaves the tail once the state machine has applied it, and the tail is bounded by
//! [`DECODED_TAIL_ENTRIES_MAX`] entries and [`LOG_CACHE_BYTES_MAX`] encoded bytes, so a follower
//! that lags (or a log nobody applies) falls back to decoding, never to unbounded memory. A
//! decoded write's byte strings may share the buffer its request arrived in (a connection's read
//! buffer, a peer's frame); holding the entry keeps that buffer alive until the entry leaves.

use std::collections::VecDeque;

use openraft::Entry;
use redraft_core::limits::LOG_CACHE_BYTES_MAX;

use crate::raft_types::TypeConfig;

/// Most entries kept decoded: the entries in flight between append and apply, with room to spare
/// (the proposer keeps one batch in flight; a follower receives a few per AppendEntries).
pub const DECODED_TAIL_ENTRIES_MAX: usize = 64;

/// Consecutive entries, oldest first, with the size of each one's encoding.
#[derive(Default)]
pub(super) struct DecodedTail {
    entries: VecDeque<(Entry<TypeConfig>, usize)>,
    /// Invariant: the sum of the encoded sizes in `entries`.
    bytes: usize,
}

impl DecodedTail {
    /// The entry at `index`, if it is kept.
    pub(super) fn get(&self, index: u64) -> Option<&Entry<TypeConfig>> {
        let first = self.entries.front()?.0.log_id.index;
        let offset = usize::try_from(index.checked_sub(first)?).ok()?;
        self.entries.get(offset).map(|(entry, _)| entry)
    }

    /// Keeps `entry`, whose encoding is `encoded_bytes` long, as the newest; drops what `applied`
    /// covers and the oldest beyond the bounds. An entry that does not follow the newest kept
    /// one (after a truncation the caller did not report) replaces the whole tail.
    pub(super) fn push(&mut self, entry: Entry<TypeConfig>, encoded_bytes: usize, applied: u64) {
        if self.entries.back().is_some_and(|(last, _)| last.log_id.index + 1 != entry.log_id.index) {
            self.clear();
        }
        self.drop_through(applied);
        self.bytes += encoded_bytes;
        self.entries.push_back((entry, encoded_bytes));
        while self.entries.len() > DECODED_TAIL_ENTRIES_MAX || self.bytes > LOG_CACHE_BYTES_MAX {
            self.pop_oldest();
        }
    }

    /// Drops the entries at `index` and after (the log was truncated there).
    pub(super) fn truncate(&mut self, index: u64) {
        while self.entries.back().is_some_and(|(last, _)| last.log_id.index >= index) {
            let (_, bytes) = self.entries.pop_back().expect("checked above");
            self.bytes -= bytes;
        }
    }

    /// Drops the entries at `index` and before (applied, or purged).
    pub(super) fn drop_through(&mut self, index: u64) {
        while self.entries.front().is_some_and(|(first, _)| first.log_id.index <= index) {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((_, bytes)) = self.entries.pop_front() {
            self.bytes -= bytes;
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// How many entries are kept, and their encoded bytes.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        (self.entries.len(), self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use openraft::{EntryPayload, LogId};

    use super::*;

    fn entry(index: u64) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    fn indexes(tail: &DecodedTail) -> Vec<u64> {
        tail.entries.iter().map(|(e, _)| e.log_id.index).collect()
    }

    #[test]
    fn keeps_what_is_not_applied_and_finds_it_by_index() {
        let mut tail = DecodedTail::default();
        for index in 1..=5 {
            tail.push(entry(index), 10, 0);
        }
        assert_eq!(tail.get(3).map(|e| e.log_id.index), Some(3));
        assert!(tail.get(0).is_none() && tail.get(6).is_none());
        tail.push(entry(6), 10, 4);
        assert_eq!(indexes(&tail), [5, 6]);
        assert_eq!(tail.held(), (2, 20));
    }

    #[test]
    fn truncation_and_purge_drop_their_ends() {
        let mut tail = DecodedTail::default();
        for index in 1..=6 {
            tail.push(entry(index), 10, 0);
        }
        tail.truncate(5);
        tail.drop_through(2);
        assert_eq!(indexes(&tail), [3, 4]);
        assert_eq!(tail.held(), (2, 20));
        // An entry that does not follow the newest replaces the tail rather than misplace it.
        tail.push(entry(9), 10, 0);
        assert_eq!(indexes(&tail), [9]);
        assert_eq!(tail.held(), (1, 10));
    }

    #[test]
    fn bounded_by_count_and_by_bytes() {
        let mut tail = DecodedTail::default();
        for index in 1..=(DECODED_TAIL_ENTRIES_MAX as u64 + 10) {
            tail.push(entry(index), 1, 0);
        }
        assert_eq!(tail.held().0, DECODED_TAIL_ENTRIES_MAX);
        assert_eq!(tail.get(11).map(|e| e.log_id.index), Some(11));
        assert!(tail.get(10).is_none());
        let mut tail = DecodedTail::default();
        tail.push(entry(1), LOG_CACHE_BYTES_MAX / 2, 0);
        tail.push(entry(2), LOG_CACHE_BYTES_MAX / 2, 0);
        tail.push(entry(3), 1, 0);
        assert_eq!(indexes(&tail), [2, 3]);
    }
}
