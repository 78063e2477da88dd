//! The synced mark: the last log index this node has reported durable, kept apart from the log
//! in the file `synced-through`, so that a restart can tell a log whose synced tail went missing
//! (a write the disk acknowledged and then lost) from one that simply ends there. A node that
//! acknowledged entries and lost them must not vote as if it never had them: with its vote a
//! candidate that lacks them could lead and overwrite them. The log store compares the mark
//! with the log's end when it opens (`log_store.rs`) and treats a shortfall as damage.
//!
//! The mark is written only under the `always` policy, before a batch of appends is reported
//! durable; the other policies acknowledge unsynced appends by design. It is lowered, durably,
//! before the log is cut back (Raft's conflict truncation, a repair), so it never claims entries
//! the log legitimately dropped.
//!
//! **One flush for the batch and the mark.** A batch of at most [`COPY_BYTES_MAX`] bytes of
//! records (all but the largest pipelines) is copied into the mark's slot, which is written and
//! handed to the device ([`LogFile::write_back`], `sync_file_range`) *before* the log's sync; the
//! log's `fdatasync` then ends with the device's cache flush, which makes both durable. A second
//! flush for the mark alone cost a fifth of a node's durable throughput (`flush.rs`). A crash
//! before that flush ends may keep the mark and not the batch: the mark is then ahead of the log,
//! but it holds the batch, and the log store restores it at open (an entry appended and never
//! reported durable coming back is harmless: a log that kept it unsynced would have it too). The
//! same copy restores a batch the disk acknowledged and lost; a log that lost more than the last
//! batch is damage, as before. A larger batch is synced as before: the log, then the mark with
//! its own flush. This relies on `fdatasync` flushing the whole device's cache, which ext4 and
//! XFS do, and on the mark and the log sharing one file system (one directory).
//!
//! Each raise also records the last entry known committed that the mark covers (openraft's
//! optional `save_committed`; one batch behind, since an entry commits after its sync), at no
//! extra write or sync. A restart re-applies the log up to it before it has a leader, reading
//! each entry once; without it openraft reads the whole log after the snapshot twice, once to
//! look for membership changes and again to apply it (a fifth of a restart with 1M keys).
//! Entries up to the mark are synced or held by its copy, and so is any cut of the log before
//! them, so the entries up to the recorded one are the committed ones whatever a crash loses.
//!
//! The file holds two slots of [`SLOT_BYTES`], written in turn in place, each starting with one
//! record (core's `record.rs`) of a header of [`HEADER_WORDS`] u64 LE words (`sequence | index |
//! has committed | term | leader | committed index | copy's first index | copy's entry count`)
//! and the copy, the batch's entries framed as the log frames them (`index | payload`, one record
//! each); what follows the record in the slot (zeros, or the rest of an older, longer record) is
//! not read. The valid slot with the higher sequence holds the mark. A write torn by a crash
//! damages one slot, and the other still holds the previous mark, which is lower: never a false
//! alarm. Its fault model is a lost write, not a device that ignores every flush (that would
//! lose the mark with the log).
//!
//! Older builds wrote 32-byte slots of `sequence | index`, then 64-byte slots of `sequence |
//! index | committed`; a file of at most two such slots is read in that layout, and rewritten in
//! the current one as the log opens ([`SyncedMark::upgrade_layout`]).

use std::future::Future;
use std::io;

use bytes::Bytes;
use openraft::{CommittedLeaderId, LogId};
use redraft_core::record::{self, RecordDecoder, Tail, RECORD_HEADER_BYTES};

use super::disk::{Disk, LogFile};

/// The mark's file in the data directory.
pub const SYNCED_MARK_FILE: &str = "synced-through";

/// Bytes per slot: one record of a header ([`HEADER_WORDS`] words) and a copy of up to
/// [`COPY_BYTES_MAX`] bytes of log records; what follows the record in the slot is ignored.
const SLOT_BYTES: usize = 64 * 1024;

/// Words of a slot's header: sequence, index, whether a committed entry follows (0 or 1), its
/// term, leader and index, the copy's first index and its count of entries.
const HEADER_WORDS: usize = 8;

/// The most bytes of log records a slot's copy holds: a batch larger than this is synced as
/// before, the log then the mark, each with its flush.
pub(super) const COPY_BYTES_MAX: usize = SLOT_BYTES - RECORD_HEADER_BYTES - 8 * HEADER_WORDS;

/// Bytes per slot in files written before the copy (`sequence | index | committed`).
const V2_SLOT_BYTES: usize = 64;

