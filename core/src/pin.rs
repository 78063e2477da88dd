//! Snapshots read from the live keyspace instead of a copy of it.
//!
//! [`pin`] marks every shard with the applied index S, under the apply lock: applying waits for
//! that (O(shards)), not for the keys. From then on a shard never changes in place, nor frees, a
//! record whose modification index is at most S: a write that replaces or removes one moves it
//! aside (`Shard::discard`) and keeps it until the pin ends. The records of the state at S are
//! therefore, shard by shard, the table's records not written since S plus those moved aside,
//! and they stay where they are. [`PinnedState::write`] gathers their addresses one shard at a
//! time (each shard's read lock held only meanwhile), sorts them by key and writes the snapshot,
//! while writes go on. What it costs beside the keyspace is 24 bytes per key for the addresses
//! with their keys' first 16 bytes (the sort compares those, not the records: see
//! [`KeyOrdered`]) and the records written over during the snapshot, as a fork's copy-on-write
//! costs pages.
//!
//! Every write carries its entry's log index as the new record's modification index, so "written
//! since S" is exactly "modification index above S". The one write that breaks this, replacing
//! the whole map with an installed snapshot, breaks the pin (`ShardedMap::pin_broken`), and the
//! write fails with [`PinBroken`] rather than mixing two states.

use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;

use crate::key_compare::order_prefix;
use crate::snapshot::{header_of, write_rest, LogId, SnapshotWriter};
use crate::state::{Frozen, StateMachine};
use crate::stored_key::PinnedRecord;

/// The state at one applied index, pinned in place for a snapshot; unpinned when dropped.
pub struct PinnedState {
    state: Arc<StateMachine>,
    /// The state but its keys, copied when pinned.
    rest: Frozen,
    /// Invariant: empty, or the records of the pin, gathered by `write`; emptied before the pin
    /// ends.
    records: Vec<KeyOrdered>,
}

/// A pinned record with its key's [`order_prefix`], which the sort compares before the keys
/// themselves: comparing keys loads two records, far apart in memory, and a SAVE of 1M keys
/// spent 45 % of its time in that sort, most of it waiting on those loads (`perf record`).
struct KeyOrdered {
    prefix: [u64; 2],
    record: PinnedRecord,
}

/// Why a pinned snapshot was not written: a snapshot was installed while it was being read.
#[derive(Debug, thiserror::Error)]
#[error("a snapshot was installed while this one was read: it would mix two states")]
pub struct PinBroken;

/// Pins `state` at its applied index; `None` when a pin is held already (one at a time).
pub fn pin(state: &Arc<StateMachine>) -> Option<PinnedState> {
    let rest = state.pin()?;
    Some(PinnedState { state: state.clone(), rest, records: Vec::new() })
}

impl PinnedState {
    /// The applied index the state is pinned at.
    pub fn applied_index(&self) -> u64 {
        self.rest.applied_index
    }

    /// Writes the pinned state as a snapshot (the same bytes [`crate::snapshot::write_snapshot`]
    /// writes for the state frozen at the same index), then ends the pin.
    ///
    /// # Errors
    /// Any error of the writer, or [`PinBroken`] (as an `io::Error` of kind `Other`).
    pub fn write<W: Write>(
        mut self,
        out: W,
        last_applied: Option<LogId>,
        membership: Bytes,
    ) -> io::Result<W> {
        let map = self.state.map();
        let mut shard_records = Vec::new();
        for shard in 0..map.shard_count() {
            map.pinned_records(shard, &mut shard_records);
            self.records.extend(
                shard_records
                    .drain(..)
                    .map(|record| KeyOrdered { prefix: order_prefix(record.get().key()), record }),
            );
        }
        if map.pin_broken() {
            return Err(io::Error::other(PinBroken));
        }
        self.records.sort_unstable_by(|a, b| {
            a.prefix.cmp(&b.prefix).then_with(|| a.record.get().key().cmp(b.record.get().key()))
        });
        let header = header_of(&self.rest, self.records.len() as u64, last_applied, membership);
        let mut writer = SnapshotWriter::new(out, &header)?;
        for KeyOrdered { record, .. } in &self.records {
            writer.write_record(record.get())?;
        }
        write_rest(writer, &self.rest)
    }
}

impl Drop for PinnedState {
    fn drop(&mut self) {
        // No record may be named once the shards free what they kept.
        self.records = Vec::new();
        self.state.map().unpin();
    }
}
