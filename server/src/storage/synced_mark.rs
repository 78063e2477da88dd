//! The synced mark: the last log index this node has reported durable, kept apart from the log
//! in the file `synced-through`, so that a restart can tell a log whose synced tail went missing
//! (a write the disk acknowledged and then lost) from one that simply ends there. A node that
//! acknowledged entries and lost them must not vote as if it never had them: with its vote a
//! candidate that lacks them could lead and overwrite them. The log store compares the mark
//! with the log's end when it opens (`log_store.rs`) and treats a shortfall as damage.
//!
//! The mark is written only under the `always` policy, after each sync of the log and before its
//! appends are reported durable; the other policies acknowledge unsynced appends by design. It
//! is lowered, durably, before the log is cut back (Raft's conflict truncation, a repair), so it
//! never claims entries the log legitimately dropped.
//!
//! Each raise also records the last entry known committed that the mark covers (openraft's
//! optional `save_committed`; one batch behind, since an entry commits after its sync), at no
//! extra write or sync. A restart re-applies the log up to it before it has a leader, reading
//! each entry once; without it openraft reads the whole log after the snapshot twice, once to
//! look for membership changes and again to apply it (a fifth of a restart with 1M keys).
//! Entries up to the mark are synced, and so is any cut of the log before them, so the entries
//! up to the recorded one are the committed ones whatever a crash loses later.
//!
//! The file holds two slots of [`SLOT_BYTES`], written in turn in place, each one record (core's
//! `record.rs`) of `sequence (u64 LE) | index (u64 LE) | committed`, where `committed` is the
//! committed entry's term, leader and index (u64 LE each) or nothing; the valid slot with the
//! higher sequence holds the mark. A write torn by a crash damages one slot, and the other still
//! holds the previous mark, which is lower: never a false alarm. Its fault model is a lost write,
//! not a device that ignores every flush (that would lose the mark with the log).
//!
//! Builds before the committed entry wrote 32-byte slots of `sequence | index`; a file of at most
//! two such slots is read in that layout, and rewritten in the new one as the log opens
//! ([`SyncedMark::upgrade_layout`]).

use std::io;

use openraft::{CommittedLeaderId, LogId};
use redraft_core::record;

use super::disk::{Disk, LogFile};

/// The mark's file in the data directory.
pub const SYNCED_MARK_FILE: &str = "synced-through";

/// Bytes per slot: a record of 40 bytes of payload is 48; the rest is zero.
const SLOT_BYTES: usize = 64;

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
    /// Whether the mark was read from a file in the old layout.
    legacy: bool,
}

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
        let legacy = !bytes.is_empty() && bytes.len() <= 2 * LEGACY_SLOT_BYTES;
        let slot_bytes = if legacy { LEGACY_SLOT_BYTES } else { SLOT_BYTES };
        let slot = bytes
            .chunks(slot_bytes)
            .take(2)
            .filter_map(decode_slot)
            .max_by_key(|slot| slot.sequence)
            .unwrap_or(Slot { sequence: 0, index: 0, committed: None });
        Ok(SyncedMark {
            file: disk.open_in_place(SYNCED_MARK_FILE)?,
            sequence: slot.sequence,
            index: slot.index,
            committed: slot.committed.filter(|c| c.index <= slot.index),
            cuts: 0,
            legacy,
        })
    }

    /// Rewrites a mark read in the old layout in the new one, durably, before anything else
    /// writes it. It goes to the second slot: the file then reads in the new layout, where the
    /// old slots are the first slot's bytes, older or unreadable, and the next write replaces
    /// them. Without this, a write to the first slot would leave a file unreadable in either
    /// layout.
    ///
    /// # Errors
    /// As [`SyncedMark::set`].
    pub(super) async fn upgrade_layout(&mut self) -> io::Result<()> {
        if !std::mem::take(&mut self.legacy) {
            return Ok(());
        }
        // The next sequence odd, for the second slot.
        self.sequence += self.sequence % 2;
        self.write(self.index, self.committed).await
    }

    /// The last entry known committed when the mark was set (see the module comment).
    pub(super) fn committed(&self) -> Option<LogId<u64>> {
        self.committed
    }

    /// The last index reported durable.
    pub(super) fn index(&self) -> u64 {
        self.index
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
        self.write(index, committed).await
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
        self.write(index, self.committed.filter(|c| c.index <= index)).await
    }

    async fn write(&mut self, index: u64, committed: Option<LogId<u64>>) -> io::Result<()> {
        let sequence = self.sequence + 1;
        let mut payload = Vec::with_capacity(40);
        for word in [sequence, index] {
            payload.extend_from_slice(&word.to_le_bytes());
        }
        if let Some(c) = committed {
            for word in [c.leader_id.term, c.leader_id.node_id, c.index] {
                payload.extend_from_slice(&word.to_le_bytes());
            }
        }
        let mut slot = Vec::with_capacity(SLOT_BYTES);
        record::encode_record(&payload, &mut slot);
        slot.resize(SLOT_BYTES, 0);
        self.file.write_at((sequence % 2) * SLOT_BYTES as u64, &slot)?;
        self.file.sync().await?;
        (self.sequence, self.index, self.committed) = (sequence, index, committed);
        Ok(())
    }
}