/// Bytes per slot in files written before the committed entry was recorded.
const LEGACY_SLOT_BYTES: usize = 32;

/// The mark and the file it lives in.
pub(super) struct SyncedMark<D: Disk> {
    file: D::File,
    sequence: u64,
    index: u64,
    /// The last entry known committed when the mark was set, if the mark covers it.
    committed: Option<LogId<u64>>,
    /// How often the mark was lowered: a sync that began before a cut must not raise the mark
    /// to what it covered, which the cut may have dropped.
    cuts: u64,
    /// Whether the file is not in the current layout (empty, or written by an older build).
    relayout: bool,
    /// The copy the mark was read with at open, until the log takes it ([`SyncedMark::take_copy`]).
    copy: Option<Copy>,
}

/// The entries of the batch a mark was raised for, as the log holds them: `(index, payload)`,
/// consecutive, the last at the mark's index.
pub(super) type Copy = Vec<(u64, Bytes)>;

impl<D: Disk> SyncedMark<D> {
    /// Opens the mark on `disk` (0 when there is none yet).
    ///
    /// # Errors
    /// The file cannot be opened or read.
    pub(super) fn open(disk: &D) -> io::Result<SyncedMark<D>> {
        let bytes = match disk.read(SYNCED_MARK_FILE) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(error),
        };
        let slot_bytes = match bytes.len() {
            n if n <= 2 * LEGACY_SLOT_BYTES => LEGACY_SLOT_BYTES,
            n if n <= 2 * V2_SLOT_BYTES => V2_SLOT_BYTES,
            _ => SLOT_BYTES,
        };
        let slot = bytes
            .chunks(slot_bytes)
            .take(2)
            .filter_map(decode_slot)
            .max_by_key(|slot| slot.sequence)
            .unwrap_or(Slot { sequence: 0, index: 0, committed: None, copy: None });
        Ok(SyncedMark {
            file: disk.open_in_place(SYNCED_MARK_FILE)?,
            sequence: slot.sequence,
            index: slot.index,
            committed: slot.committed.filter(|c| c.index <= slot.index),
            cuts: 0,
            relayout: bytes.len() != 2 * SLOT_BYTES,
            copy: slot.copy.filter(|copy| copy.last().is_some_and(|&(last, _)| last == slot.index)),
        })
    }

    /// Writes the mark in the current layout, durably, before anything else writes it, when the
    /// file is empty or in an older one. It goes to the second slot, padded to its whole size:
    /// the file then reads in the current layout, where the old slots are the first slot's
    /// bytes, older or unreadable, and the next write replaces them. Without this, a write to
    /// the first slot would leave a file unreadable in either layout.
    ///
    /// # Errors
    /// As [`SyncedMark::set`].
    pub(super) async fn upgrade_layout(&mut self) -> io::Result<()> {
        if !std::mem::take(&mut self.relayout) {
            return Ok(());
        }
        // The next sequence odd, for the second slot.
        self.sequence += self.sequence % 2;
        self.put(self.index, self.committed, &[], true)?;
        self.file.sync().await
    }

    /// The last entry known committed when the mark was set (see the module comment).
    pub(super) fn committed(&self) -> Option<LogId<u64>> {
        self.committed
    }

    /// The last index reported durable.
    pub(super) fn index(&self) -> u64 {
        self.index
    }

    /// The copy of the last batch the mark was read with, if it ends at the mark: the entries a
    /// log that ends before the mark lost, if it ends no earlier than the copy begins.
    pub(super) fn take_copy(&mut self) -> Option<Copy> {
        self.copy.take()
    }

    /// The count of cuts, for [`SyncedMark::raise`].
    pub(super) fn cuts(&self) -> u64 {
        self.cuts
    }

    /// Raises the mark to `index` after a sync that covered it, unless the log was cut since the
    /// sync began (`cuts_then` differs) or the mark is higher already; with it, `committed`, the
    /// last entry known committed, when the mark covers it.
    ///
    /// # Errors
    /// As [`SyncedMark::set`].
    pub(super) async fn raise(
        &mut self,
        index: u64,
        cuts_then: u64,
        committed: Option<LogId<u64>>,
    ) -> io::Result<()> {
        if cuts_then != self.cuts || index <= self.index {
            return Ok(());
        }
        let committed = committed.filter(|c| c.index <= index).max(self.committed);
        self.put(index, committed, &[], false)?;
        self.file.sync().await
    }

    /// Raises the mark to the last entry of `copy`, the batch about to be synced, which the
    /// mark's slot holds whole: one flush then makes both durable, the log's. Written before the
    /// log's sync, under the log's lock (so no cut comes between), and handed to the device by
    /// the returned future, which must end before the log's sync begins: that sync's cache
    /// flush is the mark's. A crash before it ends may keep the mark without the batch; the
    /// copy then restores the batch at open. `copy` must start right after the mark, hold
    /// consecutive entries and at most [`COPY_BYTES_MAX`] bytes of records.
    ///
    /// # Errors
    /// The write failed: the batch must not be reported durable.
    pub(super) fn raise_copying(
        &mut self,
        copy: &[(u64, Bytes)],
        committed: Option<LogId<u64>>,
    ) -> io::Result<impl Future<Output = io::Result<()>> + Send + 'static + use<D>> {
        let index = copy.last().map_or(self.index, |&(last, _)| last);
        debug_assert!(copy.first().is_some_and(|&(first, _)| first == self.index + 1));
        let committed = committed.filter(|c| c.index <= index).max(self.committed);
        self.put(index, committed, copy, false)?;
        Ok(self.file.write_back())
    }

    /// Lowers the mark to `index`, durably, before the log is cut back to it.
    ///
    /// # Errors
    /// As [`SyncedMark::set`]; the log must not be cut then.
    pub(super) async fn lower(&mut self, index: u64) -> io::Result<()> {
        self.cuts += 1;
        if index >= self.index {
            return Ok(());
        }
        self.set(index).await
    }

    /// Sets the mark to `index`, durably, keeping the committed entry if the mark still covers
    /// it.
    ///
    /// # Errors
    /// The write or its sync failed: what the mark covers must not be reported durable.
    pub(super) async fn set(&mut self, index: u64) -> io::Result<()> {
        if index == self.index {
            return Ok(());
        }
        self.put(index, self.committed.filter(|c| c.index <= index), &[], false)?;
        self.file.sync().await
    }

    /// Writes the next slot (not yet durable) and takes its values; `pad` fills the rest of the
    /// slot with zeros.
    fn put(
        &mut self,
        index: u64,
        committed: Option<LogId<u64>>,
        copy: &[(u64, Bytes)],
        pad: bool,
    ) -> io::Result<()> {
        let sequence = self.sequence + 1;
        let copy_bytes: usize = copy.iter().map(|(_, payload)| RECORD_HEADER_BYTES + 8 + payload.len()).sum();
        let mut slot = Vec::with_capacity(if pad { SLOT_BYTES } else { 72 + copy_bytes + 8 * HEADER_WORDS });
        let start = record::start_record(&mut slot);
        let (term, node_id, committed_index) =
            committed.map_or((0, 0, 0), |c| (c.leader_id.term, c.leader_id.node_id, c.index));
        let header = [
            sequence,
            index,
            u64::from(committed.is_some()),
            term,
            node_id,
            committed_index,
            copy.first().map_or(0, |&(first, _)| first),
            copy.len() as u64,
        ];
        for word in header {
            slot.extend_from_slice(&word.to_le_bytes());
        }
        for (entry, payload) in copy {
            let at = record::start_record(&mut slot);
            slot.extend_from_slice(&entry.to_le_bytes());
            slot.extend_from_slice(payload);
            record::finish_record(&mut slot, at);
        }
        record::finish_record(&mut slot, start);
        if slot.len() > SLOT_BYTES {
            return Err(io::Error::other(format!(
                "a synced mark of {} bytes overflows its slot",
                slot.len()
            )));
        }
        if pad {
            slot.resize(SLOT_BYTES, 0);
        }
        self.file.write_at((sequence % 2) * SLOT_BYTES as u64, &slot)?;
        (self.sequence, self.index, self.committed) = (sequence, index, committed);
        Ok(())
    }
}

