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
//! The file holds two slots of [`SLOT_BYTES`], written in turn in place, each one record (core's
//! `record.rs`) of `sequence (u64 LE) | index (u64 LE)`; the valid slot with the higher sequence
//! holds the mark. A write torn by a crash damages one slot, and the other still holds the
//! previous mark, which is lower: never a false alarm. Its fault model is a lost write, not a
//! device that ignores every flush (that would lose the mark with the log).

use std::io;

use redraft_core::record;

use super::disk::{Disk, LogFile};

/// The mark's file in the data directory.
pub const SYNCED_MARK_FILE: &str = "synced-through";

/// Bytes per slot: a record of 16 bytes of payload is 24; the rest is zero.
const SLOT_BYTES: usize = 32;

/// The mark and the file it lives in.
pub(super) struct SyncedMark<D: Disk> {
    file: D::File,
    sequence: u64,
    index: u64,
    /// How often the mark was lowered: a sync that began before a cut must not raise the mark
    /// to what it covered, which the cut may have dropped.
    cuts: u64,
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
        let (sequence, index) = bytes
            .chunks(SLOT_BYTES)
            .take(2)
            .filter_map(decode_slot)
            .max_by_key(|(sequence, _)| *sequence)
            .unwrap_or((0, 0));
        Ok(SyncedMark { file: disk.open_in_place(SYNCED_MARK_FILE)?, sequence, index, cuts: 0 })
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
    /// sync began (`cuts_then` differs) or the mark is higher already.
    ///
    /// # Errors
    /// As [`SyncedMark::set`].
    pub(super) async fn raise(&mut self, index: u64, cuts_then: u64) -> io::Result<()> {
        if cuts_then != self.cuts || index <= self.index {
            return Ok(());
        }
        self.set(index).await
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

    /// Sets the mark to `index`, durably.
    ///
    /// # Errors
    /// The write or its sync failed: what the mark covers must not be reported durable.
    pub(super) async fn set(&mut self, index: u64) -> io::Result<()> {
        if index == self.index {
            return Ok(());
        }
        let sequence = self.sequence + 1;
        let mut payload = sequence.to_le_bytes().to_vec();
        payload.extend_from_slice(&index.to_le_bytes());
        let mut slot = Vec::with_capacity(SLOT_BYTES);
        record::encode_record(&payload, &mut slot);
        slot.resize(SLOT_BYTES, 0);
        self.file.write_at((sequence % 2) * SLOT_BYTES as u64, &slot)?;
        self.file.sync().await?;
        (self.sequence, self.index) = (sequence, index);
        Ok(())
    }
}

/// A slot's sequence and index, if it holds an intact record.
fn decode_slot(slot: &[u8]) -> Option<(u64, u64)> {
    // The zeros after the record read as a torn tail; only the record matters.
    let (records, _) = record::decode_all(slot, 0).ok()?;
    let [one] = records.as_slice() else { return None };
    if one.payload.len() != 16 {
        return None;
    }
    let (sequence, index) = one.payload.split_at(8);
    Some((u64::from_le_bytes(sequence.try_into().ok()?), u64::from_le_bytes(index.try_into().ok()?)))
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
        mark.raise(2, cuts).await.expect("not lower than it is");
        mark.lower(1).await.expect("lowered");
        mark.raise(8, cuts).await.expect("a sync from before the cut raises nothing");
        assert_eq!(mark.index(), 1);
        assert_eq!(SyncedMark::open(&disk).expect("reopens").index(), 1, "lowered marks stick too");
    }
}