/// What one slot holds.
struct Slot {
    sequence: u64,
    index: u64,
    committed: Option<LogId<u64>>,
}

/// A slot's contents, if it holds an intact record.
fn decode_slot(slot: &[u8]) -> Option<Slot> {
    // The zeros after the record read as a torn tail; only the record matters.
    let (records, _) = record::decode_all(slot, 0).ok()?;
    let [one] = records.as_slice() else { return None };
    let words: Vec<u64> =
        one.payload.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes"))).collect();
    match (one.payload.len(), words.as_slice()) {
        (16, &[sequence, index]) => Some(Slot { sequence, index, committed: None }),
        (40, &[sequence, index, term, node_id, committed]) => Some(Slot {
            sequence,
            index,
            committed: Some(LogId::new(CommittedLeaderId::new(term, node_id), committed)),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::disk::FileDisk;

    /// The mark survives a reopen; a slot damaged by a torn write leaves the previous mark, lower.
    #[tokio::test]
    async fn the_mark_survives_and_a_damaged_slot_falls_back_to_the_previous_one() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let disk = FileDisk::new(dir.path()).expect("a disk");
        let mut mark = SyncedMark::open(&disk).expect("opens");
        assert_eq!(mark.index(), 0);
        for index in [5, 9, 14] {
            mark.set(index).await.expect("set");
        }
        drop(mark);
        assert_eq!(SyncedMark::open(&disk).expect("reopens").index(), 14);
        // Sequence 3 (index 14) went to slot 1; damage it.
        let path = dir.path().join(SYNCED_MARK_FILE);
        let mut bytes = std::fs::read(&path).expect("read");
        assert_eq!(bytes.len(), 2 * SLOT_BYTES);
        bytes[SLOT_BYTES + 12] ^= 0x04;
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

    /// A file written by a build before the committed entry (two 32-byte slots) still gives its
    /// mark, rewritten in the new layout, and later raises to either slot read back.
    #[tokio::test]
    async fn a_mark_in_the_old_layout_is_read() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let disk = FileDisk::new(dir.path()).expect("a disk");
        let mut bytes = Vec::new();
        for (sequence, index) in [(5u64, 70u64), (4, 60)] {
            let mut payload = sequence.to_le_bytes().to_vec();
            payload.extend_from_slice(&index.to_le_bytes());
            let mut slot = Vec::new();
            record::encode_record(&payload, &mut slot);
            slot.resize(LEGACY_SLOT_BYTES, 0);
            bytes.extend_from_slice(&slot);
        }
        let path = dir.path().join(SYNCED_MARK_FILE);
        std::fs::write(&path, &bytes).expect("write");
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
}