/// What one slot holds.
struct Slot {
    sequence: u64,
    index: u64,
    committed: Option<LogId<u64>>,
    copy: Option<Copy>,
}

/// A slot's contents, if it starts with an intact record; what follows that record (zeros, or
/// the rest of a longer record written there before) is not read.
fn decode_slot(slot: &[u8]) -> Option<Slot> {
    let mut decoder = RecordDecoder::new(0);
    decoder.feed(slot);
    let one = decoder.next_record().ok()??;
    let word =
        |at: usize| one.payload.get(8 * at..8 * at + 8).map(|w| u64::from_le_bytes(w.try_into().expect("8")));
    let committed = |term, node_id, index| Some(LogId::new(CommittedLeaderId::new(term, node_id), index));
    match one.payload.len() {
        // Older layouts: `sequence | index`, then `| term | leader | committed`.
        16 => Some(Slot { sequence: word(0)?, index: word(1)?, committed: None, copy: None }),
        40 => Some(Slot {
            sequence: word(0)?,
            index: word(1)?,
            committed: committed(word(2)?, word(3)?, word(4)?),
            copy: None,
        }),
        n if n >= 8 * HEADER_WORDS => {
            let (first, count) = (word(6)?, word(7)?);
            let copy = decode_copy(one.payload.slice(8 * HEADER_WORDS..), first, count)?;
            Some(Slot {
                sequence: word(0)?,
                index: word(1)?,
                committed: if word(2)? == 1 { committed(word(3)?, word(4)?, word(5)?) } else { None },
                copy: (count > 0).then_some(copy),
            })
        }
        _ => None,
    }
}

