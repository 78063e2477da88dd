//! Snapshots read from the live keyspace instead of a copy of it.
//!
//! [`pin`] marks every shard with the applied index S, under the apply lock: applying waits for
//! that (O(shards)), not for the keys. From then on a shard never changes in place, nor frees, a
//! record whose modification index is at most S: a write that replaces or removes one moves it
//! aside (`Shard::discard`) and keeps it until the pin ends. The records of the state at S are
//! therefore, shard by shard, the table's records not written since S plus those moved aside,
//! and they stay where they are. [`PinnedState::write`] gathers their addresses one shard at a
//! time (each shard's read lock held only meanwhile), sorts them by key and writes the snapshot,
//! while writes go on. What it costs beside the keyspace is 8 bytes per key for the addresses
//! and the records written over during the snapshot, as a fork's copy-on-write costs pages.
//!
//! The sorts compare keys by their first 16 bytes held beside each record's address
//! ([`order_prefix`]) rather than in the records, which are far apart in memory: a SAVE of 1M
//! keys spent 45 % of its time in a sort that loaded two records a comparison. Held for every
//! key at once, those bytes cost 24 a key for as long as the snapshot is written (a load of 1M
//! keys ended with 20 MB more resident); so each shard's records are sorted on their own, and
//! the snapshot merges the shards' sorted runs (`Run`).
//!
//! Every write carries its entry's log index as the new record's modification index, so "written
//! since S" is exactly "modification index above S". The one write that breaks this, replacing
//! the whole map with an installed snapshot, breaks the pin (`ShardedMap::pin_broken`), and the
//! write fails with [`PinBroken`] rather than mixing two states.

use std::cmp::Ordering;
use std::collections::binary_heap::{BinaryHeap, PeekMut};
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
    /// Invariant: empty, or the records of the pin, gathered by `write`, each shard's sorted by
    /// key; emptied before the pin ends.
    records: Vec<PinnedRecord>,
}

/// Orders two records by their keys' [`order_prefix`]es `a` and `b`, and only where those are
/// equal by the keys themselves, loading the `records`.
fn key_order<'r>(
    a: [u64; 2],
    b: [u64; 2],
    records: impl FnOnce() -> (&'r PinnedRecord, &'r PinnedRecord),
) -> Ordering {
    a.cmp(&b).then_with(|| {
        let (a, b) = records();
        a.get().key().cmp(b.get().key())
    })
}

/// One shard's records, sorted, from the first not yet written: the merge's heap holds the
/// runs by their first keys, the smallest on top.
struct Run<'a> {
    /// The first record's key's [`order_prefix`].
    prefix: [u64; 2],
    first: &'a PinnedRecord,
    rest: std::slice::Iter<'a, PinnedRecord>,
}

impl<'a> Run<'a> {
    fn new(mut records: std::slice::Iter<'a, PinnedRecord>) -> Option<Run<'a>> {
        let first = records.next()?;
        let run = Run { prefix: order_prefix(first.get().key()), first, rest: records };
        if let Some(next) = run.rest.as_slice().first() {
            next.get().prefetch_header();
        }
        run.prefetch_ahead();
        Some(run)
    }

    /// Moves to the next record; `false` at the run's end.
    fn advance(&mut self) -> bool {
        let Some(next) = self.rest.next() else { return false };
        (self.prefix, self.first) = (order_prefix(next.get().key()), next);
        self.prefetch_ahead();
        true
    }

    /// Starts fetching the record after the first (its header fetched one step before) and
    /// the header of the one after that: with one run per shard taking turns, they are read
    /// dozens of records later, where loading each key only when its run came up made the
    /// merge wait on every one (a SAVE of 1M keys took half again the time of one sort).
    fn prefetch_ahead(&self) {
        let ahead = self.rest.as_slice();
        if let Some(next) = ahead.first() {
            next.get().prefetch_record();
        }
        if let Some(after) = ahead.get(1) {
            after.get().prefetch_header();
        }
    }
}

/// The smaller first key on top of the heap (`BinaryHeap` keeps the greatest there).
impl Ord for Run<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        key_order(other.prefix, self.prefix, || (other.first, self.first))
    }
}

impl PartialOrd for Run<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Run<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Run<'_> {}

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
        let mut runs = Vec::with_capacity(map.shard_count());
        // One shard's records, their places in it by key (prefixes and indexes, so that the
        // sort moves 24 bytes an entry and loads no record unless two prefixes are equal).
        let mut gathered = Vec::new();
        let mut order: Vec<([u64; 2], u32)> = Vec::new();
        let mut taken = Vec::new();
        for shard in 0..map.shard_count() {
            map.pinned_records(shard, &mut gathered);
            order.extend(gathered.iter().zip(0..).map(|(record, at)| (order_prefix(record.get().key()), at)));
            order.sort_unstable_by(|&(a, i), &(b, j)| {
                key_order(a, b, || (&gathered[i as usize], &gathered[j as usize]))
            });
            taken.extend(gathered.drain(..).map(Some));
            let start = self.records.len();
            self.records.extend(order.drain(..).map(|(_, at)| taken[at as usize].take().expect("once each")));
            taken.clear();
            runs.push(start..self.records.len());
        }
        if map.pin_broken() {
            return Err(io::Error::other(PinBroken));
        }
        let header = header_of(&self.rest, self.records.len() as u64, last_applied, membership);
        let mut writer = SnapshotWriter::new(out, &header)?;
        let mut heap: BinaryHeap<Run<'_>> =
            runs.into_iter().filter_map(|run| Run::new(self.records[run].iter())).collect();
        // The smallest run's first record written, the run moved on in place: one sift down
        // the heap a record, where a pop and a push took two.
        while let Some(mut run) = heap.peek_mut() {
            writer.write_record(run.first.get())?;
            if !run.advance() {
                PeekMut::pop(run);
            }
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