/// The copy's entries, if `bytes` is exactly `count` log records of consecutive entries from
/// `first`.
fn decode_copy(bytes: Bytes, first: u64, count: u64) -> Option<Copy> {
    let (records, tail) = record::decode_all(&bytes, 0).ok()?;
    if tail != (Tail::Clean { end_offset: bytes.len() as u64 }) || records.len() as u64 != count {
        return None;
    }
    records
        .into_iter()
        .zip(first..)
        .map(|(record, expected)| {
            let index = u64::from_le_bytes(record.payload.get(..8)?.try_into().expect("8 bytes"));
            (index == expected).then(|| (index, record.payload.slice(8..)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::file_disk::FileDisk;

    /// The mark survives a reopen; a slot damaged by a torn write leaves the previous mark, lower.
    #[tokio::test]
    async fn the_mark_survives_and_a_damaged_slot_falls_back_to_the_previous_one() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let disk = FileDisk::new(dir.path()).expect("a disk");
        let mut mark = SyncedMark::open(&disk).expect("opens");
        assert_eq!(mark.index(), 0);
        mark.upgrade_layout().await.expect("laid out");
        for index in [5, 9, 14] {
            mark.set(index).await.expect("set");
        }
        drop(mark);
        assert_eq!(SyncedMark::open(&disk).expect("reopens").index(), 14);
        // Sequence 4 (index 14; the layout's own write was 1) went to slot 0; damage it.
        let path = dir.path().join(SYNCED_MARK_FILE);
        let mut bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len(), 2 * SLOT_BYTES);
        bytes[12] ^= 0x04;
        std::fs::write(&path, &bytes).expect("write");
        let mut mark = SyncedMark::open(&disk).expect("reopens");
        assert_eq!(mark.index(), 9, "the previous mark, from the other slot");
        mark.lower(3).await.expect("lowered");
        let cuts = mark.cuts();
        mark.raise(2, cuts, None).await.expect("not lower than it is");
        mark.lower(1).await.expect("lowered");
        mark.raise(8, cuts, None).await.expect("a sync from before the cut raises nothing");
        assert_eq!(mark.index(), 1);
        assert_eq!(SyncedMark::open(&disk).expect("reopens").index(), 1, "lowered marks stick too");
    }

    fn log_id(term: u64, index: u64) -> Option<LogId<u64>> {
        Some(LogId::new(CommittedLeaderId::new(term, 1), index))
    }

    /// A raise records the committed entry it covers, a reopen reads it back, and lowering the
    /// mark below it drops it.
    #[tokio::test]
    async fn the_mark_records_the_committed_entry_it_covers() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let disk = FileDisk::new(dir.path()).expect("a disk");
        let mut mark = SyncedMark::open(&disk).expect("opens");
        mark.raise(10, 0, log_id(2, 12)).await.expect("raised");
        assert_eq!(mark.committed(), None, "an entry past the mark is not recorded");
        mark.raise(20, 0, log_id(2, 12)).await.expect("raised");
        mark.raise(30, 0, log_id(2, 9)).await.expect("raised");
        assert_eq!(mark.committed(), log_id(2, 12), "never lower than recorded");
        drop(mark);
        let mut mark = SyncedMark::open(&disk).expect("reopens");
        assert_eq!((mark.index(), mark.committed()), (30, log_id(2, 12)));
        mark.lower(11).await.expect("lowered");
        assert_eq!(SyncedMark::open(&disk).expect("reopens").committed(), None);
    }

    /// Writes a mark file of `slots`, each a record of u64 LE words padded to `slot_bytes`, as an
    /// older build laid it out; returns its path.
    fn write_old_layout(dir: &std::path::Path, slot_bytes: usize, slots: &[&[u64]]) -> std::path::PathBuf {
        let mut bytes = Vec::new();
        for words in slots {
            let payload: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            let mut slot = Vec::new();
            record::encode_record(&payload, &mut slot);
            slot.resize(slot_bytes, 0);
            bytes.extend_from_slice(&slot);
        }
        let path = dir.join(SYNCED_MARK_FILE);
        std::fs::write(&path, &bytes).expect("write");
        path
    }

    /// A file written by a build before the committed entry (two 32-byte slots) still gives its
    /// mark, rewritten in the new layout, and later raises to either slot read back.
    #[tokio::test]
    async fn a_mark_in_the_old_layout_is_read() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let disk = FileDisk::new(dir.path()).expect("a disk");
        let path = write_old_layout(dir.path(), LEGACY_SLOT_BYTES, &[&[5, 70], &[4, 60]]);
        let mut mark = SyncedMark::open(&disk).expect("opens");
        assert_eq!((mark.index(), mark.committed()), (70, None));
        mark.upgrade_layout().await.expect("upgraded");
        assert_eq!(std::fs::metadata(&path).expect("the file").len(), 2 * SLOT_BYTES as u64);
        let mut mark = SyncedMark::open(&disk).expect("reopens");
        assert_eq!(mark.index(), 70, "the mark, in the new layout");
        // Both slots written in the new layout in turn, each read back.
        for (index, committed) in [(80, log_id(1, 75)), (90, log_id(1, 85))] {
            mark.raise(index, 0, committed).await.expect("raised");
            let reopened = SyncedMark::open(&disk).expect("reopens");
            assert_eq!((reopened.index(), reopened.committed()), (index, committed));
        }
    }

    /// A file in the layout before the copy (two 64-byte slots, a committed entry in one) gives
    /// its mark, rewritten in the current layout.
    #[tokio::test]
    async fn a_mark_in_the_layout_before_the_copy_is_read() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let disk = FileDisk::new(dir.path()).expect("a disk");
        let path = write_old_layout(dir.path(), V2_SLOT_BYTES, &[&[6, 90, 1, 1, 85], &[5, 80]]);
        let mut mark = SyncedMark::open(&disk).expect("opens");
        assert_eq!((mark.index(), mark.committed()), (90, log_id(1, 85)));
        mark.upgrade_layout().await.expect("upgraded");
        assert_eq!(std::fs::metadata(&path).expect("the file").len(), 2 * SLOT_BYTES as u64);
        let reopened = SyncedMark::open(&disk).expect("reopens");
        assert_eq!((reopened.index(), reopened.committed()), (90, log_id(1, 85)));
    }

    fn entries(range: std::ops::RangeInclusive<u64>, bytes: usize) -> Copy {
        range.map(|index| (index, Bytes::from(vec![index as u8; bytes]))).collect()
    }

    /// A raise with a copy is read back with it, and the copy goes when the mark is raised or
    /// lowered without one. A slot rewritten with a shorter record still reads: the longer
    /// record's rest, log records among it, follows the new one and is not read.
    #[tokio::test]
    async fn a_mark_raised_with_its_batch_holds_the_batch() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let disk = FileDisk::new(dir.path()).expect("a disk");
        let mut mark = SyncedMark::open(&disk).expect("opens");
        mark.upgrade_layout().await.expect("laid out");
        let big = entries(1..=40, 1000);
        mark.raise_copying(&big, log_id(1, 3)).expect("written").await.expect("written back");
        let mut reopened = SyncedMark::open(&disk).expect("reopens");
        assert_eq!((reopened.index(), reopened.committed()), (40, log_id(1, 3)));
        assert_eq!(reopened.take_copy(), Some(big));
        let small = entries(41..=42, 10);
        mark.raise_copying(&small, None).expect("written").await.expect("written back");
        // The same slot as the big copy, whose later records are still there after this one.
        let small_again = entries(43..=43, 10);
        mark.raise_copying(&small_again, None).expect("written").await.expect("written back");
        let mut reopened = SyncedMark::open(&disk).expect("reopens");
        assert_eq!(reopened.index(), 43);
        assert_eq!(reopened.take_copy(), Some(small_again));
        mark.raise(50, mark.cuts(), None).await.expect("raised");
        assert_eq!(SyncedMark::open(&disk).expect("reopens").take_copy(), None, "a raise without a copy");
        let too_big = entries(51..=51, COPY_BYTES_MAX);
        assert!(mark.raise_copying(&too_big, None).is_err(), "a copy over the slot is refused");
    }
}
